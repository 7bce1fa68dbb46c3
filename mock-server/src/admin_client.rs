//! A typed client of the admin API (`/_mock/*`, see [`crate::admin`] and
//! [`crate::faults::admin`]): health, reset, accounts, tokens, seeding, purging, the test
//! clock, the journal and the faults, for tests, the conformance suite and the bench.
//!
//! Behind the `admin-client` cargo feature (on by default). The client is also
//! `acd_mock::admin::Client`; its request and answer types live here.
//!
//! ```no_run
//! # async fn demo() -> Result<(), acd_mock::admin_client::AdminError> {
//! use acd_mock::admin::Client;
//! use acd_mock::admin_client::{SeedNode, SeedRequest};
//!
//! let admin = Client::new("http://127.0.0.1:8080")?.with_token(Some("admin-secret".into()));
//! let token = admin.mint_token(&Default::default()).await?;
//! let created = admin
//!     .seed(&SeedRequest::nodes(vec![SeedNode::folder(
//!         "docs",
//!         vec![SeedNode::text("hello.txt", "hello")],
//!     )]))
//!     .await?;
//! assert_eq!(created[1].path, "docs/hello.txt");
//! # let _ = token;
//! # Ok(())
//! # }
//! ```

use md5::{Digest, Md5};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::TokenResponse;
use crate::faults::rule::Rule;
use crate::faults::settings::Settings;
use crate::operation::Operation;

/// Why an admin call failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The request could not be sent or its answer not read.
    #[error("admin request {what} failed: {source}")]
    Http {
        /// Method and path of the call.
        what: String,
        /// The cause.
        source: reqwest::Error,
    },
    /// The mock answered with an unexpected status.
    #[error("admin request {what} answered {status}: {body}")]
    Status {
        /// Method and path of the call.
        what: String,
        /// The status.
        status: StatusCode,
        /// The body, as text.
        body: String,
    },
    /// The answer was not the JSON expected.
    #[error("admin request {what}: unexpected answer ({source}): {body}")]
    Decode {
        /// Method and path of the call.
        what: String,
        /// The cause.
        source: serde_json::Error,
        /// The body, as text.
        body: String,
    },
}

impl AdminError {
    /// The status the mock answered with, if it answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Status { status, .. } => Some(*status),
            Self::Http { source, .. } => source.status(),
            Self::Decode { .. } => None,
        }
    }
}

/// What an admin call answers, or why it failed.
pub type AdminResult<T> = Result<T, AdminError>;

/// `GET /_mock/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// How many accounts the mock has.
    pub accounts: usize,
}

/// An account as the admin API shows it (`GET/POST /_mock/accounts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountInfo {
    /// Numeric id.
    pub id: i64,
    /// Sign-in email.
    pub email: String,
    /// The root folder's node id.
    pub root_id: String,
    /// Quota in bytes.
    pub quota: u64,
}

/// The body of `POST /_mock/accounts`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewAccount {
    /// Sign-in email (required).
    pub email: String,
    /// Sign-in password (default `password`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Quota in bytes (default: the mock's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<u64>,
}

/// The body of `POST /_mock/tokens`; the default is the default account, the mock's
/// lifetime, no app.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MintRequest {
    /// The account's email (none: the default account).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The access token's lifetime in seconds (none: the mock's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifetime_secs: Option<u64>,
    /// The OAuth client the token is issued to (none: bound to no app).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

impl MintRequest {
    /// A token for the account with this email.
    pub fn for_account(email: impl Into<String>) -> Self {
        Self {
            account: Some(email.into()),
            ..Self::default()
        }
    }
}

/// One node of a seed tree (`POST /_mock/seed`); it also reads the body's JSON form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SeedNode {
    /// The name.
    pub name: String,
    /// `FOLDER` or `FILE` (none: a folder unless content, base64 or size is given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// A folder's children.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<SeedNode>,
    /// UTF-8 content of a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Base64 content of a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base64: Option<String>,
    /// Declared size of a synthetic file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Seed of a synthetic file's bytes (default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// MD5 of a synthetic file, trusted as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
}

