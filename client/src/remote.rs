//! Opening a configured remote: configuration, token source, endpoint discovery, pacer, the
//! metadata cache with its own-writes journal, and path resolution, bundled for the commands.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::api::Drive;
use crate::api::endpoints::EndpointCache;
use crate::auth::{TokenSource, TokenStore};
use crate::cache::journal::Journal;
use crate::cache::{Cache, metadata_dir};
use crate::config::{ConfigFile, RemoteConfig};
use crate::dircache::DirCache;
use crate::error::{Error, Result};
use crate::ops::lister::{ApiLister, CacheLister, FolderLister};
use crate::pacer::{Pacer, PacerConfig};

/// Process-wide settings every remote is opened with.
#[derive(Debug, Clone)]
pub struct Session {
    /// The configuration file.
    pub config_path: PathBuf,
    /// Option overrides from the environment and flags (flags win).
    pub overrides: BTreeMap<String, String>,
    /// The HTTP client.
    pub http: reqwest::Client,
    /// Pacing and retry limits.
    pub pacer: PacerConfig,
    /// Where endpoint answers and the metadata caches (under `metadata/`) are kept (`None`:
    /// no cache on disk; own writes are then remembered by this process only).
    pub cache_dir: Option<PathBuf>,
}

/// An opened remote.
#[derive(Debug)]
pub struct Remote {
    /// Its settings.
    pub config: RemoteConfig,
    /// The connected drive.
    pub drive: Arc<Drive>,
    /// Path resolution.
    pub dirs: DirCache,
    /// The account's metadata cache, when its directory is usable.
    pub cache: Option<Arc<Cache>>,
    /// The own-writes journal (every write is recorded in it).
    pub journal: Arc<Journal>,
    /// "List this folder": the API, or the synced cache with `fast_list`.
    pub lister: Arc<dyn FolderLister>,
}

/// Set once the "cannot use the metadata cache" warning has been given.
static CACHE_WARNED: AtomicBool = AtomicBool::new(false);

impl Session {
    /// Read one remote's settings, with overrides applied.
    pub fn remote_config(&self, name: &str) -> Result<RemoteConfig> {
        let file = ConfigFile::load(&self.config_path)?;
        let section = file.section(name).ok_or_else(|| {
            let known = file.remotes();
            if known.is_empty() {
                Error::Config(format!(
                    "no remote {name:?}: {} has no remotes; create one with `acd config`",
                    self.config_path.display()
                ))
            } else {
                Error::Config(format!(
                    "no remote {name:?} in {}; the remotes there are: {}; or create it with `acd config`",
                    self.config_path.display(),
                    known.join(", ")
                ))
            }
        })?;
        RemoteConfig::from_section(name, &section, &self.overrides)
    }

    /// Open a remote: load its token, discover its endpoints, open the account's metadata
    /// cache (when [`Session::cache_dir`] is set) and, with `fast_list`, sync it.
    pub async fn open(&self, name: &str) -> Result<Remote> {
        let (config, drive) = self.connect(name).await?;
        let cache = match &self.cache_dir {
            Some(dir) => open_cache(&drive, &metadata_dir(dir)).await?,
            None => None,
        };
        let journal = Arc::new(Journal::new(config.consistency_window, cache.clone()));
        drive.set_write_log(journal.clone());
        let mut lister: Arc<dyn FolderLister> = Arc::new(ApiLister {
            drive: drive.clone(),
        });
        if config.fast_list {
            match &cache {
                Some(cache) => match crate::cache::sync::sync(&drive, cache, true).await {
                    Ok(_) => {
                        lister = Arc::new(CacheLister {
                            cache: cache.clone(),
                            journal: journal.clone(),
                        });
                    }
                    Err(e) => tracing::warn!(
                        "--fast-list: the metadata cache could not be synced ({e}); listing through the API"
                    ),
                },
                None => tracing::warn!("--fast-list: no metadata cache; listing through the API"),
            }
        }
        let dirs = DirCache::new(drive.clone(), config.encoding).with_lister(lister.clone());
        Ok(Remote {
            config,
            drive,
            dirs,
            cache,
            journal,
            lister,
        })
    }

    /// Remove the metadata cache of remote `name`'s account; its path when there was one.
    pub async fn clear_cache(&self, name: &str) -> Result<Option<PathBuf>> {
        let Some(dir) = &self.cache_dir else {
            return Ok(None);
        };
        let (_, drive) = self.connect(name).await?;
        let account = drive.root().await?.id.clone();
        let dir = metadata_dir(dir);
        let path = crate::cache::file_for(&dir, &account);
        let removed = tokio::task::spawn_blocking(move || Cache::clear(&dir, &account))
            .await
            .map_err(|e| Error::Usage(format!("cache task failed: {e}")))??;
        Ok(removed.then_some(path))
    }

    /// Settings, token source, pacer and endpoints: a connected drive, no cache yet.
    async fn connect(&self, name: &str) -> Result<(RemoteConfig, Arc<Drive>)> {
        let config = self.remote_config(name)?;
        let store = TokenStore {
            path: self.config_path.clone(),
            remote: name.to_string(),
        };
        let auth = TokenSource::new(&config, self.http.clone(), Some(store))?;
        let pacer = Arc::new(Pacer::new(self.pacer.clone()));
        let cache = self
            .cache_dir
            .clone()
            .map(|dir| EndpointCache::new(dir, name));
        let drive = Arc::new(
            Drive::connect(self.http.clone(), auth, pacer, &config.endpoint_url, cache).await?,
        );
        Ok((config, drive))
    }
}

/// Open the account's cache in `dir` (named by the root folder's id). A directory that cannot
/// be written is warned about once and the remote works without the cache.
async fn open_cache(drive: &Drive, dir: &std::path::Path) -> Result<Option<Arc<Cache>>> {
    let account = drive.root().await?.id.clone();
    let dir = dir.to_path_buf();
    let shown = dir.clone();
    let opened = tokio::task::spawn_blocking(move || Cache::open(&dir, &account))
        .await
        .map_err(|e| Error::Usage(format!("cache task failed: {e}")))?;
    match opened {
        Ok(cache) => Ok(Some(Arc::new(cache))),
        Err(e) => {
            if !CACHE_WARNED.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "cannot use the metadata cache in {} ({e}); working without it (own writes are remembered by this process only)",
                    shown.display()
                );
            }
            Ok(None)
        }
    }
}
