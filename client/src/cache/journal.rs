//! The own-writes journal: the node each write of this client returned, kept for the
//! consistency window so listings (which lag) can be corrected by it.
//!
//! Entries live in memory and, when the cache file is usable, in it too, so a later `acd`
//! process sees what an earlier one wrote (`acd copy src m:d` then `acd md5sum m:d`).

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Cache, now_ms};
use crate::api::model::Node;
use crate::api::{WriteLog, at_least_as_new};

/// The default consistency window: how long own writes correct listings.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
struct Entry {
    at_ms: i64,
    node: Node,
    folders: BTreeSet<String>,
}

/// The journal of one remote.
#[derive(Debug)]
pub struct Journal {
    window: Duration,
    memory: Mutex<HashMap<String, Entry>>,
    cache: Option<Arc<Cache>>,
    warned: AtomicBool,
}

impl Journal {
    /// A journal with this window, persisted in `cache` when given (old entries are pruned).
    pub fn new(window: Duration, cache: Option<Arc<Cache>>) -> Self {
        let journal = Self {
            window,
            memory: Mutex::new(HashMap::new()),
            cache,
            warned: AtomicBool::new(false),
        };
        if let Some(cache) = &journal.cache
            && let Err(e) = cache.prune_writes(journal.since_ms())
        {
            journal.warn(&e);
        }
        journal
    }

    /// The consistency window.
    pub fn window(&self) -> Duration {
        self.window
    }

    fn since_ms(&self) -> i64 {
        now_ms() - i64::try_from(self.window.as_millis()).unwrap_or(i64::MAX / 2)
    }

    fn warn(&self, e: &crate::Error) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "the metadata cache's journal cannot be used ({e}); own writes are remembered by this process only"
            );
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.memory.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl WriteLog for Journal {
    fn record(&self, node: &Node, left: &[String]) {
        if self.window.is_zero() {
            return;
        }
        let now = now_ms();
        let mut folders: BTreeSet<String> = node.parents.iter().cloned().collect();
        folders.extend(left.iter().cloned());
        {
            let mut memory = self.lock();
            let entry = memory.entry(node.id.clone()).or_insert_with(|| Entry {
                at_ms: now,
                node: node.clone(),
                folders: BTreeSet::new(),
            });
            if at_least_as_new(node, &entry.node) {
                entry.node = node.clone();
                entry.at_ms = now;
            }
            entry.folders.extend(folders.iter().cloned());
        }
        if let Some(cache) = &self.cache {
            let folders: Vec<String> = folders.into_iter().collect();
            if let Err(e) = cache.record_write(node, &folders, now) {
                self.warn(&e);
            }
        }
    }

    fn recent_in(&self, folder: &str) -> Vec<Node> {
        if self.window.is_zero() {
            return Vec::new();
        }
        let since = self.since_ms();
        let mut found: HashMap<String, Node> = self
            .lock()
            .values()
            .filter(|e| e.at_ms >= since && e.folders.contains(folder))
            .map(|e| (e.node.id.clone(), e.node.clone()))
            .collect();
        if let Some(cache) = &self.cache {
            match cache.recent_writes(folder, since) {
                Ok(nodes) => {
                    for node in nodes {
                        match found.get(&node.id) {
                            Some(mine) if at_least_as_new(mine, &node) => {}
                            _ => {
                                found.insert(node.id.clone(), node);
                            }
                        }
                    }
                }
                Err(e) => self.warn(&e),
            }
        }
        found.into_values().collect()
    }
}