impl SeedNode {
    /// A folder with these children.
    pub fn folder(name: impl Into<String>, children: Vec<SeedNode>) -> Self {
        Self {
            name: name.into(),
            kind: Some("FOLDER".into()),
            children,
            ..Self::default()
        }
    }

    /// A file with this UTF-8 content.
    pub fn text(name: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            content: Some(content.into()),
            ..Self::default()
        }
    }

    /// A synthetic file of `size` bytes generated from `seed` when read.
    pub fn synthetic(name: impl Into<String>, size: u64, seed: u64) -> Self {
        Self {
            name: name.into(),
            size: Some(size),
            seed: Some(seed),
            ..Self::default()
        }
    }
}

/// The body of `POST /_mock/seed`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SeedRequest {
    /// The account's email (none: the default account).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The folder to seed under (none: the root).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// The trees to make, depth first in order.
    pub nodes: Vec<SeedNode>,
}

impl SeedRequest {
    /// These nodes under the default account's root.
    pub fn nodes(nodes: Vec<SeedNode>) -> Self {
        Self {
            nodes,
            ..Self::default()
        }
    }
}

/// One node made by a seeding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Created {
    /// Its path from the seed's parent (`docs/hello.txt`).
    pub path: String,
    /// Its node id.
    pub id: String,
    /// `FOLDER` or `FILE`.
    pub kind: String,
}

/// The body of `POST /_mock/purge`; the default purges the default account's whole trash.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PurgeRequest {
    /// The account's email (none: the default account).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Purge these trashed nodes (with what was trashed along with them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ids: Option<Vec<String>>,
    /// Purge the nodes trashed before this RFC 3339 UTC time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trashed_before: Option<String>,
}

/// The test clock (`GET/POST /_mock/clock`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockState {
    /// The mock's time, RFC 3339.
    pub now: String,
    /// How far ahead of system time, in milliseconds.
    pub offset_ms: i64,
}

/// What `GET /_mock/journal` should return.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JournalQuery {
    /// At most this many entries (the mock's default: 1000).
    pub limit: Option<usize>,
    /// Only requests of this operation.
    pub operation: Option<Operation>,
}

/// One journaled request (mirrors [`crate::journal::Entry`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JournalEntry {
    /// Sequence number, from 1.
    pub seq: u64,
    /// When the request arrived.
    pub time: String,
    /// HTTP method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Query string with secrets redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// The operation it was classified as.
    pub operation: Operation,
    /// Response status.
    pub status: u16,
    /// Time to the response head, in milliseconds.
    pub duration_ms: f64,
    /// `Bearer <redacted>`, `Basic <redacted>`, or absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<String>,
    /// The `x-acd-mock-scope` header, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The fault rule (or behaviour) that fired, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    /// For an `after_commit` fault: the status the handler answered before the fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committed: Option<u16>,
    /// The email of the account the request acted for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

/// A rule with its counts (`GET /_mock/faults/{id}`).
#[derive(Debug, Clone, PartialEq)]
pub struct FaultReport {
    /// The rule.
    pub rule: Rule,
    /// How many requests it matched.
    pub matches: u64,
    /// How many times it fired.
    pub fired: u64,
}

impl FaultReport {
    /// Splits the report JSON into the rule and its counts.
    fn from_value(mut value: Value) -> Result<Self, serde_json::Error> {
        let mut count = |key: &str| {
            value
                .as_object_mut()
                .and_then(|m| m.remove(key))
                .and_then(|v| v.as_u64())
                .unwrap_or(0)
        };
        let matches = count("matches");
        let fired = count("fired");
        Ok(Self {
            rule: serde_json::from_value(value)?,
            matches,
            fired,
        })
    }
}

/// `GET /_mock/faults`: the whole fault state.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultState {
    /// The seed of the fault generator.
    pub seed: u64,
    /// The switches.
    pub settings: Settings,
    /// The rules with their counts.
    pub rules: Vec<FaultReport>,
    /// How many phantom uploads are yet to appear.
    pub pending_phantoms: usize,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawFaultState {
    seed: u64,
    settings: Settings,
    rules: Vec<Value>,
    pending_phantoms: usize,
}

