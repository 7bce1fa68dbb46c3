//! The shared state of one server: its stores, journal, fault state and settings.
//!
//! Handlers take the whole state ([`AppStateRef`]); the middlewares take only the part they
//! need, as axum sub-states ([`axum::extract::FromRef`]): the journal its [`Journal`], the
//! admin gate its [`AdminAuth`], the fault layer a [`FaultGate`].

use std::sync::Arc;

use axum::extract::FromRef;

use crate::admin_access::AdminAuth;
use crate::config::MockConfig;
use crate::consent::PendingConsents;
use crate::faults::Faults;
use crate::faults::layer::FaultGate;
use crate::intercept::Interceptor;
use crate::journal::Journal;
use crate::store::blobs::BlobStore;
use crate::store::meta::MetaStore;

/// Everything the handlers share.
#[derive(Debug)]
pub struct AppState {
    /// The settings the server started with.
    pub config: MockConfig,
    /// The base URL clients reach the server at (no trailing slash).
    pub base_url: String,
    /// Metadata.
    pub meta: Arc<MetaStore>,
    /// Bytes.
    pub blobs: BlobStore,
    /// The request journal.
    pub journal: Journal,
    /// Sign-ins waiting for the user's Allow or Deny.
    pub consents: PendingConsents,
    /// The TLS side of `--intercept`, when on.
    pub interceptor: Option<Interceptor>,
    /// Fault rules, switches and their state.
    pub faults: Arc<Faults>,
    /// Who may use `/_mock/*` and the dashboard.
    pub admin: AdminAuth,
}

impl AppState {
    /// Lets the due phantom uploads and overwrites of `account` become real (reference §8.6);
    /// a `search` also counts as one lookup for phantoms that wait for searches.
    pub fn settle_phantoms(&self, account: i64, search: bool) {
        for blob in self.faults.phantoms.settle(&self.meta, account, search) {
            self.blobs.remove(&blob);
        }
    }

    /// Purges the trash of `account` older than the trash retention by the mock's clock
    /// (reference §6.11); the purged nodes appear as `PURGED` in the changes feed (§6.13).
    /// Called before each authenticated request and when the clock is moved.
    pub fn purge_expired_trash(&self, account: i64) -> crate::error::ApiResult<()> {
        let retention = i64::try_from(self.config.trash_retention.as_millis()).unwrap_or(i64::MAX);
        let (_, blobs) = self.meta.purge_expired(account, retention)?;
        for blob in blobs {
            self.blobs.remove(&blob);
        }
        Ok(())
    }

    /// The mock's current time in epoch milliseconds (the test clock, see [`crate::clock`]).
    pub fn now_ms(&self) -> i64 {
        self.meta.clock().now_ms()
    }

    /// The mock's test clock.
    pub fn clock(&self) -> &Arc<crate::clock::Clock> {
        self.meta.clock()
    }

    /// `metadataUrl`: the metadata API base, with its trailing slash.
    pub fn metadata_url(&self) -> String {
        format!("{}/drive/v1/", self.base_url)
    }

    /// `contentUrl`: the content API base, with its trailing slash.
    pub fn content_url(&self) -> String {
        format!("{}/cdproxy/", self.base_url)
    }
}

/// The shared state type handlers receive.
pub type AppStateRef = axum::extract::State<Arc<AppState>>;

impl FromRef<Arc<AppState>> for Journal {
    fn from_ref(state: &Arc<AppState>) -> Self {
        state.journal.clone()
    }
}

impl FromRef<Arc<AppState>> for AdminAuth {
    fn from_ref(state: &Arc<AppState>) -> Self {
        state.admin.clone()
    }
}

impl FromRef<Arc<AppState>> for FaultGate {
    fn from_ref(state: &Arc<AppState>) -> Self {
        FaultGate {
            faults: Arc::clone(&state.faults),
            meta: Arc::clone(&state.meta),
            max_json_body: state.config.max_json_body,
        }
    }
}
