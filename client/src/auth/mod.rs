//! Signing in: the saved token, its refresh, and the browser flows that obtain it.
//!
//! - [`Token`] is x/oauth2's JSON shape, as rclone stores it in the `token` option.
//! - [`TokenSource`] hands out a valid access token to every task of a remote. It refreshes
//!   ahead of expiry, once at a time, under a file lock, re-reading the configuration first in
//!   case another process refreshed already, and saves the result.
//! - [`oauth`] talks to the token endpoint (code exchange and refresh) through the oauth2 crate.
//! - [`webserver`] is the local redirect listener of the browser flow.

pub mod oauth;
pub mod webserver;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};

use crate::config::{ConfigFile, RemoteConfig};
use crate::error::{Error, Result};

/// Refresh this long before the stated expiry (acd_cli used 120 s, x/oauth2 10 s).
pub const REFRESH_AHEAD: Duration = Duration::from_secs(120);

/// An OAuth token as rclone saves it (golang/oauth2's JSON).
#[derive(Clone)]
pub struct Token {
    /// The bearer token (`Atza|...`).
    pub access_token: SecretString,
    /// Always "bearer".
    pub token_type: String,
    /// The refresh token (`Atzr|...`).
    pub refresh_token: SecretString,
    /// When the access token stops working.
    pub expiry: Option<DateTime<Utc>>,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("access_token", &"<redacted>")
            .field("refresh_token", &"<redacted>")
            .field("expiry", &self.expiry)
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
struct TokenJson {
    access_token: String,
    #[serde(default)]
    token_type: String,
    #[serde(default)]
    refresh_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expiry: Option<String>,
}

impl Token {
    /// Parse the `token` option (x/oauth2 JSON; `expiry` in RFC 3339 with any offset).
    pub fn from_json(text: &str) -> std::result::Result<Self, String> {
        let raw: TokenJson = serde_json::from_str(text).map_err(|e| {
            // serde's message may quote the input; keep only the position.
            format!("invalid JSON at line {} column {}", e.line(), e.column())
        })?;
        let expiry = match raw.expiry.as_deref() {
            None | Some("") | Some("0001-01-01T00:00:00Z") => None,
            Some(t) => Some(
                DateTime::parse_from_rfc3339(t)
                    .map_err(|e| format!("expiry {t:?}: {e}"))?
                    .with_timezone(&Utc),
            ),
        };
        Ok(Self {
            access_token: SecretString::from(raw.access_token),
            token_type: if raw.token_type.is_empty() {
                "bearer".into()
            } else {
                raw.token_type
            },
            refresh_token: SecretString::from(raw.refresh_token),
            expiry,
        })
    }

    /// The JSON to save in the `token` option.
    pub fn to_json(&self) -> String {
        let raw = TokenJson {
            access_token: self.access_token.expose_secret().to_string(),
            token_type: self.token_type.clone(),
            refresh_token: self.refresh_token.expose_secret().to_string(),
            expiry: self
                .expiry
                .map(|e| e.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
        };
        serde_json::to_string(&raw).unwrap_or_default()
    }

    /// True when the token is missing, expired, or expires within `ahead`.
    pub fn needs_refresh(&self, now: DateTime<Utc>, ahead: Duration) -> bool {
        if self.access_token.expose_secret().is_empty() {
            return true;
        }
        match self.expiry {
            None => false,
            Some(expiry) => {
                let ahead = chrono::Duration::from_std(ahead).unwrap_or_default();
                expiry - ahead <= now
            }
        }
    }
}

/// Where a refreshed token is saved: a remote's section in a configuration file.
#[derive(Debug, Clone)]
pub struct TokenStore {
    /// The configuration file.
    pub path: PathBuf,
    /// The remote's section name.
    pub remote: String,
}

impl TokenStore {
    /// Read the token currently saved in the file (another process may have refreshed it).
    fn read(&self) -> Option<Token> {
        let file = ConfigFile::load(&self.path).ok()?;
        let json = file.section(&self.remote)?.get("token")?.clone();
        Token::from_json(&json).ok()
    }

    /// Save a token into the file, keeping everything else in it.
    fn write(&self, token: &Token) -> Result<()> {
        let mut file = ConfigFile::load(&self.path)?;
        file.set(&self.remote, "token", &token.to_json());
        file.save()
    }

    /// Take an exclusive lock on `<config>.lock` (blocking); it is released when the
    /// returned file is dropped.
    fn lock(&self) -> Result<std::fs::File> {
        let lock_path = self.path.with_extension("lock");
        if let Some(dir) = lock_path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let mut options = std::fs::OpenOptions::new();
        options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options
            .open(&lock_path)
            .map_err(|e| Error::io(format!("open {}", lock_path.display()), e))?;
        file.lock()
            .map_err(|e| Error::io(format!("lock {}", lock_path.display()), e))?;
        Ok(file)
    }
}

/// Hands out valid access tokens to all tasks of one remote, refreshing when needed.
pub struct TokenSource {
    settings: oauth::OAuthSettings,
    http: reqwest::Client,
    store: Option<TokenStore>,
    current: tokio::sync::Mutex<Token>,
    refreshes: std::sync::atomic::AtomicU64,
    pacer: std::sync::OnceLock<Arc<crate::pacer::Pacer>>,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    /// A token source for `remote`, saving refreshed tokens to `store` (if any).
    pub fn new(
        remote: &RemoteConfig,
        http: reqwest::Client,
        store: Option<TokenStore>,
    ) -> Result<Arc<Self>> {
        let token = remote.token.clone().ok_or_else(|| {
            Error::Config(format!(
                "remote {:?} has no token yet; run `acd config reconnect {}` to sign in",
                remote.name, remote.name
            ))
        })?;
        Ok(Arc::new(Self {
            settings: oauth::OAuthSettings::from_remote(remote),
            http,
            store,
            current: tokio::sync::Mutex::new(token),
            refreshes: Default::default(),
            pacer: std::sync::OnceLock::new(),
        }))
    }

