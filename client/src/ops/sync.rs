//! `copy`, `sync`, `check` and `move` between a local folder and a remote folder.
//!
//! Files are matched by path, ignoring case (the service's rule), and compared by size and
//! MD5 (`--size-only`: size). Before uploading anything, the plan looks for local names that
//! differ only in case in the same folder: both are reported by name and neither is uploaded.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::stream::{self, StreamExt as _};

use super::Ctx;
use super::list::{
    LocalEntry, RemoteEntry, by_folded_path, walk_local, walk_remote, walk_remote_local,
};
use crate::api::model::Node;
use crate::error::{Error, Result};
use crate::paths::RemotePath;
use crate::transfer::download::{Downloader, partial_path};
use crate::transfer::hash_file;
use crate::transfer::stats::Stats;
use crate::transfer::upload::{Source, Uploader};

/// What to do with files only at the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Leave them.
    Copy,
    /// Delete them (remote: to the trash).
    Sync,
    /// Copy, then delete the sources that arrived.
    Move,
}

/// The outcome of a transfer command.
#[derive(Debug, Default)]
pub struct Report {
    /// Per-file failures: path and reason.
    pub failures: Vec<(String, String)>,
}

impl Report {
    fn fail(&mut self, stats: &Stats, path: impl Into<String>, why: impl Into<String>) {
        let (path, why) = (path.into(), why.into());
        tracing::error!("{path}: {why}");
        Stats::bump(&stats.errors);
        self.failures.push((path, why));
    }
}

