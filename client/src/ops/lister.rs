//! "List this folder", answered by the API or by the metadata cache behind one trait, so
//! walks and path resolution do not branch on `--fast-list`.
//!
//! Both answers are corrected by the own-writes journal: the API's through
//! [`Drive::children`] (confirming each doubt with `GET nodes/{id}`), the cache's here (the
//! feed does not lag, so only writes newer than the last sync need the journal).

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::api::model::Node;
use crate::api::{Drive, WriteLog as _, at_least_as_new, is_live_child};
use crate::cache::Cache;
use crate::cache::journal::Journal;
use crate::error::Result;

/// Lists the live children of a folder.
pub trait FolderLister: Send + Sync + std::fmt::Debug {
    /// The live children of `folder`.
    fn children<'a>(&'a self, folder: &'a str) -> BoxFuture<'a, Result<Vec<Node>>>;
    /// True when answers come from the local cache (no API call per folder).
    fn is_local(&self) -> bool;
    /// The live child of `folder` whose name matches `name` ignoring case.
    fn child_named<'a>(
        &'a self,
        folder: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<Node>>> {
        Box::pin(async move {
            let lower = name.to_lowercase();
            Ok(self
                .children(folder)
                .await?
                .into_iter()
                .find(|n| n.name().to_lowercase() == lower))
        })
    }
}

/// Listings paged from the API.
#[derive(Debug)]
pub struct ApiLister {
    /// The drive.
    pub drive: Arc<Drive>,
}

impl FolderLister for ApiLister {
    fn children<'a>(&'a self, folder: &'a str) -> BoxFuture<'a, Result<Vec<Node>>> {
        Box::pin(self.drive.children(folder))
    }

    fn is_local(&self) -> bool {
        false
    }
}

/// Listings from the metadata cache (after a sync), with own writes laid over.
#[derive(Debug)]
pub struct CacheLister {
    /// The synced cache.
    pub cache: Arc<Cache>,
    /// The own-writes journal.
    pub journal: Arc<Journal>,
}

impl CacheLister {
    fn children_now(&self, folder: &str) -> Result<Vec<Node>> {
        let mut by_id: HashMap<String, Node> = self
            .cache
            .children(folder)?
            .into_iter()
            .map(|n| (n.id.clone(), n))
            .collect();
        for own in self.journal.recent_in(folder) {
            let newer = by_id.get(&own.id).is_none_or(|c| at_least_as_new(&own, c));
            if !newer {
                continue;
            }
            if is_live_child(&own, folder) {
                by_id.insert(own.id.clone(), own);
            } else {
                by_id.remove(&own.id);
            }
        }
        Ok(by_id.into_values().collect())
    }
}

impl FolderLister for CacheLister {
    fn children<'a>(&'a self, folder: &'a str) -> BoxFuture<'a, Result<Vec<Node>>> {
        Box::pin(async move { self.children_now(folder) })
    }

    fn is_local(&self) -> bool {
        true
    }

    fn child_named<'a>(
        &'a self,
        folder: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<Node>>> {
        Box::pin(async move {
            let lower = name.to_lowercase();
            let matches = |n: &Node| is_live_child(n, folder) && n.name().to_lowercase() == lower;
            // Own writes may be newer than the last sync: they win where they are newer.
            let own: HashMap<String, Node> = self
                .journal
                .recent_in(folder)
                .into_iter()
                .map(|n| (n.id.clone(), n))
                .collect();
            if let Some(cached) = self.cache.child_named(folder, &lower)? {
                let newest = match own.get(&cached.id) {
                    Some(mine) if at_least_as_new(mine, &cached) => mine.clone(),
                    _ => cached,
                };
                if matches(&newest) {
                    return Ok(Some(newest));
                }
            }
            Ok(own.into_values().find(|n| matches(n)))
        })
    }
}
