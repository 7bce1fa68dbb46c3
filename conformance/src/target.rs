//! Targets: the in-process mock, a running mock, or a real account; what each can do; the run
//! folder everything happens in.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use std::sync::Arc;
use std::time::Duration;

use acd_client::pacer::{Pacer, PacerConfig};
use acd_mock::TokenResponse;
use acd_mock::admin_client::MintRequest;
use reqwest::Method;
use serde_json::{Value, json};

use crate::api::{Api, CallStats, Transport, id, short};
use crate::check::{Capability, Failure};

/// Which target to run against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSpec {
    /// Start acd-mock in-process (the default).
    Mock,
    /// A running acd-mock at this base URL.
    Url(String),
    /// A real account through an `acd` config remote.
    Remote {
        /// The remote's name.
        name: String,
        /// The config file (default: acd's).
        config: Option<PathBuf>,
    },
}

impl std::str::FromStr for TargetSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "mock" {
            Ok(Self::Mock)
        } else if let Some(url) = s.strip_prefix("url=") {
            url::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
            Ok(Self::Url(url.trim_end_matches('/').to_string()))
        } else if let Some(name) = s.strip_prefix("remote=") {
            Ok(Self::Remote {
                name: name.trim_end_matches(':').to_string(),
                config: None,
            })
        } else {
            Err(format!(
                "unknown target {s:?}: use mock, url=http://HOST:PORT or remote=NAME"
            ))
        }
    }
}

/// Why a target could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The in-process mock did not start.
    #[error("could not start the embedded acd-mock: {0}")]
    MockStart(String),
    /// The server did not answer as a mock.
    #[error("{url} is not reachable as an acd-mock: {reason}")]
    Unreachable {
        /// The URL tried.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The options cannot be used.
    #[error("{0}")]
    Options(String),
    /// The remote could not be opened.
    #[error("remote {name:?}: {reason}")]
    Remote {
        /// The remote.
        name: String,
        /// What went wrong.
        reason: String,
    },
}

/// The mock's admin API (paced and retried like every call of the run).
#[derive(Debug, Clone)]
pub struct Admin {
    /// The mock's base URL (`http://HOST:PORT`).
    pub base: String,
    http: reqwest::Client,
    transport: Transport,
}

