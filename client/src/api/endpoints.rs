//! Endpoint discovery (`account/endpoint`), cached per remote for 3 days as Amazon advised.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::model::Endpoints;

/// How long a discovered endpoint pair is reused.
pub const CACHE_TTL: Duration = Duration::from_secs(3 * 24 * 3600);

/// The on-disk cache of one remote's endpoints.
#[derive(Debug, Clone)]
pub struct EndpointCache {
    path: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    endpoint_url: String,
    expires: u64,
    #[serde(flatten)]
    endpoints: Endpoints,
}

impl EndpointCache {
    /// The cache file for `remote` under `dir`.
    pub fn new(dir: PathBuf, remote: &str) -> Self {
        let safe: String = remote
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        Self {
            path: dir.join(format!("endpoints-{safe}.json")),
        }
    }

    /// The default cache directory.
    pub fn default_dir() -> Option<PathBuf> {
        directories::ProjectDirs::from("", "", "acd").map(|d| d.cache_dir().to_path_buf())
    }

    /// A cached, unexpired answer for `endpoint_url`.
    pub fn get(&self, endpoint_url: &str) -> Option<Endpoints> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        let entry: Entry = serde_json::from_str(&text).ok()?;
        (entry.endpoint_url == endpoint_url && entry.expires > now_secs())
            .then_some(entry.endpoints)
    }

    /// Remember an answer.
    pub fn put(&self, endpoint_url: &str, endpoints: &Endpoints) {
        let entry = Entry {
            endpoint_url: endpoint_url.to_string(),
            expires: now_secs() + CACHE_TTL.as_secs(),
            endpoints: endpoints.clone(),
        };
        if let Ok(json) = serde_json::to_vec(&entry)
            && let Err(e) = crate::config::write_private_atomically(&self.path, &json)
        {
            tracing::debug!("could not cache the endpoints: {e}");
        }
    }

    /// Forget the cached answer (after the cached URLs stopped working).
    pub fn clear(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