    /// Pace (and retry) token requests with the remote's pacer from now on (once; later calls
    /// are ignored). Without one, refreshes get a pacer of their own.
    pub fn pace_with(&self, pacer: Arc<crate::pacer::Pacer>) {
        let _ = self.pacer.set(pacer);
    }

    /// How many refreshes this source has made.
    pub fn refresh_count(&self) -> u64 {
        self.refreshes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// When the current access token expires.
    pub async fn expiry(&self) -> Option<DateTime<Utc>> {
        self.current.lock().await.expiry
    }

    /// A valid access token, refreshed first if it expires within [`REFRESH_AHEAD`].
    pub async fn access_token(&self) -> Result<SecretString> {
        let mut current = self.current.lock().await;
        if current.needs_refresh(Utc::now(), REFRESH_AHEAD) {
            self.refresh_locked(&mut current, None).await?;
        }
        Ok(current.access_token.clone())
    }

    /// The service refused `rejected` (a 401): refresh, unless another task already did.
    pub async fn invalidate(&self, rejected: &SecretString) -> Result<()> {
        let mut current = self.current.lock().await;
        if current.access_token.expose_secret() != rejected.expose_secret() {
            return Ok(());
        }
        self.refresh_locked(&mut current, Some(rejected.expose_secret()))
            .await
    }

    /// Refresh while holding the in-process lock, under the file lock.
    async fn refresh_locked(&self, current: &mut Token, rejected: Option<&str>) -> Result<()> {
        // Hold the file lock for the whole refresh, so that two processes never both refresh.
        let (_lock, saved) = match self.store.clone() {
            Some(store) => {
                let (lock, saved) = tokio::task::spawn_blocking(move || {
                    store.lock().map(|lock| (lock, store.read()))
                })
                .await
                .map_err(|e| Error::Auth(format!("token refresh task failed: {e}")))??;
                (Some(lock), saved)
            }
            None => (None, None),
        };
        // Another process may have refreshed already: adopt its token if it is usable.
        if let Some(saved) = saved {
            let fresh = !saved.needs_refresh(Utc::now(), REFRESH_AHEAD);
            let different = Some(saved.access_token.expose_secret()) != rejected
                && saved.access_token.expose_secret() != current.access_token.expose_secret();
            if fresh && different {
                tracing::debug!("using the token another process refreshed");
                *current = saved;
                return Ok(());
            }
            if !saved.refresh_token.expose_secret().is_empty() {
                current.refresh_token = saved.refresh_token;
            }
        }
        tracing::debug!("refreshing the access token");
        let pacer = self
            .pacer
            .get_or_init(|| Arc::new(oauth::token_pacer()))
            .clone();
        let fresh = oauth::refresh(&self.settings, &self.http, &pacer, current).await?;
        self.refreshes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(store) = self.store.clone() {
            let token = fresh.clone();
            tokio::task::spawn_blocking(move || store.write(&token))
                .await
                .map_err(|e| Error::Auth(format!("token save task failed: {e}")))??;
        }
        *current = fresh;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rclone_token_json_round_trips() {
        let json = r#"{"access_token":"Atza|a","token_type":"bearer","refresh_token":"Atzr|r","expiry":"2026-11-27T13:05:44.123456789+01:00"}"#;
        let token = Token::from_json(json).unwrap();
        assert_eq!(
            token.expiry.unwrap().to_rfc3339(),
            "2026-11-27T12:05:44.123456789+00:00"
        );
        let again = Token::from_json(&token.to_json()).unwrap();
        assert_eq!(again.access_token.expose_secret(), "Atza|a");
        assert_eq!(again.refresh_token.expose_secret(), "Atzr|r");
        assert_eq!(again.expiry, token.expiry);
    }

    #[test]
    fn parse_errors_do_not_echo_the_token() {
        let err = Token::from_json(r#"{"access_token":"Atza|secret" "#).unwrap_err();
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn refresh_is_due_ahead_of_expiry() {
        let now = Utc::now();
        let mut token = Token::from_json(r#"{"access_token":"a","refresh_token":"r"}"#).unwrap();
        assert!(
            !token.needs_refresh(now, REFRESH_AHEAD),
            "no expiry: never due"
        );
        token.expiry = Some(now + chrono::Duration::seconds(60));
        assert!(token.needs_refresh(now, REFRESH_AHEAD));
        token.expiry = Some(now + chrono::Duration::seconds(600));
        assert!(!token.needs_refresh(now, REFRESH_AHEAD));
    }
}