fn local_walk_blocking(root: &Path) -> Result<Vec<LocalEntry>> {
    match std::fs::metadata(root) {
        Ok(m) if m.is_dir() => walk_local(root),
        Ok(_) => Err(Error::Usage(format!(
            "{} is a file; use copyto for a single file",
            root.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::NotFound(format!(
            "{} (local folder does not exist; check the path)",
            root.display()
        ))),
        Err(e) => Err(Error::io(format!("stat {}", root.display()), e)),
    }
}

/// Local MD5 of a file, off the async threads.
pub async fn local_md5(path: &Path) -> Result<String> {
    let owned = path.to_path_buf();
    tokio::task::spawn_blocking(move || hash_file(&owned))
        .await
        .map_err(|e| Error::Usage(format!("hashing task failed: {e}")))?
        .map(|(m, _)| m)
        .map_err(|e| Error::io(format!("read {}", path.display()), e))
}

/// The remote-form path of a local entry (each component encoded), lowercased for matching.
fn folded_remote_path(ctx: &Ctx, parts: &[std::ffi::OsString]) -> (Vec<String>, String) {
    use std::os::unix::ffi::OsStrExt as _;
    let encoded: Vec<String> = parts
        .iter()
        .map(|p| ctx.remote.config.encoding.encode(p.as_bytes()))
        .collect();
    let display: Vec<String> = encoded.iter().map(|e| ctx.remote.dirs.decode(e)).collect();
    let folded = display.join("/").to_lowercase();
    (encoded, folded)
}

/// Upload a local folder to a remote folder.
pub async fn upload_tree(ctx: &Ctx, src: &Path, dst: &RemotePath, mode: Mode) -> Result<Report> {
    let mut report = Report::default();
    let root = src.to_path_buf();
    let local = tokio::task::spawn_blocking(move || local_walk_blocking(&root))
        .await
        .map_err(|e| Error::Usage(format!("walk task failed: {e}")))??;

    // Case collisions: two local names in one folder that the service treats as one.
    let mut seen: HashMap<String, Vec<String>> = HashMap::new();
    for entry in &local {
        let (_, folded) = folded_remote_path(ctx, &entry.parts);
        seen.entry(folded).or_default().push(entry.display());
    }
    let mut excluded: BTreeSet<String> = BTreeSet::new();
    for (folded, names) in &seen {
        if names.len() > 1 {
            report.fail(
                &ctx.stats,
                names.join(" and "),
                "these names differ only in case and Amazon Drive treats them as the same name; rename one (neither was uploaded)",
            );
            excluded.insert(folded.clone());
        }
    }
    let is_excluded = |folded: &str| {
        excluded
            .iter()
            .any(|x| folded == x || folded.starts_with(&format!("{x}/")))
    };

    let dst_id = if ctx.options.dry_run {
        ctx.remote.dirs.folder_id(dst).await?
    } else {
        Some(ctx.remote.dirs.mkdir_all(dst).await?)
    };
    let existing = match &dst_id {
        Some(id) => by_folded_path(walk_remote(&ctx.remote, id, 0, ctx.options.checkers).await?),
        None => BTreeMap::new(),
    };

    // Plan the uploads.
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    let mut jobs = Vec::new();
    for entry in &local {
        let (encoded, folded) = folded_remote_path(ctx, &entry.parts);
        if is_excluded(&folded) {
            continue;
        }
        wanted.insert(folded.clone());
        if entry.is_dir {
            continue;
        }
        if let Some(max) = ctx.options.max_size
            && entry.size > max
        {
            tracing::info!("{}: skipped, larger than --max-size", entry.display());
            continue;
        }
        if entry.size > super::WARN_FILE_SIZE {
            tracing::warn!(
                "{}: {} is above 50,000 MiB; Amazon Drive uploads this large tended to fail (use --max-size 50000M to skip such files)",
                entry.display(),
                bytesize::ByteSize(entry.size).display().iec()
            );
        }
        jobs.push((
            entry.clone(),
            encoded,
            existing.get(&folded).map(|e| e.node.clone()),
        ));
    }

    let uploader = Uploader {
        drive: ctx.remote.drive.clone(),
        slots: Arc::new(tokio::sync::Semaphore::new(ctx.options.transfers.max(1))),
        wait_per_gb: ctx.remote.config.upload_wait_per_gb,
        poll: ctx.options.phantom_poll,
        stats: ctx.stats.clone(),
    };
    let results: Vec<(LocalEntry, Result<bool>)> = stream::iter(jobs)
        .map(|(entry, encoded, remote)| {
            let uploader = uploader.clone();
            async move {
                let result = upload_one(ctx, &uploader, dst, &entry, &encoded, remote).await;
                (entry, result)
            }
        })
        .buffer_unordered(ctx.options.transfers.max(1) + ctx.options.checkers.max(1))
        .collect()
        .await;
    let mut arrived = Vec::new();
    for (entry, result) in results {
        match result {
            Ok(_) => arrived.push(entry.full.clone()),
            Err(e) => report.fail(&ctx.stats, entry.display(), e.to_string()),
        }
    }

    match mode {
        Mode::Sync if report.failures.is_empty() => {
            for (folded, entry) in existing.iter().rev() {
                let parent_gone = existing
                    .keys()
                    .any(|k| folded.starts_with(&format!("{k}/")) && !wanted.contains(k));
                if wanted.contains(folded) || parent_gone {
                    continue;
                }
                delete_remote(ctx, &entry.path, &entry.node, &mut report).await;
            }
        }
        Mode::Sync => {
            tracing::error!("not deleting anything on the destination because there were errors")
        }
        Mode::Move if !ctx.options.dry_run => {
            for path in arrived {
                if let Err(e) = std::fs::remove_file(&path) {
                    report.fail(
                        &ctx.stats,
                        path.display().to_string(),
                        format!("uploaded but not removed: {e}"),
                    );
                }
            }
        }
        _ => {}
    }
    Ok(report)
}

async fn delete_remote(ctx: &Ctx, path: &str, node: &Node, report: &mut Report) {
    if ctx.options.dry_run {
        tracing::warn!("{path}: not deleting (dry run)");
        return;
    }
    match ctx.remote.drive.trash(&node.id).await {
        Ok(_) => {
            Stats::bump(&ctx.stats.deletes);
            tracing::info!("{path}: moved to the trash");
        }
        Err(e) => report.fail(&ctx.stats, path, e.to_string()),
    }
}

/// Upload one file unless the destination already has it; `Ok(true)` when bytes moved.
async fn upload_one(
    ctx: &Ctx,
    uploader: &Uploader,
    dst: &RemotePath,
    entry: &LocalEntry,
    encoded: &[String],
    remote: Option<Node>,
) -> Result<bool> {
    if let Some(node) = &remote {
        if node.is_folder() {
            return Err(Error::Usage(
                "a folder with this name exists on the destination".into(),
            ));
        }
        if node.size() == entry.size
            && (ctx.options.size_only || Some(local_md5(&entry.full).await?.as_str()) == node.md5())
        {
            Stats::bump(&ctx.stats.checks);
            return Ok(false);
        }
    }
    if ctx.options.dry_run {
        tracing::warn!("{}: not copying (dry run)", entry.display());
        return Ok(false);
    }
    let (name, folders) = encoded
        .split_last()
        .ok_or_else(|| Error::Usage("an empty path".into()))?;
    // Resolve the parent by remote names: a local folder name that is not UTF-8 has no
    // `String` form, and a lossy one would make a different folder.
    let mut parent: Vec<String> = dst
        .parts
        .iter()
        .map(|p| ctx.remote.dirs.encode(p))
        .collect();
    parent.extend(folders.iter().cloned());
    let parent_id = ctx.remote.dirs.mkdir_all_encoded(&parent).await?;
    ctx.stats.expect(entry.size);
    ctx.stats.message(&entry.display());
    let source = Source {
        path: &entry.full,
        size: entry.size,
    };
    uploader.upload(&parent_id, name, source, remote).await?;
    Stats::bump(&ctx.stats.files);
    tracing::info!("{}: copied", entry.display());
    Ok(true)
}

/// Download a remote folder to a local folder.
pub async fn download_tree(ctx: &Ctx, src: &RemotePath, dst: &Path, mode: Mode) -> Result<Report> {
    let mut report = Report::default();
    let src_id = ctx.remote.dirs.folder_id(src).await?.ok_or_else(|| {
        Error::NotFound(format!(
            "{src} (no such folder on the remote; check with `acd lsd {}:`)",
            src.remote
        ))
    })?;
    let remote = walk_remote_local(&ctx.remote, &src_id, 0, ctx.options.checkers).await?;
    let downloader = Downloader {
        drive: ctx.remote.drive.clone(),
        templink_threshold: ctx.remote.config.templink_threshold,
        stats: ctx.stats.clone(),
    };
    if !ctx.options.dry_run {
        std::fs::create_dir_all(dst)
            .map_err(|e| Error::io(format!("create {}", dst.display()), e))?;
    }
    let wanted: BTreeSet<PathBuf> = remote.iter().map(|(local, _)| dst.join(local)).collect();
    if !ctx.options.dry_run {
        // Folders exist on the drive even when empty: make them here too.
        for (local, entry) in remote.iter().filter(|(_, e)| e.node.is_folder()) {
            let dir = dst.join(local);
            if let Err(e) = std::fs::create_dir_all(&dir) {
                report.fail(
                    &ctx.stats,
                    entry.path.clone(),
                    format!("cannot create {}: {e}", dir.display()),
                );
            }
        }
    }
    let jobs: Vec<(PathBuf, RemoteEntry)> = remote
        .into_iter()
        .filter(|(_, e)| e.node.is_file())
        .collect();
    let results: Vec<(String, Result<bool>)> = stream::iter(jobs)
        .map(|(local, entry)| {
            let downloader = downloader.clone();
            async move {
                let target = dst.join(&local);
                let result = download_one(ctx, &downloader, &entry.node, &target).await;
                (entry.path, result)
            }
        })
        .buffer_unordered(ctx.options.transfers.max(1))
        .collect()
        .await;
    for (path, result) in results {
        if let Err(e) = result {
            report.fail(&ctx.stats, path, e.to_string());
        }
    }
    if mode == Mode::Sync && report.failures.is_empty() && dst.exists() {
        let root = dst.to_path_buf();
        let local = tokio::task::spawn_blocking(move || walk_local(&root))
            .await
            .map_err(|e| Error::Usage(format!("walk task failed: {e}")))??;
        for entry in local.iter().rev() {
            if wanted.contains(&entry.full) {
                continue;
            }
            if ctx.options.dry_run {
                tracing::warn!("{}: not deleting (dry run)", entry.display());
                continue;
            }
            let removed = if entry.is_dir {
                std::fs::remove_dir_all(&entry.full)
            } else {
                std::fs::remove_file(&entry.full)
            };
            match removed {
                Ok(()) => Stats::bump(&ctx.stats.deletes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => report.fail(&ctx.stats, entry.display(), format!("not deleted: {e}")),
            }
        }
    }
    Ok(report)
}

/// Download one file unless the local copy is identical.
pub async fn download_one(
    ctx: &Ctx,
    downloader: &Downloader,
    node: &Node,
    target: &Path,
) -> Result<bool> {
    if let Ok(meta) = tokio::fs::metadata(target).await
        && meta.is_file()
        && meta.len() == node.size()
        && (ctx.options.size_only || node.md5() == Some(local_md5(target).await?.as_str()))
    {
        Stats::bump(&ctx.stats.checks);
        return Ok(false);
    }
    if let Some(max) = ctx.options.max_size
        && node.size() > max
    {
        return Ok(false);
    }
    if ctx.options.dry_run {
        tracing::warn!("{}: not copying (dry run)", target.display());
        return Ok(false);
    }
    ctx.stats.expect(node.size());
    ctx.stats.message(&target.display().to_string());
    downloader.download(node, target).await?;
    Stats::bump(&ctx.stats.files);
    debug_assert!(!partial_path(target).exists());
    Ok(true)
}

/// A difference found by `check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// Only on the local side.
    MissingOnRemote(String),
    /// Only on the remote side.
    MissingLocally(String),
    /// Sizes differ.
    Size(String),
    /// MD5s differ.
    Hash(String),
}

/// Compare a local folder with a remote folder.
pub async fn check(
    ctx: &Ctx,
    local_root: &Path,
    remote_path: &RemotePath,
) -> Result<(Vec<Difference>, u64)> {
    let root = local_root.to_path_buf();
    let local = tokio::task::spawn_blocking(move || local_walk_blocking(&root))
        .await
        .map_err(|e| Error::Usage(format!("walk task failed: {e}")))??;
    let id = ctx
        .remote
        .dirs
        .folder_id(remote_path)
        .await?
        .ok_or_else(|| Error::NotFound(format!("{remote_path} (no such folder on the remote)")))?;
    let mut remote = by_folded_path(walk_remote(&ctx.remote, &id, 0, ctx.options.checkers).await?);
    let mut diffs = Vec::new();
    let mut matched = 0;
    for entry in local.iter().filter(|e| !e.is_dir) {
        let (_, folded) = folded_remote_path(ctx, &entry.parts);
        let Some(other) = remote.remove(&folded) else {
            diffs.push(Difference::MissingOnRemote(entry.display()));
            continue;
        };
        if other.node.size() != entry.size {
            diffs.push(Difference::Size(entry.display()));
        } else if !ctx.options.size_only
            && other.node.md5() != Some(local_md5(&entry.full).await?.as_str())
        {
            diffs.push(Difference::Hash(entry.display()));
        } else {
            matched += 1;
        }
    }
    for (_, entry) in remote {
        if entry.node.is_file() {
            diffs.push(Difference::MissingLocally(entry.path));
        }
    }
    Ok((diffs, matched))
}