#[derive(Deserialize)]
struct Ids {
    ids: Vec<String>,
}

/// A typed client of one mock's admin API.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    /// A client of the mock at `base_url` (`http://127.0.0.1:PORT`, no `/_mock`), never
    /// through a proxy.
    pub fn new(base_url: impl Into<String>) -> AdminResult<Self> {
        // reqwest may be built with rustls and no provider of its own (feature unification
        // with acd-client): make ring the process's provider, as the server does.
        let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(|source| AdminError::Http {
                what: "client setup".into(),
                source,
            })?;
        Ok(Self::with_http(http, base_url))
    }

    /// A client of the mock at `base_url` sending through `http`.
    pub fn with_http(http: reqwest::Client, base_url: impl Into<String>) -> Self {
        let base = base_url.into().trim_end_matches('/').to_string();
        Self {
            http,
            base,
            token: None,
        }
    }

    /// The same client sending this admin token (`Authorization: Bearer`; see
    /// [`crate::ui::auth`]), or none.
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    /// The mock's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// A request to `/_mock/{path}` with the admin token, if any.
    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self
            .http
            .request(method, format!("{}/_mock/{path}", self.base));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends, checks the status is `expected`, returns the body text.
    async fn send(
        &self,
        request: RequestBuilder,
        what: String,
        expected: StatusCode,
    ) -> AdminResult<(String, String)> {
        let response = request.send().await.map_err(|source| AdminError::Http {
            what: what.clone(),
            source,
        })?;
        let status = response.status();
        let body = response.text().await.map_err(|source| AdminError::Http {
            what: what.clone(),
            source,
        })?;
        if status != expected {
            return Err(AdminError::Status { what, status, body });
        }
        Ok((what, body))
    }

    /// Sends and parses the JSON answer.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
        expected: StatusCode,
    ) -> AdminResult<T> {
        let what = format!("{method} /_mock/{path}");
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, "application/json").body(body);
        }
        let (what, text) = self.send(request, what, expected).await?;
        serde_json::from_str(&text).map_err(|source| AdminError::Decode {
            what,
            source,
            body: text,
        })
    }

    /// JSON text of a body (the admin bodies always serialize).
    fn json<B: Serialize>(body: &B) -> Option<String> {
        Some(serde_json::to_string(body).unwrap_or_default())
    }

    /// `GET /_mock/health`.
    pub async fn health(&self) -> AdminResult<Health> {
        self.call(Method::GET, "health", None, StatusCode::OK).await
    }

    /// `POST /_mock/reset`: everything (accounts, tokens, trees, journal, faults state); the
    /// default account is made again.
    pub async fn reset(&self) -> AdminResult<()> {
        let _: Value = self
            .call(Method::POST, "reset", None, StatusCode::OK)
            .await?;
        Ok(())
    }

    /// `POST /_mock/reset {"account"}`: just that account's tree and changes feed.
    pub async fn reset_account(&self, email: &str) -> AdminResult<()> {
        let body = Self::json(&serde_json::json!({ "account": email }));
        let _: Value = self
            .call(Method::POST, "reset", body, StatusCode::OK)
            .await?;
        Ok(())
    }

    /// `GET /_mock/accounts`.
    pub async fn accounts(&self) -> AdminResult<Vec<AccountInfo>> {
        #[derive(Deserialize)]
        struct Accounts {
            accounts: Vec<AccountInfo>,
        }
        let answer: Accounts = self
            .call(Method::GET, "accounts", None, StatusCode::OK)
            .await?;
        Ok(answer.accounts)
    }

    /// `POST /_mock/accounts`: the new account.
    pub async fn create_account(&self, account: &NewAccount) -> AdminResult<AccountInfo> {
        self.call(
            Method::POST,
            "accounts",
            Self::json(account),
            StatusCode::CREATED,
        )
        .await
    }

    /// `POST /_mock/tokens`: a fresh access and refresh token.
    pub async fn mint_token(&self, request: &MintRequest) -> AdminResult<TokenResponse> {
        self.call(Method::POST, "tokens", Self::json(request), StatusCode::OK)
            .await
    }

    /// The default account's access token (a [`Client::mint_token`] with no options).
    pub async fn access_token(&self) -> AdminResult<String> {
        Ok(self.mint_token(&MintRequest::default()).await?.access_token)
    }

    /// `POST /_mock/tokens/expire`: expires an access token now.
    pub async fn expire_token(&self, access_token: &str) -> AdminResult<()> {
        let body = Self::json(&serde_json::json!({ "access_token": access_token }));
        let _: Value = self
            .call(Method::POST, "tokens/expire", body, StatusCode::OK)
            .await?;
        Ok(())
    }

    /// `POST /_mock/seed`: each created node, parents first.
    pub async fn seed(&self, request: &SeedRequest) -> AdminResult<Vec<Created>> {
        #[derive(Deserialize)]
        struct Seeded {
            created: Vec<Created>,
        }
        let answer: Seeded = self
            .call(
                Method::POST,
                "seed",
                Self::json(request),
                StatusCode::CREATED,
            )
            .await?;
        Ok(answer.created)
    }

    /// `POST /_mock/purge`: the ids purged.
    pub async fn purge(&self, request: &PurgeRequest) -> AdminResult<Vec<String>> {
        #[derive(Deserialize)]
        struct Purged {
            purged: Vec<String>,
        }
        let answer: Purged = self
            .call(Method::POST, "purge", Self::json(request), StatusCode::OK)
            .await?;
        Ok(answer.purged)
    }

    /// `GET /_mock/clock`.
    pub async fn clock(&self) -> AdminResult<ClockState> {
        self.call(Method::GET, "clock", None, StatusCode::OK).await
    }

    /// `POST /_mock/clock {"advance"}`: moves the clock forward by a humantime duration
    /// (`30d`, `90s`); the new state.
    pub async fn advance_clock(&self, by: &str) -> AdminResult<ClockState> {
        let body = Self::json(&serde_json::json!({ "advance": by }));
        self.call(Method::POST, "clock", body, StatusCode::OK).await
    }

    /// `POST /_mock/clock {"set"}`: moves the clock to a later RFC 3339 time; the new state.
    pub async fn set_clock(&self, time: &str) -> AdminResult<ClockState> {
        let body = Self::json(&serde_json::json!({ "set": time }));
        self.call(Method::POST, "clock", body, StatusCode::OK).await
    }

    /// `GET /_mock/journal`: the latest requests, oldest first.
    pub async fn journal(&self, query: &JournalQuery) -> AdminResult<Vec<JournalEntry>> {
        #[derive(Deserialize)]
        struct Entries {
            entries: Vec<JournalEntry>,
        }
        let mut params = Vec::new();
        if let Some(limit) = query.limit {
            params.push(format!("limit={limit}"));
        }
        if let Some(operation) = query.operation {
            let name = serde_json::to_value(operation)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            params.push(format!("operation={name}"));
        }
        let path = if params.is_empty() {
            "journal".to_string()
        } else {
            format!("journal?{}", params.join("&"))
        };
        let answer: Entries = self.call(Method::GET, &path, None, StatusCode::OK).await?;
        Ok(answer.entries)
    }

    /// `DELETE /_mock/journal`.
    pub async fn clear_journal(&self) -> AdminResult<()> {
        let what = "DELETE /_mock/journal".to_string();
        let request = self.request(Method::DELETE, "journal");
        self.send(request, what, StatusCode::NO_CONTENT).await?;
        Ok(())
    }

    /// `GET /_mock/faults`.
    pub async fn faults(&self) -> AdminResult<FaultState> {
        let raw: RawFaultState = self
            .call(Method::GET, "faults", None, StatusCode::OK)
            .await?;
        let rules = raw
            .rules
            .into_iter()
            .map(FaultReport::from_value)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| AdminError::Decode {
                what: "GET /_mock/faults".into(),
                source,
                body: String::new(),
            })?;
        Ok(FaultState {
            seed: raw.seed,
            settings: raw.settings,
            rules,
            pending_phantoms: raw.pending_phantoms,
        })
    }

    /// `POST /_mock/faults {"rules"}`: the new rules' ids.
    pub async fn add_faults(&self, rules: &[Rule]) -> AdminResult<Vec<String>> {
        let body = Self::json(&serde_json::json!({ "rules": rules }));
        let answer: Ids = self
            .call(Method::POST, "faults", body, StatusCode::CREATED)
            .await?;
        Ok(answer.ids)
    }

    /// `POST /_mock/faults` with rules written as JSON (one rule or `{"rules": [...]}`):
    /// the new rules' ids.
    pub async fn add_faults_json(&self, rules: &Value) -> AdminResult<Vec<String>> {
        let answer: Ids = self
            .call(
                Method::POST,
                "faults",
                Some(rules.to_string()),
                StatusCode::CREATED,
            )
            .await?;
        Ok(answer.ids)
    }

    /// `POST /_mock/faults` with rules (and optionally `[settings]`) in the profile TOML
    /// format: the new rules' ids.
    pub async fn add_faults_toml(&self, toml: &str) -> AdminResult<Vec<String>> {
        let what = "POST /_mock/faults".to_string();
        let request = self
            .request(Method::POST, "faults")
            .header(CONTENT_TYPE, "application/toml")
            .body(toml.to_string());
        let (what, text) = self.send(request, what, StatusCode::CREATED).await?;
        let answer: Ids = serde_json::from_str(&text).map_err(|source| AdminError::Decode {
            what,
            source,
            body: text,
        })?;
        Ok(answer.ids)
    }

    /// `GET /_mock/faults/{id}`: the rule with its counts.
    pub async fn fault(&self, id: &str) -> AdminResult<FaultReport> {
        let value: Value = self
            .call(Method::GET, &format!("faults/{id}"), None, StatusCode::OK)
            .await?;
        FaultReport::from_value(value.clone()).map_err(|source| AdminError::Decode {
            what: format!("GET /_mock/faults/{id}"),
            source,
            body: value.to_string(),
        })
    }

    /// `DELETE /_mock/faults/{id}`.
    pub async fn remove_fault(&self, id: &str) -> AdminResult<()> {
        let path = format!("faults/{id}");
        let what = format!("DELETE /_mock/{path}");
        let request = self.request(Method::DELETE, &path);
        self.send(request, what, StatusCode::NO_CONTENT).await?;
        Ok(())
    }

    /// `DELETE /_mock/faults[?scope=S]`: every rule, or every rule of one scope; how many
    /// were removed.
    pub async fn clear_faults(&self, scope: Option<&str>) -> AdminResult<usize> {
        #[derive(Deserialize)]
        struct Removed {
            removed: usize,
        }
        let path = match scope {
            Some(scope) => format!(
                "faults?scope={}",
                form_urlencoded::byte_serialize(scope.as_bytes()).collect::<String>()
            ),
            None => "faults".to_string(),
        };
        let answer: Removed = self
            .call(Method::DELETE, &path, None, StatusCode::OK)
            .await?;
        Ok(answer.removed)
    }

    /// `GET /_mock/faults/settings`.
    pub async fn settings(&self) -> AdminResult<Settings> {
        self.call(Method::GET, "faults/settings", None, StatusCode::OK)
            .await
    }

    /// `PUT /_mock/faults/settings`: replaces every switch; the switches now.
    pub async fn set_settings(&self, settings: &Settings) -> AdminResult<Settings> {
        self.call(
            Method::PUT,
            "faults/settings",
            Self::json(settings),
            StatusCode::OK,
        )
        .await
    }

    /// `PUT /_mock/faults/settings` with the switches written as JSON; the switches now.
    pub async fn set_settings_json(&self, settings: &Value) -> AdminResult<Settings> {
        self.call(
            Method::PUT,
            "faults/settings",
            Some(settings.to_string()),
            StatusCode::OK,
        )
        .await
    }
}

/// Lowercase hex MD5 of `bytes`, as the API shows `contentProperties.md5` (one helper for
/// every test and tool of the workspace).
pub fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
