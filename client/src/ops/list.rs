//! Walking trees: the remote one (folder listings in parallel) and the local one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::api::model::Node;
use crate::error::{Error, Result};
use crate::remote::Remote;

/// A remote entry found by a walk.
#[derive(Debug, Clone)]
pub struct RemoteEntry {
    /// Path relative to the walk's root, in local form (decoded names), `/`-separated.
    pub path: String,
    /// The node.
    pub node: Node,
}

/// Walk the remote tree under folder `root_id`. `max_depth` 0 means unlimited; 1 lists only the
/// folder itself. Listings run up to `checkers` at a time, through the remote's
/// [`FolderLister`](super::lister::FolderLister) (the API, or the cache with `--fast-list`).
pub async fn walk_remote(
    remote: &Remote,
    root_id: &str,
    max_depth: usize,
    checkers: usize,
) -> Result<Vec<RemoteEntry>> {
    Ok(walk_remote_local(remote, root_id, max_depth, checkers)
        .await?
        .into_iter()
        .map(|(_, entry)| entry)
        .collect())
}

/// The local form of one remote name, as a path component. `RemoteEntry::path` is for
/// display (lossy for names that are not UTF-8); this keeps the exact bytes. A name that
/// would not be a single safe component (it decodes to something with `/` or NUL, or to `.`,
/// `..` or nothing, as an unquoted `／` from another tool does) keeps its remote form.
pub fn local_component(remote: &Remote, name: &str) -> std::ffi::OsString {
    use std::os::unix::ffi::OsStringExt as _;
    let bytes = remote.config.encoding.decode(name);
    let unsafe_name = bytes.is_empty()
        || bytes == b"."
        || bytes == b".."
        || bytes.contains(&b'/')
        || bytes.contains(&0);
    if unsafe_name {
        std::ffi::OsString::from(name)
    } else {
        std::ffi::OsString::from_vec(bytes)
    }
}

/// Like [`walk_remote`], with each entry's exact local relative path (see
/// [`local_component`]), for writing files.
pub async fn walk_remote_local(
    remote: &Remote,
    root_id: &str,
    max_depth: usize,
    checkers: usize,
) -> Result<Vec<(PathBuf, RemoteEntry)>> {
    use futures_util::stream::{FuturesUnordered, StreamExt as _};
    let mut out = Vec::new();
    let mut pending = vec![(root_id.to_string(), String::new(), PathBuf::new(), 1usize)];
    let mut running = FuturesUnordered::new();
    loop {
        while running.len() < checkers.max(1) {
            let Some((id, prefix, local, depth)) = pending.pop() else {
                break;
            };
            let lister = remote.lister.clone();
            running.push(async move {
                let children = lister.children(&id).await;
                (children, prefix, local, depth)
            });
        }
        let Some((children, prefix, local, depth)) = running.next().await else {
            break;
        };
        for node in children? {
            let name = remote.dirs.decode(node.name());
            let path = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let local_path = local.join(local_component(remote, node.name()));
            if node.is_folder() && (max_depth == 0 || depth < max_depth) {
                pending.push((node.id.clone(), path.clone(), local_path.clone(), depth + 1));
            }
            if node.is_folder() || node.is_file() {
                out.push((local_path, RemoteEntry { path, node }));
            }
        }
    }
    out.sort_by(|a, b| a.1.path.cmp(&b.1.path).then_with(|| a.0.cmp(&b.0)));
    Ok(out)
}

/// A local entry found by a walk.
#[derive(Debug, Clone)]
pub struct LocalEntry {
    /// Path relative to the walk's root, `/`-separated, as raw components.
    pub parts: Vec<std::ffi::OsString>,
    /// The full local path.
    pub full: PathBuf,
    /// Size in bytes (0 for folders).
    pub size: u64,
    /// True for folders.
    pub is_dir: bool,
}

impl LocalEntry {
    /// The relative path for display.
    pub fn display(&self) -> String {
        self.parts
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// Walk a local folder (blocking; call it from `spawn_blocking`). Symlinks are followed for
/// files and not for folders.
pub fn walk_local(root: &Path) -> Result<Vec<LocalEntry>> {
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), Vec::new())];
    while let Some((dir, parts)) = stack.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(|e| Error::io(format!("list {}", dir.display()), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(format!("list {}", dir.display()), e))?;
            let full = entry.path();
            let meta = std::fs::metadata(&full)
                .map_err(|e| Error::io(format!("stat {}", full.display()), e))?;
            let mut child = parts.clone();
            child.push(entry.file_name());
            if meta.is_dir() {
                if !entry.file_type().map(|t| t.is_symlink()).unwrap_or(false) {
                    stack.push((full.clone(), child.clone()));
                }
                out.push(LocalEntry {
                    parts: child,
                    full,
                    size: 0,
                    is_dir: true,
                });
            } else if meta.is_file() {
                out.push(LocalEntry {
                    parts: child,
                    full,
                    size: meta.len(),
                    is_dir: false,
                });
            }
        }
    }
    out.sort_by(|a, b| a.parts.cmp(&b.parts));
    Ok(out)
}

/// Entries keyed by lowercased path (the service's name rule).
pub fn by_folded_path(entries: Vec<RemoteEntry>) -> BTreeMap<String, RemoteEntry> {
    entries
        .into_iter()
        .map(|e| (e.path.to_lowercase(), e))
        .collect()
}
