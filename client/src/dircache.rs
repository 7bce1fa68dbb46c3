//! Path resolution: remote paths to node ids, with a cache of the folders already found.
//!
//! Names are compared as the service compares them for uniqueness: case-insensitively. A lookup
//! first asks the search for the exact name, then falls back to the folder's listing and a
//! case-insensitive match (the search's own case rule was never documented).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::api::Drive;
use crate::api::model::Node;
use crate::encoding::Encoding;
use crate::error::{Error, Result};
use crate::paths::RemotePath;

/// Resolves paths of one remote.
#[derive(Debug)]
pub struct DirCache {
    drive: Arc<Drive>,
    encoding: Encoding,
    folders: Mutex<HashMap<String, String>>,
}

impl DirCache {
    /// A cache over `drive`, encoding names with `encoding`.
    pub fn new(drive: Arc<Drive>, encoding: Encoding) -> Self {
        Self {
            drive,
            encoding,
            folders: Mutex::new(HashMap::new()),
        }
    }

    /// The remote name for a local-form component.
    pub fn encode(&self, name: &str) -> String {
        self.encoding.encode(name.as_bytes())
    }

    /// The local-form name of a remote node name.
    pub fn decode(&self, name: &str) -> String {
        self.encoding.decode_display(name)
    }

    fn key(parts: &[String]) -> String {
        parts.join("/").to_lowercase()
    }

    fn cached(&self, parts: &[String]) -> Option<String> {
        self.folders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&Self::key(parts))
            .cloned()
    }

    fn remember(&self, parts: &[String], id: &str) {
        self.folders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(Self::key(parts), id.to_string());
    }

    /// Forget everything under `parts` (after a delete or move).
    pub fn forget(&self, parts: &[String]) {
        let key = Self::key(parts);
        self.folders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|k, _| k != &key && !k.starts_with(&format!("{key}/")));
    }

    /// The child of `parent` whose name matches `name` (local form), ignoring case.
    pub async fn child(&self, parent: &str, name: &str) -> Result<Option<Node>> {
        let remote_name = self.encode(name);
        if let Some(node) = self.drive.lookup(parent, &remote_name).await? {
            return Ok(Some(node));
        }
        let lower = remote_name.to_lowercase();
        let children = self.drive.children(parent).await?;
        Ok(children
            .into_iter()
            .find(|n| n.name().to_lowercase() == lower))
    }

    /// The id of the folder at `path`, or `None` if some component does not exist.
    pub async fn folder_id(&self, path: &RemotePath) -> Result<Option<String>> {
        let root = self.drive.root().await?.id.clone();
        let mut id = root;
        for depth in 0..path.parts.len() {
            let prefix = &path.parts[..=depth];
            if let Some(cached) = self.cached(prefix) {
                id = cached;
                continue;
            }
            match self.child(&id, &path.parts[depth]).await? {
                Some(node) if node.is_folder() => {
                    self.remember(prefix, &node.id);
                    id = node.id;
                }
                Some(_) => {
                    return Err(Error::Usage(format!(
                        "{}: {} is a file, not a folder",
                        path,
                        prefix.join("/")
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
        let mut id = self.drive.root().await?.id.clone();
        for depth in 0..path.parts.len() {
            let prefix = &path.parts[..=depth];
            if let Some(cached) = self.cached(prefix) {
                id = cached;
                continue;
            }
            let name = &path.parts[depth];
            let node = match self.child(&id, name).await? {
                Some(n) if n.is_folder() => n,
                Some(_) => {
                    return Err(Error::Usage(format!(
                        "{path}: {} exists and is a file",
                        prefix.join("/")
                    )));
                }
                None => self.drive.create_folder(&id, &self.encode(name)).await?,
            };
            self.remember(prefix, &node.id);
            id = node.id;
        }
        Ok(id)
    }
}
