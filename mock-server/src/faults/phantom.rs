//! Phantom uploads: the upload "fails", yet the file shows up later (reference §8.6).
//!
//! A phantom is kept here, outside the metadata store, until it is due: after a delay (base +
//! per GiB), or after a number of searches of its account, or never. Until then lookups and
//! listings cannot see it and a second upload of the same name is accepted; when it appears it
//! is stored even if that name has been taken meanwhile (the duplicates users then found).

use std::sync::Mutex;

use crate::store::meta::NewNode;
use crate::util::now_ms;

/// When a phantom appears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appear {
    /// At this time (epoch ms).
    At(i64),
    /// After this many more searches of the account.
    AfterLookups(u32),
}

/// An upload waiting to appear.
#[derive(Debug, Clone)]
pub struct Phantom {
    /// Owning account.
    pub account: i64,
    /// The node to create.
    pub node: NewNode,
    /// When.
    pub appear: Appear,
}

/// The phantoms waiting to appear.
#[derive(Debug, Default)]
pub struct Phantoms {
    inner: Mutex<Vec<Phantom>>,
}

impl Phantoms {
    /// Adds one.
    pub fn add(&self, phantom: Phantom) {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(phantom);
    }

    /// How many are waiting.
    pub fn pending(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Counts one search of `account` and takes out the phantoms now due.
    pub fn due(&self, account: i64) -> Vec<Phantom> {
        let now = now_ms();
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut due = Vec::new();
        let mut keep = Vec::new();
        for mut p in inner.drain(..) {
            let ready = p.account == account
                && match &mut p.appear {
                    Appear::At(t) => *t <= now,
                    Appear::AfterLookups(n) => {
                        *n = n.saturating_sub(1);
                        *n == 0
                    }
                };
            if ready { due.push(p) } else { keep.push(p) }
        }
        *inner = keep;
        due
    }

    /// Forgets every phantom (a reset); returns their blobs.
    pub fn clear(&self) -> Vec<String> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner
            .drain(..)
            .filter_map(|p| p.node.content.map(|c| c.blob))
            .collect()
    }
}
