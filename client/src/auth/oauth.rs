//! The token endpoint, through the oauth2 crate over our own reqwest client.
//!
//! Client credentials go as HTTP Basic first; if the endpoint rejects the client that way, the
//! request is repeated once with the credentials in the form (golang/oauth2's auto-detection,
//! which rclone relied on). Errors become messages that say what to do: `invalid_grant` means
//! sign in again, `invalid_client` means check the client id and secret.

use chrono::Utc;
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, HttpRequest,
    HttpResponse, RedirectUrl, RefreshToken, RequestTokenError, Scope, TokenResponse as _,
    TokenUrl,
};
use secrecy::{ExposeSecret as _, SecretString};

use super::Token;
use crate::config::RemoteConfig;
use crate::error::{Error, Result};
use crate::pacer::{Pacer, PacerConfig};
use crate::retry::RetryContext;

/// The scopes rclone asks for.
pub const SCOPES: &[&str] = &["clouddrive:read_all", "clouddrive:write"];

/// How often a failing (non-4xx) token request is tried at most (rclone: 5); the back-off
/// between tries is the remote's pacer's, like any call's.
pub const TOKEN_TRIES: u32 = 5;

/// A pacer for token requests made outside a remote (signing in).
pub fn token_pacer() -> Pacer {
    Pacer::new(PacerConfig {
        attempts: TOKEN_TRIES,
        ..PacerConfig::default()
    })
}

/// What the token endpoint needs to know about the app.
#[derive(Clone)]
pub struct OAuthSettings {
    /// The remote's name, for messages.
    pub remote: String,
    /// The app's client id.
    pub client_id: String,
    /// The app's client secret.
    pub client_secret: SecretString,
    /// The sign-in page.
    pub auth_url: String,
    /// The token endpoint.
    pub token_url: String,
}

impl std::fmt::Debug for OAuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthSettings")
            .field("remote", &self.remote)
            .field("client_id", &self.client_id)
            .field("auth_url", &self.auth_url)
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}

impl OAuthSettings {
    /// The settings of a configured remote.
    pub fn from_remote(remote: &RemoteConfig) -> Self {
        Self {
            remote: remote.name.clone(),
            client_id: remote.client_id.clone(),
            client_secret: remote.client_secret.clone(),
            auth_url: remote.auth_url.clone(),
            token_url: remote.token_url.clone(),
        }
    }
}

