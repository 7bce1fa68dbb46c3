//! The service's JSON shapes, as the client reads them. Unknown fields are ignored and
//! optional ones default, so a sparse or newer reply still parses.

use serde::{Deserialize, Serialize};

/// The answer of `account/endpoint`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Endpoints {
    /// Whether the customer has a drive.
    #[serde(default)]
    pub customer_exists: bool,
    /// Base URL of the metadata API (ends in `/`).
    #[serde(default)]
    pub metadata_url: String,
    /// Base URL of the content API (ends in `/`).
    #[serde(default)]
    pub content_url: String,
}

/// A node: a file, folder or asset.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    /// The node id.
    pub id: String,
    /// The name (absent on the root).
    #[serde(default)]
    pub name: Option<String>,
    /// `FILE`, `FOLDER` or `ASSET`.
    #[serde(default)]
    pub kind: String,
    /// `AVAILABLE`, `TRASH`, `PENDING` or `PURGED`.
    #[serde(default)]
    pub status: String,
    /// Parent folder ids.
    #[serde(default)]
    pub parents: Vec<String>,
    /// Metadata version.
    #[serde(default)]
    pub version: Option<u64>,
    /// Last modification time (RFC 3339).
    #[serde(default)]
    pub modified_date: Option<String>,
    /// Creation time (RFC 3339).
    #[serde(default)]
    pub created_date: Option<String>,
    /// True on the root folder.
    #[serde(default)]
    pub is_root: Option<bool>,
    /// File content facts.
    #[serde(default)]
    pub content_properties: Option<ContentProperties>,
    /// A time-limited download link (only when asked for).
    #[serde(default)]
    pub temp_link: Option<String>,
}

/// The content facts of a file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ContentProperties {
    /// Size in bytes.
    #[serde(default)]
    pub size: u64,
    /// Lowercase hex MD5.
    #[serde(default)]
    pub md5: Option<String>,
    /// MIME type.
    #[serde(default)]
    pub content_type: Option<String>,
    /// Content version.
    #[serde(default)]
    pub version: Option<u64>,
}

impl Node {
    /// True for folders.
    pub fn is_folder(&self) -> bool {
        self.kind == "FOLDER"
    }

    /// True for files.
    pub fn is_file(&self) -> bool {
        self.kind == "FILE"
    }

    /// True when the node is live (not trashed, not pending).
    pub fn is_available(&self) -> bool {
        self.status == "AVAILABLE"
    }

    /// The name, or "" for the root.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }

    /// File size (0 for folders and pending files).
    pub fn size(&self) -> u64 {
        self.content_properties.as_ref().map_or(0, |c| c.size)
    }

    /// File MD5, if known.
    pub fn md5(&self) -> Option<&str> {
        self.content_properties
            .as_ref()
            .and_then(|c| c.md5.as_deref())
    }

    /// MIME type, if known.
    pub fn content_type(&self) -> Option<&str> {
        self.content_properties
            .as_ref()
            .and_then(|c| c.content_type.as_deref())
    }
}

/// One page of a listing.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeList {
    /// The nodes (missing or null means none).
    #[serde(default)]
    pub data: Option<Vec<Node>>,
    /// The cursor of the next page; absent on the last.
    #[serde(default)]
    pub next_token: Option<String>,
    /// The count the service reports.
    #[serde(default)]
    pub count: Option<u64>,
}

/// `account/quota`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Quota {
    /// Total bytes.
    #[serde(default)]
    pub quota: u64,
    /// Free bytes.
    #[serde(default)]
    pub available: u64,
    /// When it was computed.
    #[serde(default)]
    pub last_calculated: Option<String>,
}

/// One usage category of `account/usage`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UsageCategory {
    /// Everything in the category.
    #[serde(default)]
    pub total: UsageAmount,
    /// What counts against the quota.
    #[serde(default)]
    pub billable: UsageAmount,
}

/// Bytes and count.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UsageAmount {
    /// Bytes.
    #[serde(default)]
    pub bytes: u64,
    /// Number of files.
    #[serde(default)]
    pub count: u64,
}

/// `account/usage`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// When it was computed.
    #[serde(default)]
    pub last_calculated: Option<String>,
    /// Other files.
    #[serde(default)]
    pub other: UsageCategory,
    /// Documents.
    #[serde(default)]
    pub doc: UsageCategory,
    /// Photos.
    #[serde(default)]
    pub photo: UsageCategory,
    /// Videos.
    #[serde(default)]
    pub video: UsageCategory,
}

impl Usage {
    /// Sum of all categories.
    pub fn total(&self) -> UsageAmount {
        let cats = [&self.other, &self.doc, &self.photo, &self.video];
        UsageAmount {
            bytes: cats.iter().map(|c| c.total.bytes).sum(),
            count: cats.iter().map(|c| c.total.count).sum(),
        }
    }
}

/// One object of the changes stream.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeSet {
    /// Resume from here next time.
    #[serde(default)]
    pub checkpoint: Option<String>,
    /// Changed nodes.
    #[serde(default)]
    pub nodes: Vec<Node>,
    /// Discard local state.
    #[serde(default)]
    pub reset: bool,
    /// The final line.
    #[serde(default)]
    pub end: bool,
}
