//! The node model (reference §4) and its JSON form.

use serde::Serialize;

use crate::util::format_ms;

/// `kind` of a node.
pub const FILE: &str = "FILE";
/// `kind` of a folder.
pub const FOLDER: &str = "FOLDER";
/// `status` of a live node.
pub const AVAILABLE: &str = "AVAILABLE";
/// `status` of a trashed node.
pub const TRASH: &str = "TRASH";
/// `status` of a node still being processed (phantom uploads).
pub const PENDING: &str = "PENDING";

/// A node as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Insertion order; listings are sorted by it and paged on it.
    pub seq: i64,
    /// The 22-character id.
    pub id: String,
    /// Owning account.
    pub account: i64,
    /// FILE, FOLDER or ASSET.
    pub kind: String,
    /// Name as given (case preserved); `None` only on the root.
    pub name: Option<String>,
    /// AVAILABLE, TRASH or PENDING.
    pub status: String,
    /// Whether this is the account's root folder.
    pub is_root: bool,
    /// Bumped by every metadata or content change.
    pub version: i64,
    /// Creation time, epoch milliseconds.
    pub created: i64,
    /// Last modification time, epoch milliseconds.
    pub modified: i64,
    /// The app that created the node.
    pub created_by: String,
    /// Optional description.
    pub description: Option<String>,
    /// Labels.
    pub labels: Vec<String>,
    /// Opaque tag, renewed on every change.
    pub etag: String,
    /// Content of a FILE.
    pub content: Option<Content>,
    /// Parent ids, in the order they were added.
    pub parents: Vec<String>,
    /// When trashed as part of a folder's subtree: that folder's id.
    pub trashed_with: Option<String>,
    /// Position in the account's changes feed.
    pub change_seq: i64,
}

/// A file's content properties and where its bytes live.
#[derive(Debug, Clone, PartialEq)]
pub struct Content {
    /// Size in bytes.
    pub size: u64,
    /// Lowercase hex MD5.
    pub md5: String,
    /// MIME type.
    pub content_type: String,
    /// Extension without the dot.
    pub extension: Option<String>,
    /// Content version: 1 after the first upload, bumped by overwrites.
    pub version: i64,
    /// When the content was last written, epoch milliseconds.
    pub date: i64,
    /// Blob reference (see [`crate::store::blobs::BlobRef`]).
    pub blob: String,
}

/// The JSON form of `contentProperties`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    extension: Option<&'a str>,
    size: u64,
    content_type: &'a str,
    version: i64,
    md5: &'a str,
    content_date: String,
}

/// The JSON form of a node, with the field order the service used.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeJson<'a> {
    e_tag_response: &'a str,
    id: &'a str,
    kind: &'a str,
    version: i64,
    labels: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    content_properties: Option<ContentJson<'a>>,
    created_date: String,
    created_by: &'a str,
    restricted: bool,
    modified_date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    is_shared: bool,
    parents: &'a [String],
    status: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    is_root: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temp_link: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    assets: Option<Vec<serde_json::Value>>,
}

impl Node {
    /// Is this a FILE?
    pub fn is_file(&self) -> bool {
        self.kind == FILE
    }

    /// Is this a FOLDER?
    pub fn is_folder(&self) -> bool {
        self.kind == FOLDER
    }

    /// Is this node in the trash?
    pub fn is_trashed(&self) -> bool {
        self.status == TRASH
    }

    /// The node's JSON, optionally with a `tempLink` and an empty `assets` list.
    pub fn to_json(&self, temp_link: Option<String>, with_assets: bool) -> NodeJson<'_> {
        NodeJson {
            e_tag_response: &self.etag,
            id: &self.id,
            kind: &self.kind,
            version: self.version,
            labels: &self.labels,
            // A PENDING file (a phantom upload not yet processed) has no contentProperties
            // yet: rclone reads a missing size as "likely PENDING" (reference §4, inferred).
            content_properties: self
                .content
                .as_ref()
                .filter(|_| self.status != PENDING)
                .map(|c| ContentJson {
                    extension: c.extension.as_deref(),
                    size: c.size,
                    content_type: &c.content_type,
                    version: c.version,
                    md5: &c.md5,
                    content_date: format_ms(c.date),
                }),
            created_date: format_ms(self.created),
            created_by: &self.created_by,
            restricted: false,
            modified_date: format_ms(self.modified),
            name: self.name.as_deref(),
            is_shared: false,
            parents: &self.parents,
            status: &self.status,
            is_root: self.is_root,
            description: self.description.as_deref(),
            temp_link,
            assets: (with_assets && self.is_file()).then(Vec::new),
        }
    }

    /// The node's JSON value without extras.
    pub fn json(&self) -> serde_json::Value {
        serde_json::to_value(self.to_json(None, false)).unwrap_or_default()
    }
}

/// Why a name cannot be used.
pub fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("name must not be empty")
    } else if name.contains('/') {
        Some("name must not contain '/'")
    } else if name.contains('\0') {
        Some("name must not contain NUL")
    } else if name == "." || name == ".." {
        Some("name must not be '.' or '..'")
    } else if name.len() > 1024 {
        Some("name is longer than 1024 bytes")
    } else {
        None
    }
}

/// The extension of a file name, without the dot (`None` when it has none).
pub fn extension_of(name: &str) -> Option<String> {
    let (stem, ext) = name.rsplit_once('.')?;
    (!stem.is_empty() && !ext.is_empty()).then(|| ext.to_string())
}

/// The MIME type of a file name, from its extension.
pub fn content_type_of(name: &str) -> String {
    mime_guess::from_path(name)
        .first_raw()
        .unwrap_or("application/octet-stream")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for bad in ["", ".", "..", "a/b", "a\0b"] {
            assert!(name_problem(bad).is_some(), "{bad:?}");
        }
        for good in ["a", "...", ".hidden", "ü ñ &+[]", "a\\b"] {
            assert!(name_problem(good).is_none(), "{good:?}");
        }
    }

    #[test]
    fn extensions_and_types() {
        assert_eq!(extension_of("movie.m2ts").as_deref(), Some("m2ts"));
        assert_eq!(extension_of(".bashrc"), None);
        assert_eq!(extension_of("noext"), None);
        assert_eq!(content_type_of("a.txt"), "text/plain");
        assert_eq!(content_type_of("a.unknownext"), "application/octet-stream");
    }
}
