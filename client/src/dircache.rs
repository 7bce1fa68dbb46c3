//! Path resolution: remote paths to node ids, with a cache of the folders already found.
//!
//! Names are compared as the service compares them for uniqueness: case-insensitively. A lookup
//! first asks the search for the exact name, then falls back to the folder's listing and a
//! case-insensitive match (the search's own case rule was never documented). Both are corrected
//! by the client's own recent writes (a folder just created is found while searches lag). With
//! a synced metadata cache (`--fast-list`), names are looked up in the cache instead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::api::Drive;
use crate::api::model::Node;
use crate::encoding::Encoding;
use crate::error::{Error, Result};
use crate::ops::lister::{ApiLister, FolderLister};
use crate::paths::RemotePath;

/// Resolves paths of one remote.
#[derive(Debug)]
pub struct DirCache {
    drive: Arc<Drive>,
    encoding: Encoding,
    folders: Mutex<HashMap<String, String>>,
    lister: Arc<dyn FolderLister>,
}

impl DirCache {
    /// A cache over `drive`, encoding names with `encoding`.
    pub fn new(drive: Arc<Drive>, encoding: Encoding) -> Self {
        Self {
            lister: Arc::new(ApiLister {
                drive: drive.clone(),
            }),
            drive,
            encoding,
            folders: Mutex::new(HashMap::new()),
        }
    }

    /// Resolve names through `lister` (the metadata cache, with `--fast-list`).
    pub fn with_lister(mut self, lister: Arc<dyn FolderLister>) -> Self {
        self.lister = lister;
        self
    }

    /// The remote name for a local-form component.
    pub fn encode(&self, name: &str) -> String {
        self.encoding.encode(name.as_bytes())
    }

    /// The local-form name of a remote node name.
    pub fn decode(&self, name: &str) -> String {
        self.encoding.decode_display(name)
    }

    /// The cache key of a path given as remote (encoded) names: encoded names never contain
    /// `/`, and two local names that encode alike are the same remote name.
    fn key(encoded: &[String]) -> String {
        encoded.join("/").to_lowercase()
    }

    fn encode_all(&self, parts: &[String]) -> Vec<String> {
        parts.iter().map(|p| self.encode(p)).collect()
    }

    fn cached(&self, encoded: &[String]) -> Option<String> {
        self.folders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&Self::key(encoded))
            .cloned()
    }

    fn remember(&self, encoded: &[String], id: &str) {
        self.folders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(Self::key(encoded), id.to_string());
    }

    /// Forget everything under `parts` (after a delete or move).
    pub fn forget(&self, parts: &[String]) {
        let key = Self::key(&self.encode_all(parts));
        self.folders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|k, _| k != &key && !k.starts_with(&format!("{key}/")));
    }

    /// The child of `parent` whose name matches `name` (local form), ignoring case.
    pub async fn child(&self, parent: &str, name: &str) -> Result<Option<Node>> {
        self.child_encoded(parent, &self.encode(name)).await
    }

    /// The child of `parent` whose remote name matches `remote_name`, ignoring case.
    pub async fn child_encoded(&self, parent: &str, remote_name: &str) -> Result<Option<Node>> {
        if self.lister.is_local() {
            return self.lister.child_named(parent, remote_name).await;
        }
        if let Some(node) = self.drive.lookup(parent, remote_name).await? {
            return Ok(Some(node));
        }
        self.lister.child_named(parent, remote_name).await
    }

    /// The id of the folder at `path`, or `None` if some component does not exist.
    pub async fn folder_id(&self, path: &RemotePath) -> Result<Option<String>> {
        let root = self.drive.root().await?.id.clone();
        let mut id = root;
        let encoded = self.encode_all(&path.parts);
        for depth in 0..encoded.len() {
            let prefix = &encoded[..=depth];
            if let Some(cached) = self.cached(prefix) {
                id = cached;
                continue;
            }
            match self.child_encoded(&id, &encoded[depth]).await? {
                Some(node) if node.is_folder() => {
                    self.remember(prefix, &node.id);
                    id = node.id;
                }
                Some(_) => {
                    return Err(Error::Usage(format!(
                        "{}: {} is a file, not a folder",
                        path,
                        path.parts[..=depth].join("/")
                    )));
                }
                None => return Ok(None),
            }
        }
        Ok(Some(id))
    }

    /// The node at `path` (file or folder), or `None`.
    pub async fn find(&self, path: &RemotePath) -> Result<Option<Node>> {
        let Some((parent, name)) = path.split_last() else {
            return Ok(Some(self.drive.root().await?.clone()));
        };
        let Some(parent_id) = self.folder_id(&parent).await? else {
            return Ok(None);
        };
        self.child(&parent_id, name).await
    }

    /// The id of the folder at `path`, creating missing folders.
    pub async fn mkdir_all(&self, path: &RemotePath) -> Result<String> {
        self.mkdir_all_encoded(&self.encode_all(&path.parts)).await
    }

    /// The id of the folder whose path from the root is `encoded` (remote names, as
    /// [`DirCache::encode`] or [`crate::encoding::Encoding::encode`] made them), creating
    /// missing folders. Local names that are not valid UTF-8 can only be given this way.
    pub async fn mkdir_all_encoded(&self, encoded: &[String]) -> Result<String> {
        let mut id = self.drive.root().await?.id.clone();
        for depth in 0..encoded.len() {
            let prefix = &encoded[..=depth];
            if let Some(cached) = self.cached(prefix) {
                id = cached;
                continue;
            }
            let name = &encoded[depth];
            let node = match self.child_encoded(&id, name).await? {
                Some(n) if n.is_folder() => n,
                Some(_) => {
                    let shown: Vec<String> = prefix.iter().map(|p| self.decode(p)).collect();
                    return Err(Error::Usage(format!(
                        "{} exists and is a file, not a folder",
                        shown.join("/")
                    )));
                }
                None => self.drive.create_folder(&id, name).await?,
            };
            self.remember(prefix, &node.id);
            id = node.id;
        }
        Ok(id)
    }
}
