//! Command-line locations: `remote:path` on the drive, or a local path.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// Where a command argument points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local file or folder.
    Local(PathBuf),
    /// A path on a configured remote.
    Remote(RemotePath),
}

/// `remote:path`, with the path split into its (local-form) components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemotePath {
    /// The remote's section name.
    pub remote: String,
    /// The components of the path, without empty ones.
    pub parts: Vec<String>,
}

impl RemotePath {
    /// The path as the user wrote it, without the remote (`a/b/c`, or "" for the root).
    pub fn path(&self) -> String {
        self.parts.join("/")
    }

    /// The parent path and the last component; `None` for the root.
    pub fn split_last(&self) -> Option<(RemotePath, &str)> {
        let (last, rest) = self.parts.split_last()?;
        Some((
            RemotePath {
                remote: self.remote.clone(),
                parts: rest.to_vec(),
            },
            last.as_str(),
        ))
    }

    /// This path with one more component.
    pub fn child(&self, name: &str) -> RemotePath {
        let mut parts = self.parts.clone();
        parts.push(name.to_string());
        RemotePath {
            remote: self.remote.clone(),
            parts,
        }
    }

    /// True for the remote's root.
    pub fn is_root(&self) -> bool {
        self.parts.is_empty()
    }
}

impl std::fmt::Display for RemotePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.remote, self.path())
    }
}

/// Parse a command argument. `name:rest` is a remote when `name` is a valid remote name
/// (letters, digits, `_-.+@ `) and does not start with `/` or `.`; anything else is local.
pub fn parse(arg: &str) -> Result<Location> {
    if let Some((name, rest)) = arg.split_once(':') {
        let valid = !name.is_empty()
            && !name.starts_with(['/', '.'])
            && !name.contains('/')
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || "_-.+@ ".contains(c));
        if valid {
            let parts = rest
                .split('/')
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>();
            if parts.iter().any(|p| p == "." || p == "..") {
                return Err(Error::Usage(format!(
                    "{arg}: `.` and `..` are not allowed in remote paths; write the full path from the remote's root"
                )));
            }
            return Ok(Location::Remote(RemotePath {
                remote: name.to_string(),
                parts,
            }));
        }
    }
    if arg.is_empty() {
        return Err(Error::Usage(
            "an empty path; give a local path or remote:path".into(),
        ));
    }
    Ok(Location::Local(PathBuf::from(arg)))
}

/// Parse an argument that must be on a remote.
pub fn parse_remote(arg: &str) -> Result<RemotePath> {
    match parse(arg)? {
        Location::Remote(r) => Ok(r),
        Location::Local(_) => Err(Error::Usage(format!(
            "{arg:?} is not a remote path; write it as remote:path (see `acd config show`)"
        ))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn remotes_and_local_paths_are_told_apart() {
        assert_eq!(
            parse("acd:dir/sub/").unwrap(),
            Location::Remote(RemotePath {
                remote: "acd".into(),
                parts: vec!["dir".into(), "sub".into()]
            })
        );
        assert_eq!(
            parse("acd:").unwrap(),
            Location::Remote(RemotePath {
                remote: "acd".into(),
                parts: vec![]
            })
        );
        assert_eq!(
            parse("/tmp/x:y").unwrap(),
            Location::Local("/tmp/x:y".into())
        );
        assert_eq!(parse("./a:b").unwrap(), Location::Local("./a:b".into()));
        assert_eq!(
            parse("file.txt").unwrap(),
            Location::Local("file.txt".into())
        );
        assert!(parse("acd:a/../b").is_err());
    }
}
