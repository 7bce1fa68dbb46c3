//! Folder and node management: mkdir, rmdir, delete, purge, server-side moves, trash.

use crate::api::model::Node;
use crate::error::{Error, ErrorKind, Result};
use crate::paths::RemotePath;
use crate::remote::Remote;

/// Create a folder and its missing parents.
pub async fn mkdir(remote: &Remote, path: &RemotePath) -> Result<String> {
    remote.dirs.mkdir_all(path).await
}

/// The node at `path`, or a not-found error that says how to look.
pub async fn require(remote: &Remote, path: &RemotePath) -> Result<Node> {
    if let Some(node) = remote.dirs.find(path).await? {
        return Ok(node);
    }
    // Point at the deepest folder that does exist.
    let mut existing = path.clone();
    while let Some((parent, _)) = existing.split_last() {
        existing = parent;
        if remote
            .dirs
            .folder_id(&existing)
            .await
            .ok()
            .flatten()
            .is_some()
        {
            break;
        }
    }
    Err(Error::NotFound(format!(
        "{path} (nothing there; see what {existing} holds with `acd lsd {existing}` or `acd ls {existing}`)"
    )))
}

/// Remove an empty folder (to the trash).
pub async fn rmdir(remote: &Remote, path: &RemotePath) -> Result<()> {
    if path.is_root() {
        return Err(Error::Usage(
            "refusing to remove the root folder; remove the folders in it one by one".into(),
        ));
    }
    let node = require(remote, path).await?;
    if !node.is_folder() {
        return Err(Error::Usage(format!("{path} is a file; use `acd delete`")));
    }
    let children = remote.drive.children(&node.id).await?;
    if children.iter().any(|c| c.is_file() || c.is_folder()) {
        return Err(Error::Usage(format!(
            "{path}: directory not empty; use `acd purge` to trash it with its contents"
        )));
    }
    remote.drive.trash(&node.id).await?;
    remote.dirs.forget(&path.parts);
    Ok(())
}

/// Trash a folder with everything in it (the service trashes the subtree).
pub async fn purge(remote: &Remote, path: &RemotePath) -> Result<()> {
    if path.is_root() {
        return Err(Error::Usage(
            "refusing to purge the root folder; purge its folders one by one".into(),
        ));
    }
    let node = require(remote, path).await?;
    remote.drive.trash(&node.id).await?;
    remote.dirs.forget(&path.parts);
    Ok(())
}

/// Rename and/or move a node to `dst` on the same remote. Renames that conflict fall back to
/// rclone's trick: trash, rename in the trash, re-parent, restore.
pub async fn move_to(remote: &Remote, src: &RemotePath, dst: &RemotePath) -> Result<Node> {
    let node = require(remote, src).await?;
    if node.is_root.unwrap_or(false) {
        return Err(Error::Usage("cannot move the root folder".into()));
    }
    let (dst_parent, dst_name) = dst
        .split_last()
        .ok_or_else(|| Error::Usage("cannot move onto the root folder".into()))?;
    if let Some(existing) = remote.dirs.find(dst).await?
        && existing.id != node.id
    {
        if existing.is_folder() || node.is_folder() {
            return Err(Error::Usage(format!(
                "{dst} already exists; remove it first"
            )));
        }
        remote.drive.trash(&existing.id).await?;
    }
    let (src_parent, _) = src
        .split_last()
        .ok_or_else(|| Error::Usage("cannot move the root folder".into()))?;
    let from = remote
        .dirs
        .folder_id(&src_parent)
        .await?
        .ok_or_else(|| Error::NotFound(src_parent.to_string()))?;
    let to = remote.dirs.mkdir_all(&dst_parent).await?;
    let new_name = remote.dirs.encode(dst_name);
    if node.parents.len() > 1 && new_name != node.name() {
        return Err(Error::Usage(format!(
            "{src} has {} parents; renaming it would rename it everywhere, so it is refused",
            node.parents.len()
        )));
    }
    let mut moved = node.clone();
    if new_name != node.name() {
        moved = match remote.drive.rename(&node.id, &new_name).await {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Conflict => {
                tracing::info!("{src}: rename conflicted; renaming through the trash");
                remote.drive.trash(&node.id).await?;
                remote.drive.rename(&node.id, &new_name).await?;
                if from != to {
                    remote.drive.add_parent(&node.id, &to).await?;
                    remote.drive.remove_parent(&node.id, &from).await?;
                }
                let restored = remote.drive.restore(&node.id).await?;
                remote.dirs.forget(&src.parts);
                return Ok(restored);
            }
            Err(e) => return Err(e),
        };
    }
    if from != to {
        moved = remote.drive.move_node(&node.id, &from, &to).await?;
    }
    remote.dirs.forget(&src.parts);
    Ok(moved)
}

/// Check that a user-supplied node id has the service's shape (22 url-safe base64 characters).
pub fn validate_id(id: &str) -> Result<&str> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(id)
    } else {
        Err(Error::Usage(format!(
            "{id:?} is not a node id; ids are shown by `acd trash list`"
        )))
    }
}
