#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod admin;
pub mod admin_access;
#[cfg(feature = "admin-client")]
pub mod admin_client;
pub mod api;
pub mod app;
pub mod auth;
pub mod clock;
pub mod config;
pub mod consent;
pub mod error;
pub mod extract;
pub mod faults;
pub mod intercept;
pub mod journal;
pub mod marks;
pub mod operation;
pub mod server;
pub mod state;
pub mod store;
pub mod tokens;
pub mod ui;
pub mod util;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub use config::MockConfig;
pub use state::AppState;
pub use store::filter::NameMatch;
pub use store::meta::Account;
pub use tokens::TokenResponse;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The data directory could not be prepared.
    #[error("cannot use the data directory {path}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The metadata database could not be opened.
    #[error("cannot open the metadata database: {0}")]
    Database(#[from] rusqlite::Error),
    /// The interception CA or TLS setup failed.
    #[error("cannot set up interception: {0}")]
    Intercept(#[from] intercept::InterceptError),
    /// A fault rule of the plan is invalid.
    #[error("invalid fault plan: {0}")]
    Faults(#[from] faults::rule::RuleError),
    /// Listening beyond loopback without an admin token would hand the admin API to anyone.
    #[error(
        "refusing to listen on {addr} without an admin token: anyone who can reach it could read every account and mint tokens for it. Set one with --admin-token TOKEN or ACD_MOCK_ADMIN_TOKEN=TOKEN (MockServerBuilder::admin_token in code), or listen on 127.0.0.1"
    )]
    AdminTokenRequired {
        /// The address.
        addr: SocketAddr,
    },
    /// An empty admin token would let anyone in.
    #[error("the admin token is empty: give --admin-token (ACD_MOCK_ADMIN_TOKEN) a secret value")]
    EmptyAdminToken,
    /// Something else went wrong while setting up.
    #[error("cannot start: {0}")]
    Setup(#[from] error::ApiError),
}

/// Builds a [`MockServer`].
#[derive(Debug, Clone, Default)]
pub struct MockServerBuilder {
    config: MockConfig,
}

impl MockServerBuilder {
    /// The address to bind (default `127.0.0.1:0`: a free port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.config.listen = addr;
        self
    }

    /// Persist metadata and blobs in `dir` across restarts.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.data_dir = Some(dir.into());
        self
    }

    /// The base URL to advertise in `account/endpoint` and tempLinks.
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.config.public_url = Some(url.into());
        self
    }

    /// Default listing page size.
    pub fn page_size(mut self, size: u32) -> Self {
        self.config.page_size = size.max(1);
        self
    }

    /// Access token lifetime.
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.config.token_lifetime = lifetime;
        self
    }

    /// How long trash is kept before it is purged (default 30 days, as the service).
    pub fn trash_retention(mut self, retention: Duration) -> Self {
        self.config.trash_retention = retention;
        self
    }

    /// Quota of each new account, in bytes.
    pub fn quota(mut self, bytes: u64) -> Self {
        self.config.quota = bytes;
        self
    }

    /// Allow this return URL on the sign-in page (call again for several; default: any).
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.config.redirect_uris.push(uri.into());
        self
    }

    /// Accept only this OAuth client (call again to accept several).
    pub fn client(mut self, id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.config.clients.push((id.into(), secret.into()));
        self
    }

    /// The default account's email and password.
    pub fn default_account(
        mut self,
        email: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.config.default_email = email.into();
        self.config.default_password = password.into();
        self
    }

    /// How `name:` filters compare names.
    pub fn name_match(mut self, names: NameMatch) -> Self {
        self.config.name_match = names;
        self
    }

    /// Also act as an HTTPS proxy for the service's hosts (see [`intercept`]).
    pub fn intercept(mut self, on: bool) -> Self {
        self.config.intercept = on;
        self
    }

    /// Where to keep the interception CA certificate (its key goes to `<path>.key`).
    pub fn ca_out(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.ca_out = Some(path.into());
        self
    }

    /// Start with these fault rules and switches.
    pub fn faults(mut self, plan: faults::FaultPlan) -> Self {
        self.config.faults = plan;
        self
    }

    /// Seed every random choice of the fault layer.
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = Some(seed);
        self
    }

    /// Require this token for `/_mock/*` and the dashboard (`Authorization: Bearer TOKEN`, or
    /// the dashboard's login form). Needed to listen beyond loopback.
    pub fn admin_token(mut self, token: impl Into<String>) -> Self {
        self.config.admin_token = Some(admin_access::AdminToken::new(token));
        self
    }

    /// Replaces the whole configuration.
    pub fn config(mut self, config: MockConfig) -> Self {
        self.config = config;
        self
    }

    /// Binds, opens the stores and starts serving in the background.
    pub async fn start(self) -> Result<MockServer, StartError> {
        let (listener, state) = prepare(self.config).await?;
        let (tx, rx) = oneshot::channel::<()>();
        let served = Arc::clone(&state);
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = rx.await;
            };
            if let Err(error) = serve(listener, served, shutdown).await {
                tracing::error!(%error, "server stopped");
            }
        });
        Ok(MockServer {
            state,
            shutdown: Some(tx),
            task: Some(task),
        })
    }
}