/// A fresh `state` value: 16 random bytes, unpadded base64url (rclone's choice).
pub fn new_state() -> String {
    use base64::Engine as _;
    let bytes: [u8; 16] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The sign-in page URL for `state` and `redirect_uri`.
pub fn authorize_url(
    settings: &OAuthSettings,
    state: &str,
    redirect_uri: &str,
) -> Result<url::Url> {
    let client = BasicClient::new(ClientId::new(settings.client_id.clone()))
        .set_auth_uri(parse_url(&settings.auth_url, "auth_url", AuthUrl::new)?)
        .set_redirect_uri(parse_url(redirect_uri, "redirect URI", RedirectUrl::new)?);
    let state = state.to_string();
    let mut request = client.authorize_url(move || CsrfToken::new(state));
    for scope in SCOPES {
        request = request.add_scope(Scope::new((*scope).to_string()));
    }
    let (url, _) = request.add_extra_param("access_type", "offline").url();
    Ok(url)
}

/// Exchange an authorization code for a token.
pub async fn exchange_code(
    settings: &OAuthSettings,
    http: &reqwest::Client,
    code: &str,
    redirect_uri: &str,
) -> Result<Token> {
    let redirect = parse_url(redirect_uri, "redirect URI", RedirectUrl::new)?;
    let pacer = token_pacer();
    request_token(settings, &pacer, |client| {
        let client = client.set_redirect_uri(redirect.clone());
        let code = AuthorizationCode::new(code.to_string());
        async move {
            client
                .exchange_code(code)
                .request_async(&send_via(http))
                .await
        }
    })
    .await
}

/// Use the refresh token of `current` to get a new access token, paced (and retried) by the
/// remote's `pacer`.
pub async fn refresh(
    settings: &OAuthSettings,
    http: &reqwest::Client,
    pacer: &Pacer,
    current: &Token,
) -> Result<Token> {
    if current.refresh_token.expose_secret().is_empty() {
        return Err(Error::Auth(format!(
            "remote {:?} has no refresh token; run `acd config reconnect {}` to sign in again",
            settings.remote, settings.remote
        )));
    }
    let refresh = RefreshToken::new(current.refresh_token.expose_secret().to_string());
    let mut token = request_token(settings, pacer, |client| {
        let refresh = refresh.clone();
        async move {
            client
                .exchange_refresh_token(&refresh)
                .request_async(&send_via(http))
                .await
        }
    })
    .await?;
    // A refresh reply may leave the refresh token out: keep the old one.
    if token.refresh_token.expose_secret().is_empty() {
        token.refresh_token = current.refresh_token.clone();
    }
    Ok(token)
}

type Basic = oauth2::basic::BasicClient<
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;
type TokenReply = oauth2::basic::BasicTokenResponse;
type TokenError = RequestTokenError<HttpError, oauth2::basic::BasicErrorResponse>;

/// Run a token request with Basic client auth, falling back to form fields once, and retrying
/// transient failures through a [`RetryContext`] on `pacer` (at most [`TOKEN_TRIES`] tries).
async fn request_token<F, Fut>(settings: &OAuthSettings, pacer: &Pacer, call: F) -> Result<Token>
where
    F: Fn(Basic) -> Fut,
    Fut: std::future::Future<Output = std::result::Result<TokenReply, TokenError>>,
{
    let token_url = parse_url(&settings.token_url, "token_url", TokenUrl::new)?;
    let base = BasicClient::new(ClientId::new(settings.client_id.clone()))
        .set_client_secret(ClientSecret::new(
            settings.client_secret.expose_secret().to_string(),
        ))
        .set_token_uri(token_url);
    let mut auth_type = AuthType::BasicAuth;
    let mut ctx = RetryContext::new(pacer, "get a token").at_most(TOKEN_TRIES);
    loop {
        ctx.begin().await;
        let reply = call(base.clone().set_auth_type(auth_type.clone())).await;
        match reply {
            Ok(reply) => {
                pacer.record(None);
                return Ok(token_from(&reply));
            }
            Err(RequestTokenError::ServerResponse(err))
                if matches!(err.error(), BasicErrorResponseType::InvalidClient)
                    && matches!(auth_type, AuthType::BasicAuth) =>
            {
                tracing::debug!(
                    "token endpoint refused Basic client auth; retrying with form fields"
                );
                auth_type = AuthType::RequestBody;
            }
            Err(RequestTokenError::ServerResponse(err)) => {
                return Err(fatal_message(
                    settings,
                    err.error(),
                    err.error_description(),
                ));
            }
            Err(other) => {
                let error = Error::unanswered("get a token", describe(&other));
                if ctx.backoff(&error).is_none() {
                    return Err(ctx.into_error(Error::Auth(format!(
                        "could not get a token from {}: {}; check that token_url is right and the service is reachable",
                        host_of(&settings.token_url),
                        describe(&other)
                    ))));
                }
            }
        }
    }
}

/// Turn the endpoint's answer into our token.
fn token_from(reply: &TokenReply) -> Token {
    let expiry = reply
        .expires_in()
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .map(|d| Utc::now() + d);
    Token {
        access_token: SecretString::from(reply.access_token().secret().clone()),
        token_type: "bearer".into(),
        refresh_token: SecretString::from(
            reply
                .refresh_token()
                .map(|r| r.secret().clone())
                .unwrap_or_default(),
        ),
        expiry,
    }
}

/// The user-facing message for a refusal from the token endpoint.
fn fatal_message(
    settings: &OAuthSettings,
    kind: &BasicErrorResponseType,
    description: Option<&String>,
) -> Error {
    let detail = description.map(|d| format!(" ({d})")).unwrap_or_default();
    let remote = &settings.remote;
    match kind {
        BasicErrorResponseType::InvalidClient
        | BasicErrorResponseType::UnauthorizedClient
        | BasicErrorResponseType::UnsupportedGrantType
        | BasicErrorResponseType::InvalidScope => Error::Auth(format!(
            "the token endpoint refused the app: {kind}{detail}; check client_id and client_secret of remote {remote:?} (`acd config show {remote}`)"
        )),
        _ => Error::Auth(format!(
            "the token endpoint refused the saved sign-in: {kind}{detail}; run `acd config reconnect {remote}` to sign in again"
        )),
    }
}

/// A token-request failure, without any secret.
fn describe(err: &TokenError) -> String {
    match err {
        RequestTokenError::ServerResponse(e) => e.error().to_string(),
        RequestTokenError::Request(e) => e.to_string(),
        RequestTokenError::Parse(_, body) => {
            format!("the reply is not a token ({} bytes)", body.len())
        }
        RequestTokenError::Other(m) => m.clone(),
    }
}

fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "the token endpoint".into())
}

fn parse_url<T>(
    text: &str,
    what: &str,
    make: impl Fn(String) -> std::result::Result<T, url::ParseError>,
) -> Result<T> {
    make(text.to_string()).map_err(|e| Error::Config(format!("{what} {text:?} is not a URL: {e}")))
}

/// The transport failure of a token request.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

/// Send oauth2's requests with our reqwest client (so there is one HTTP stack).
fn send_via(
    http: &reqwest::Client,
) -> impl Fn(
    HttpRequest,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = std::result::Result<HttpResponse, HttpError>> + Send>,
> + '_ {
    move |request: HttpRequest| {
        let http = http.clone();
        Box::pin(async move {
            let request = reqwest::Request::try_from(request)
                .map_err(|e| HttpError(e.without_url().to_string()))?;
            let response = http
                .execute(request)
                .await
                .map_err(|e| HttpError(e.without_url().to_string()))?;
            let mut builder = oauth2::http::Response::builder().status(response.status().as_u16());
            for (name, value) in response.headers() {
                builder = builder.header(name.as_str(), value.as_bytes());
            }
            let body = response
                .bytes()
                .await
                .map_err(|e| HttpError(e.without_url().to_string()))?;
            builder
                .body(body.to_vec())
                .map_err(|e| HttpError(e.to_string()))
        })
    }
}
