//! Phantom uploads: the upload "fails", yet the file shows up later (reference §8.6).
//!
//! A phantom upload is stored at once as a `PENDING` node (visible by id, and in listings once
//! the listing lag allows, without `contentProperties`; its name does not block another upload),
//! and becomes `AVAILABLE` on its own schedule: at a time (base + per GiB), checked before every
//! request of its account whatever that request is, or after a number of searches of the
//! account. From that moment a retried upload of the same name is 409 with the phantom's id; a
//! retry that came before it is accepted and leaves two nodes of one name (the duplicates users
//! found). A phantom overwrite keeps the node's old content and version until it is due, then
//! applies the new content.

use std::sync::Mutex;

use crate::store::meta::MetaStore;
use crate::store::node::Content;

/// When a phantom appears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appear {
    /// At this time (epoch ms).
    At(i64),
    /// After this many more searches of the account.
    AfterLookups(u32),
}

/// What becomes real when a phantom is due.
#[derive(Debug, Clone)]
pub enum Pending {
    /// A new file, stored as `PENDING` under this id, turns `AVAILABLE`.
    Upload {
        /// The node id.
        id: String,
    },
    /// An overwrite of this node with this content (its blob already stored).
    Overwrite {
        /// The node id.
        id: String,
        /// The new content.
        content: Content,
    },
}

/// A phantom waiting to become real.
#[derive(Debug, Clone)]
pub struct Phantom {
    /// Owning account.
    pub account: i64,
    /// What it does when due.
    pub pending: Pending,
    /// When.
    pub appear: Appear,
}

/// The phantoms waiting to become real.
#[derive(Debug, Default)]
pub struct Phantoms {
    inner: Mutex<Vec<Phantom>>,
}

impl Phantoms {
    /// Adds one.
    pub fn add(&self, phantom: Phantom) {
        self.lock().push(phantom);
    }

    /// How many are waiting.
    pub fn pending(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Phantom>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes out the phantoms of `account` due now; a `search` also counts one lookup for
    /// those that appear after a number of searches. `now` is the mock's time.
    pub fn due(&self, account: i64, search: bool, now: i64) -> Vec<Phantom> {
        let mut inner = self.lock();
        if inner.is_empty() {
            return Vec::new();
        }
        let mut due = Vec::new();
        let mut keep = Vec::new();
        for mut p in inner.drain(..) {
            let ready = p.account == account
                && match &mut p.appear {
                    Appear::At(t) => *t <= now,
                    Appear::AfterLookups(n) if search => {
                        *n = n.saturating_sub(1);
                        *n == 0
                    }
                    Appear::AfterLookups(_) => false,
                };
            if ready { due.push(p) } else { keep.push(p) }
        }
        *inner = keep;
        due
    }

    /// Makes the due phantoms of `account` real in `meta`; returns the blobs no longer used
    /// (the old content of an overwrite, or the new one if the node is gone).
    pub fn settle(&self, meta: &MetaStore, account: i64, search: bool) -> Vec<String> {
        let mut unused = Vec::new();
        for phantom in self.due(account, search, meta.clock().now_ms()) {
            match phantom.pending {
                Pending::Upload { id } => {
                    if let Err(error) = meta.make_available(account, &id) {
                        tracing::info!(%error, "a phantom upload could not appear");
                    }
                }
                Pending::Overwrite { id, content } => {
                    let blob = content.blob.clone();
                    match meta.overwrite(account, &id, content, None) {
                        Ok((_, old)) => unused.extend(old),
                        Err(error) => {
                            tracing::info!(%error, "a phantom overwrite could not land");
                            unused.push(blob);
                        }
                    }
                }
            }
        }
        unused
    }

    /// Forgets the phantoms of one account (`None`: all; a reset); returns the blobs only they
    /// held (a phantom upload's node is in the store, which the reset empties).
    pub fn clear(&self, account: Option<i64>) -> Vec<String> {
        let mut inner = self.lock();
        let (gone, keep): (Vec<_>, Vec<_>) = inner
            .drain(..)
            .partition(|p| account.is_none_or(|a| a == p.account));
        *inner = keep;
        gone.into_iter()
            .filter_map(|p| match p.pending {
                Pending::Overwrite { content, .. } => Some(content.blob),
                Pending::Upload { .. } => None,
            })
            .collect()
    }
}
