//! Opening a configured remote: configuration, token source, endpoint discovery, pacer and
//! path cache, bundled together for the commands.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::api::Drive;
use crate::api::endpoints::EndpointCache;
use crate::auth::{TokenSource, TokenStore};
use crate::config::{ConfigFile, RemoteConfig};
use crate::dircache::DirCache;
use crate::error::{Error, Result};
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
    /// Where endpoint answers are cached (`None`: no cache).
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
}

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

    /// Open a remote: load its token, discover its endpoints.
    pub async fn open(&self, name: &str) -> Result<Remote> {
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
        let dirs = DirCache::new(drive.clone(), config.encoding);
        Ok(Remote {
            config,
            drive,
            dirs,
        })
    }
}