impl Admin {
    /// An admin client for a mock at `base`.
    pub fn new(base: &str, http: reqwest::Client, transport: Transport) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            http,
            transport,
        }
    }

    /// The same admin API, counting its calls into one check's stats.
    pub fn for_check(&self, stats: Arc<CallStats>) -> Self {
        Self {
            transport: self.transport.for_check(stats),
            ..self.clone()
        }
    }

    /// Call `/_mock/{path}`; the JSON answer, or a failure naming the call.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Failure> {
        let mut request = self
            .http
            .request(method, format!("{}/_mock/{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply = self.transport.send(request).await;
        let text = reply.text();
        if reply.status == 0 {
            return Err(Failure::new(format!("/_mock/{path} answers"), text));
        }
        if !(200..300).contains(&reply.status) {
            return Err(Failure::new(
                format!("/_mock/{path}: 2xx"),
                format!("HTTP {}: {}", reply.status, short(&text)),
            ));
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Add one fault rule; returns its id.
    pub async fn add_rule(&self, rule: Value) -> Result<String, Failure> {
        let answer = self.call(Method::POST, "faults", Some(rule)).await?;
        answer["ids"][0]
            .as_str()
            .or_else(|| answer["id"].as_str())
            .map(str::to_string)
            .ok_or_else(|| Failure::new("a rule id", answer.to_string()))
    }

    /// How often a rule fired.
    pub async fn fired(&self, rule: &str) -> Result<u64, Failure> {
        let answer = self
            .call(Method::GET, &format!("faults/{rule}"), None)
            .await?;
        Ok(answer["fired"].as_u64().unwrap_or(0))
    }

    /// Remove one scope's rules.
    pub async fn clear_scope(&self, scope: &str) -> Result<(), Failure> {
        self.call(Method::DELETE, &format!("faults?scope={scope}"), None)
            .await
            .map(|_| ())
    }

    /// Mint a token for the default account.
    pub async fn mint(&self) -> Result<Value, Failure> {
        self.mint_with(&MintRequest::default()).await
    }

    /// Mint a token for the default account issued to the OAuth client (app) `client_id`.
    pub async fn mint_for_app(&self, client_id: &str) -> Result<Value, Failure> {
        self.mint_with(&MintRequest {
            client_id: Some(client_id.into()),
            ..MintRequest::default()
        })
        .await
    }

    /// `POST /_mock/tokens` with a typed body (acd-mock's own request type).
    pub async fn mint_with(&self, request: &MintRequest) -> Result<Value, Failure> {
        let body = serde_json::to_value(request)
            .map_err(|e| Failure::new("a token request", e.to_string()))?;
        self.call(Method::POST, "tokens", Some(body)).await
    }

    /// [`Admin::mint`], typed.
    pub async fn mint_token(&self) -> Result<TokenResponse, Failure> {
        let minted = self.mint().await?;
        serde_json::from_value(minted.clone()).map_err(|e| {
            Failure::new(
                "a token JSON",
                format!("{e}: {}", short(&minted.to_string())),
            )
        })
    }

    /// Expire an access token now.
    pub async fn expire(&self, access_token: &str) -> Result<(), Failure> {
        self.call(
            Method::POST,
            "tokens/expire",
            Some(json!({"access_token": access_token})),
        )
        .await
        .map(|_| ())
    }

    /// Build nodes with the seed API under `parent`.
    pub async fn seed(&self, parent: &str, nodes: Value) -> Result<Value, Failure> {
        self.call(
            Method::POST,
            "seed",
            Some(json!({"parent": parent, "nodes": nodes})),
        )
        .await
    }
}

/// What a check may use to sign in again (token endpoint checks).
#[derive(Debug, Clone)]
pub struct OAuthClient {
    /// The token endpoint.
    pub token_url: String,
    /// A client id the endpoint accepts.
    pub client_id: String,
    /// Its secret.
    pub client_secret: String,
    /// A refresh token for the account.
    pub refresh_token: String,
}

/// A connected target.
pub struct Target {
    /// How the report names it.
    pub label: String,
    /// The discovery URL.
    pub endpoint_url: String,
    /// The API with the run's token (no scope).
    pub api: Api,
    /// The admin API, on mocks.
    pub admin: Option<Admin>,
    /// What the target can do.
    pub capabilities: BTreeSet<Capability>,
    /// Known divergences: check id → reason (reported XFAIL).
    pub divergences: BTreeMap<String, String>,
    /// Token endpoint facts, when known.
    pub oauth: Option<OAuthClient>,
    /// The folder this run works in (`acd-conformance-<random>`).
    pub run_folder: String,
    /// Its name.
    pub run_folder_name: String,
    /// The most bytes the run may upload.
    pub max_bytes: u64,
    /// The run's pacing and retries (and its call counts).
    pub transport: Transport,
    /// How long a check waits for a listing to show a change; `None` with
    /// `consistent_listings` (no waiting: the first answer is final).
    pub settle: Option<Duration>,
    uploaded: AtomicU64,
    _mock: Option<acd_mock::MockServer>,
}

impl Target {
    /// Is this the mock the suite started in-process (no one else uses it)?
    pub fn is_embedded_mock(&self) -> bool {
        self._mock.is_some()
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("label", &self.label)
            .field("capabilities", &self.capabilities)
            .finish_non_exhaustive()
    }
}

/// Settings for connecting.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The seed for the mock and generated data.
    pub seed: u64,
    /// The upload cap.
    pub max_bytes: u64,
    /// Capability overrides: `(capability, present)`.
    pub capability_overrides: Vec<(Capability, bool)>,
    /// Divergences given on the command line.
    pub divergences: BTreeMap<String, String>,
    /// At most this many request starts per second (`--tpslimit`); `None`: the pacer's
    /// 20 ms spacing only. Ignored by the embedded clean mock, which is never paced.
    pub tpslimit: Option<f64>,
    /// How long a check waits for a listing to show a change (`--settle`).
    pub settle: Duration,
}

impl ConnectOptions {
    /// Options for a target with this seed and everything else at its default.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            max_bytes: u64::MAX,
            capability_overrides: Vec::new(),
            divergences: BTreeMap::new(),
            tpslimit: None,
            settle: DEFAULT_SETTLE,
        }
    }
}

/// How long a check waits by default for a listing to show a change (§8.8).
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(30);

/// The pacer for targets other than the embedded clean mock: acd-client's (20 ms between
/// starts, random exponential back-off honouring `Retry-After`), slowed to `tpslimit` starts a
/// second when given, with back-off capped at 30 s so a run does not stall for minutes.
pub fn pacer_config(tpslimit: Option<f64>) -> Result<PacerConfig, String> {
    let default = PacerConfig::default();
    let min_sleep = match tpslimit {
        None => default.min_sleep,
        Some(tps) if tps.is_finite() && tps > 0.0 => Duration::try_from_secs_f64(1.0 / tps)
            .map_err(|_| format!("--tpslimit {tps}: too small"))?
            .max(Duration::from_micros(1)),
        Some(tps) => {
            return Err(format!(
                "--tpslimit {tps}: use a positive number of calls per second"
            ));
        }
    };
    Ok(PacerConfig {
        min_sleep,
        max_sleep: Duration::from_secs(30).max(min_sleep),
        attempts: 10,
        budget: Duration::from_secs(5 * 60),
    })
}

