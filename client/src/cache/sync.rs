//! Bringing the cache up to date from the changes feed (reference §6.13).
//!
//! `POST changes` with the stored checkpoint and `includePurged: "true"`; the NDJSON answer is
//! read chunk by chunk and each change set is applied in its own transaction together with its
//! checkpoint, so a stream cut part-way leaves the cache at the last whole change set, and the
//! retry (paced, like every call) resumes from there: nodes are keyed by id, so a change set
//! applied twice changes nothing. A whole sync holds the cross-process writer lock.

use std::sync::atomic::{AtomicU64, Ordering};

use super::Cache;
use super::ndjson::LineSplitter;
use crate::api::Drive;
use crate::api::model::ChangeSet;
use crate::error::{Error, Result};

const OPERATION: &str = "read changes";

/// What a sync did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Nodes applied (a node may count more than once across retried attempts).
    pub nodes: u64,
    /// Change sets applied.
    pub sets: u64,
}

/// Bring `cache` up to date. `progress`: show a spinner with the node count on a first sync
/// (drawn only on a terminal).
pub async fn sync(drive: &Drive, cache: &Cache, progress: bool) -> Result<SyncStats> {
    let _writer = cache.writer_lock().await?;
    let first = cache.checkpoint()?.is_none();
    let bar = if progress && first {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message("reading the account's nodes for the metadata cache");
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        Some(bar)
    } else {
        None
    };
    let nodes = AtomicU64::new(0);
    let sets = AtomicU64::new(0);
    let result = drive
        .pacer()
        .call("sync the metadata cache", |_| {
            attempt(drive, cache, &nodes, &sets, bar.as_ref())
        })
        .await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    result?;
    Ok(SyncStats {
        nodes: nodes.load(Ordering::Relaxed),
        sets: sets.load(Ordering::Relaxed),
    })
}

fn parse(line: &[u8]) -> Result<ChangeSet> {
    serde_json::from_slice(line).map_err(|e| Error::Protocol {
        operation: OPERATION.into(),
        message: format!("a change set does not parse: {e}"),
    })
}

/// One pass over the feed from the stored checkpoint.
async fn attempt(
    drive: &Drive,
    cache: &Cache,
    nodes: &AtomicU64,
    sets: &AtomicU64,
    bar: Option<&indicatif::ProgressBar>,
) -> Result<()> {
    let checkpoint = cache.checkpoint()?;
    let mut fresh = checkpoint.is_none();
    let mut response = drive.changes_response(checkpoint.as_deref()).await?;
    let url = response.url().clone();
    let mut lines = LineSplitter::default();
    let mut apply = |line: &[u8]| -> Result<bool> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(false);
        }
        let set = parse(line)?;
        if set.end {
            cache.mark_synced()?;
            return Ok(true);
        }
        let applied = cache.apply(&set, fresh)? as u64;
        fresh = false;
        let total = nodes.fetch_add(applied, Ordering::Relaxed) + applied;
        sets.fetch_add(1, Ordering::Relaxed);
        if let Some(bar) = bar {
            bar.set_message(format!("{total} nodes read for the metadata cache"));
        }
        Ok(false)
    };
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Error::transport(OPERATION, &url, e))?
    {
        lines.push(&chunk);
        loop {
            let line = lines.next_line().map_err(|len| Error::Protocol {
                operation: OPERATION.into(),
                message: format!("a change set line exceeds {len} bytes"),
            })?;
            let Some(line) = line else { break };
            if apply(&line)? {
                return Ok(());
            }
        }
    }
    // The body ended: only a last line without its newline may still be the end line.
    let rest = lines.rest().to_vec();
    if !rest.iter().all(u8::is_ascii_whitespace)
        && let Ok(set) = parse(&rest)
        && set.end
    {
        cache.mark_synced()?;
        return Ok(());
    }
    Err(Error::Protocol {
        operation: OPERATION.into(),
        message: "the changes stream ended before its end line; resuming from the last applied change set".into(),
    })
}