/// Binds the listener and opens the stores; creates the default account if missing.
pub async fn prepare(config: MockConfig) -> Result<(TcpListener, Arc<AppState>), StartError> {
    // The mock's TLS (interception) uses ring. Make it the process's rustls provider unless one
    // is installed: HTTP clients in the same process (tests, embedders) built without a provider
    // of their own (reqwest's `rustls-no-provider`) then work too.
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    check_admin_token(&config)?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.listen,
        source,
    })?;
    let base_url = config
        .public_url
        .clone()
        .map(|u| u.trim_end_matches('/').to_string())
        .unwrap_or_else(|| format!("http://{addr}"));
    let (meta_path, blob_dir) = match &config.data_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|source| StartError::DataDir {
                path: dir.clone(),
                source,
            })?;
            (Some(dir.join("meta.sqlite")), Some(dir.join("blobs")))
        }
        None => (None, None),
    };
    let meta = store::meta::MetaStore::open(meta_path.as_deref(), config.name_match)?;
    let blobs = store::blobs::BlobStore::open(blob_dir.as_deref()).map_err(|source| {
        StartError::DataDir {
            path: blob_dir.clone().unwrap_or_default(),
            source,
        }
    })?;
    if blob_dir.is_some()
        && let Err(error) = blobs.remove_orphans(&meta.all_blobs()?)
    {
        tracing::warn!(%error, "could not clean orphaned blobs");
    }
    let interceptor = if config.intercept {
        let ca_path = config
            .ca_out
            .clone()
            .or_else(|| config.data_dir.as_ref().map(|d| d.join("ca.pem")));
        Some(intercept::Interceptor::new(ca_path.as_deref())?)
    } else {
        None
    };
    let faults = faults::Faults::new(config.faults.clone(), config.seed, meta.clock().clone())?;
    let config_admin_token = config.admin_token.clone();
    let state = Arc::new(AppState {
        config,
        base_url,
        meta: Arc::new(meta),
        blobs,
        journal: journal::Journal::default(),
        consents: consent::PendingConsents::default(),
        interceptor,
        faults: Arc::new(faults),
        admin: admin_access::AdminAuth::new(config_admin_token),
    });
    admin::ensure_default_account(&state)?;
    Ok((listener, state))
}

/// The admin-token rules checked at start: a non-loopback address needs a token, and a token
/// must not be empty.
pub fn check_admin_token(config: &MockConfig) -> Result<(), StartError> {
    if config.admin_token.as_ref().is_some_and(|t| t.is_empty()) {
        return Err(StartError::EmptyAdminToken);
    }
    if !admin_access::listen_allowed(&config.listen, config.admin_token.as_ref()) {
        return Err(StartError::AdminTokenRequired {
            addr: config.listen,
        });
    }
    Ok(())
}

/// Serves until `shutdown` resolves, then finishes in-flight requests and returns (open event
/// streams end at once, so they do not hold the shutdown up).
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let streams = Arc::clone(&state);
    let shutdown = async move {
        shutdown.await;
        streams.journal.close_streams();
    };
    server::serve(listener, state, shutdown).await
}

/// A running mock server. Dropping it stops the server.
#[derive(Debug)]
pub struct MockServer {
    state: Arc<AppState>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl MockServer {
    /// Starts configuring a server.
    pub fn builder() -> MockServerBuilder {
        MockServerBuilder::default()
    }

    /// The base URL, e.g. `http://127.0.0.1:40123` (no trailing slash).
    pub fn url(&self) -> &str {
        &self.state.base_url
    }

    /// The URL of the endpoint-discovery call (`.../drive/v1/account/endpoint`).
    pub fn endpoint_url(&self) -> String {
        format!("{}account/endpoint", self.state.metadata_url())
    }

    /// The metadata API base (`.../drive/v1/`).
    pub fn metadata_url(&self) -> String {
        self.state.metadata_url()
    }

    /// The content API base (`.../cdproxy/`).
    pub fn content_url(&self) -> String {
        self.state.content_url()
    }

    /// The token endpoint (`.../auth/o2/token`).
    pub fn token_url(&self) -> String {
        format!("{}/auth/o2/token", self.state.base_url)
    }

    /// Mints tokens for an account (`None`: the default account).
    pub fn mint_token(&self, email: Option<&str>) -> Result<TokenResponse, error::ApiError> {
        let email = email.unwrap_or(&self.state.config.default_email);
        let account = self.state.meta.account_by_email(email)?.ok_or_else(|| {
            error::ApiError::NotFound(format!("No account with the email {email}"))
        })?;
        tokens::issue_tokens(
            &self.state.meta,
            account.id,
            "",
            None,
            self.state.config.token_lifetime,
        )
    }

    /// Creates another account with the default quota.
    pub fn create_account(&self, email: &str, password: &str) -> Result<Account, error::ApiError> {
        self.state
            .meta
            .create_account(email, password, self.state.config.quota)
    }

    /// The interception CA certificate (PEM), when interception is on.
    pub fn ca_cert_path(&self) -> Option<&std::path::Path> {
        self.state.interceptor.as_ref().map(|i| i.ca_path())
    }

    /// The shared state (stores, journal, configuration), for tests that look inside.
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Stops accepting connections, finishes in-flight requests and waits for the server.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