/// A plain HTTP client for checks: no automatic redirects.
pub fn http_client() -> Result<reqwest::Client, TargetError> {
    acd_client::http::build_client(&Default::default())
        .map_err(|e| TargetError::MockStart(e.to_string()))
}

fn ends_slash(url: &str) -> String {
    if url.ends_with('/') {
        url.to_string()
    } else {
        format!("{url}/")
    }
}

async fn discover(
    http: &reqwest::Client,
    transport: &Transport,
    endpoint_url: &str,
    token: &str,
) -> Result<(url::Url, url::Url), String> {
    let reply = transport
        .send(http.get(endpoint_url).bearer_auth(token))
        .await;
    if reply.status == 0 {
        return Err(reply.text());
    }
    let body = reply.json();
    if !(200..300).contains(&reply.status) {
        return Err(format!(
            "endpoint discovery answered HTTP {}: {}",
            reply.status,
            short(&reply.text())
        ));
    }
    let parse = |field: &str| {
        body[field]
            .as_str()
            .ok_or_else(|| format!("no {field} in {body}"))
            .and_then(|u| url::Url::parse(&ends_slash(u)).map_err(|e| e.to_string()))
    };
    Ok((parse("metadataUrl")?, parse("contentUrl")?))
}

impl Target {
    /// Connect to `spec` and make the run folder.
    pub async fn connect(spec: &TargetSpec, options: &ConnectOptions) -> Result<Self, TargetError> {
        let http = http_client()?;
        let transport = match spec {
            TargetSpec::Mock => Transport::default(),
            _ => Transport {
                pacer: Some(Arc::new(Pacer::new(
                    pacer_config(options.tpslimit).map_err(TargetError::Options)?,
                ))),
                ..Transport::default()
            },
        };
        let mut mock = None;
        let (label, base, token, oauth, admin, mut capabilities) = match spec {
            TargetSpec::Mock => {
                let server = acd_mock::MockServer::builder()
                    .listen(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
                    .client("conformance-client", "conformance-secret")
                    .seed(options.seed)
                    .start()
                    .await
                    .map_err(|e| TargetError::MockStart(e.to_string()))?;
                let minted = server
                    .mint_token(None)
                    .map_err(|e| TargetError::MockStart(e.to_string()))?;
                let base = server.url().to_string();
                let oauth = OAuthClient {
                    token_url: server.token_url(),
                    client_id: "conformance-client".into(),
                    client_secret: "conformance-secret".into(),
                    refresh_token: minted.refresh_token.clone(),
                };
                mock = Some(server);
                (
                    "mock (embedded)".to_string(),
                    Some(base.clone()),
                    minted.access_token,
                    Some(oauth),
                    Some(Admin::new(&base, http.clone(), transport.clone())),
                    Capability::ALL.iter().copied().collect::<BTreeSet<_>>(),
                )
            }
            TargetSpec::Url(base) => {
                let admin = Admin::new(base, http.clone(), transport.clone());
                let minted = admin
                    .mint_token()
                    .await
                    .map_err(|f| TargetError::Unreachable {
                        url: base.clone(),
                        reason: f.got,
                    })?;
                let token = minted.access_token;
                let oauth = OAuthClient {
                    token_url: format!("{base}/auth/o2/token"),
                    client_id: "conformance-client".into(),
                    client_secret: "conformance-secret".into(),
                    refresh_token: minted.refresh_token,
                };
                (
                    format!("mock at {base}"),
                    Some(base.clone()),
                    token,
                    Some(oauth),
                    Some(admin),
                    // A running mock may lag (its listing lag is a setting): wait.
                    Capability::ALL
                        .iter()
                        .copied()
                        .filter(|c| *c != Capability::ConsistentListings)
                        .collect(),
                )
            }
            TargetSpec::Remote { name, config } => {
                let token = remote_token(name, config.clone(), http.clone()).await?;
                (
                    format!("remote {name}:"),
                    None,
                    token,
                    None,
                    None,
                    [
                        Capability::CaseInsensitive,
                        Capability::TempLink,
                        Capability::Changes,
                    ]
                    .into_iter()
                    .collect(),
                )
            }
        };
        let endpoint_url = match (&base, spec) {
            (Some(base), _) => format!("{base}/drive/v1/account/endpoint"),
            (None, TargetSpec::Remote { name, config }) => remote_endpoint(name, config.clone())
                .map_err(|reason| TargetError::Remote {
                    name: name.clone(),
                    reason,
                })?,
            _ => acd_client::config::DEFAULT_ENDPOINT_URL.to_string(),
        };
        for (cap, present) in &options.capability_overrides {
            if *present {
                capabilities.insert(*cap);
            } else {
                capabilities.remove(cap);
            }
        }
        let (metadata, content) = discover(&http, &transport, &endpoint_url, &token)
            .await
            .map_err(|reason| TargetError::Unreachable {
                url: endpoint_url.clone(),
                reason,
            })?;
        let api = Api {
            http: http.clone(),
            metadata,
            content,
            token,
            scope: None,
            transport: transport.clone(),
        };
        let root = api.root().await.map_err(|f| TargetError::Unreachable {
            url: endpoint_url.clone(),
            reason: f.to_string(),
        })?;
        let suffix: u64 = rand::random();
        let run_folder_name = format!("acd-conformance-{suffix:016x}");
        let folder = api
            .folder(&id(&root), &run_folder_name)
            .await
            .map_err(|f| TargetError::Unreachable {
                url: endpoint_url.clone(),
                reason: format!("cannot create the run folder: {f}"),
            })?;
        Ok(Self {
            label,
            endpoint_url,
            api,
            admin,
            divergences: options.divergences.clone(),
            oauth,
            run_folder: id(&folder),
            run_folder_name,
            max_bytes: options.max_bytes,
            settle: (!capabilities.contains(&Capability::ConsistentListings))
                .then_some(options.settle),
            capabilities,
            transport,
            uploaded: AtomicU64::new(0),
            _mock: mock,
        })
    }

    /// Reserve `bytes` of the upload budget; false when the run may not upload that much.
    pub fn reserve(&self, bytes: u64) -> bool {
        let before = self.uploaded.fetch_add(bytes, Ordering::SeqCst);
        if before + bytes > self.max_bytes {
            self.uploaded.fetch_sub(bytes, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// Trash the run folder.
    pub async fn finish(&self) -> Result<(), Failure> {
        self.api
            .trash(&self.run_folder)
            .await
            .expect(200, "trash the run folder")?;
        Ok(())
    }

    /// Trash leftovers of interrupted runs (`acd-conformance-*` folders in the root).
    pub async fn clean(&self) -> Result<Vec<String>, Failure> {
        let root = self.api.root().await?;
        let mut trashed = Vec::new();
        for node in self.api.children(&id(&root)).await? {
            let name = node["name"].as_str().unwrap_or_default();
            if name.starts_with("acd-conformance-") && node["kind"] == "FOLDER" {
                self.api
                    .trash(&id(&node))
                    .await
                    .expect(200, "trash a leftover")?;
                trashed.push(name.to_string());
            }
        }
        Ok(trashed)
    }
}

fn session(config: Option<PathBuf>, http: reqwest::Client) -> acd_client::remote::Session {
    acd_client::remote::Session {
        config_path: config.unwrap_or_else(acd_client::config::default_path),
        overrides: acd_client::config::env_overrides(),
        http,
        pacer: Default::default(),
        cache_dir: None,
    }
}

fn remote_endpoint(name: &str, config: Option<PathBuf>) -> Result<String, String> {
    let http = match http_client() {
        Ok(h) => h,
        Err(e) => return Err(e.to_string()),
    };
    session(config, http)
        .remote_config(name)
        .map(|c| c.endpoint_url.to_string())
        .map_err(|e| e.to_string())
}

async fn remote_token(
    name: &str,
    config: Option<PathBuf>,
    http: reqwest::Client,
) -> Result<String, TargetError> {
    use secrecy::ExposeSecret as _;
    let fail = |reason: String| TargetError::Remote {
        name: name.to_string(),
        reason,
    };
    let session = session(config.clone(), http.clone());
    let remote = session
        .remote_config(name)
        .map_err(|e| fail(e.to_string()))?;
    let store = acd_client::auth::TokenStore {
        path: session.config_path.clone(),
        remote: name.to_string(),
    };
    let source = acd_client::auth::TokenSource::new(&remote, http, Some(store))
        .map_err(|e| fail(e.to_string()))?;
    let token = source
        .access_token()
        .await
        .map_err(|e| fail(e.to_string()))?;
    Ok(token.expose_secret().to_string())
}
