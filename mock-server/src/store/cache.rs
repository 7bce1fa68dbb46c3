//! A read-through cache for rows that are read on every request and rarely change (access
//! tokens and accounts), so authenticating a call costs no query.
//!
//! Writers invalidate after they commit. A reader that missed fills the cache only if no
//! invalidation happened since before its query: a value read just before a concurrent commit
//! is never cached after that commit's invalidation.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::RwLock;

/// Entries kept at most; the cache is emptied when full (tests mint many tokens).
const MAX_ENTRIES: usize = 10_000;

/// Cached rows by key.
#[derive(Debug)]
pub struct Cache<K, V> {
    inner: RwLock<Inner<K, V>>,
}

#[derive(Debug)]
struct Inner<K, V> {
    generation: u64,
    map: HashMap<K, V>,
}

impl<K: Eq + Hash, V: Clone> Default for Cache<K, V> {
    fn default() -> Self {
        Self {
            inner: RwLock::new(Inner {
                generation: 0,
                map: HashMap::new(),
            }),
        }
    }
}

impl<K: Eq + Hash, V: Clone> Cache<K, V> {
    /// The cached row, or the generation to pass to [`Cache::fill`] after reading it.
    pub fn get<Q>(&self, key: &Q) -> Result<V, u64>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner.map.get(key).cloned().ok_or(inner.generation)
    }

    /// Caches a row read at `generation` (see [`Cache::get`]), unless invalidated since.
    pub fn fill(&self, generation: u64, key: K, value: V) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if inner.generation == generation {
            if inner.map.len() >= MAX_ENTRIES {
                inner.map.clear();
            }
            inner.map.insert(key, value);
        }
    }

    /// Forgets every row (call after committing a change to any of them).
    pub fn invalidate(&self) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        inner.generation += 1;
        inner.map.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fill_from_before_an_invalidation_is_dropped() {
        let cache: Cache<String, i32> = Cache::default();
        let Err(generation) = cache.get("t") else {
            panic!("empty cache hit")
        };
        cache.invalidate();
        cache.fill(generation, "t".into(), 1);
        assert!(cache.get("t").is_err());
        let Err(generation) = cache.get("t") else {
            panic!("empty cache hit")
        };
        cache.fill(generation, "t".into(), 2);
        assert_eq!(cache.get("t"), Ok(2));
        cache.invalidate();
        assert!(cache.get("t").is_err());
    }
}
