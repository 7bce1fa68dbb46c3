//! The local web server half of the browser OAuth flow.
//!
//! The flow follows rclone's: the caller generates a random `state`, builds
//! the provider's authorization URL around it and starts a [`RedirectServer`].
//! The user's browser is sent to [`RedirectServer::start_url`], which checks
//! the state and redirects (307) to the provider. After the user consents, the
//! provider redirects the browser back to [`RedirectServer::redirect_uri`] with
//! `code` and `state` in the query; [`RedirectServer::wait_for_code`] then
//! returns the code and stops the server.
//!
//! Neither the state nor the code is ever logged, printed or put in an error.

use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};
use url::Url;
use url::form_urlencoded;

/// The default address rclone listens on for the OAuth redirect.
pub const DEFAULT_ADDR: &str = "127.0.0.1:53682";

/// The redirect URI to register with the provider for [`DEFAULT_ADDR`]:
/// `http://127.0.0.1:53682/`.
pub const DEFAULT_REDIRECT_URI: &str = "http://127.0.0.1:53682/";

/// How long a client may take to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long in-flight responses may take to finish once the server stops.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Body of the 403 answer to `/auth` with the wrong state.
const STATE_MISMATCH_TEXT: &str = "State did not match - please try again";

/// What went wrong while waiting for the browser to come back.
#[derive(Debug, thiserror::Error)]
pub enum WebServerError {
    /// The listening socket could not be set up.
    #[error(
        "could not listen on {addr} for the OAuth redirect (is another program using that port?): \
         close the other program and try again, or use the headless authorization flow"
    )]
    Bind {
        /// The address we tried to listen on.
        addr: SocketAddr,
        /// The underlying socket error.
        #[source]
        source: io::Error,
    },
    /// The bound address could not be turned into a URL.
    #[error("cannot build a redirect URL for {addr}")]
    Address {
        /// The address the server is bound to.
        addr: SocketAddr,
        /// Why the URL could not be built.
        #[source]
        source: url::ParseError,
    },
    /// The listening socket failed while waiting for connections.
    #[error("the OAuth redirect listener stopped accepting connections")]
    Accept(#[source] io::Error),
    /// The provider refused authorization (for example the user clicked "deny").
    #[error("the provider refused authorization: {}", denied_message(.error, .description))]
    Denied {
        /// The OAuth `error` parameter, such as `access_denied`.
        error: String,
        /// The OAuth `error_description` parameter (may be empty).
        description: String,
    },
    /// The server stopped without receiving an authorization code.
    #[error("the OAuth redirect server stopped without receiving an authorization code")]
    Closed,
}

/// Formats the provider's error and optional description.
fn denied_message(error: &str, description: &str) -> String {
    if description.is_empty() {
        error.to_owned()
    } else {
        format!("{error}: {description}")
    }
}

/// The result the request handler hands to [`RedirectServer::wait_for_code`].
type Outcome = Result<String, WebServerError>;

/// A string that must never be shown, not even in `Debug` output.
struct Redacted(String);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A running redirect listener.
#[derive(Debug)]
pub struct RedirectServer {
    /// The address actually bound (with the real port when 0 was asked for).
    local_addr: SocketAddr,
    /// `http://<local_addr>/`.
    base_url: Url,
    /// The OAuth state the browser must present.
    state: Redacted,
    /// Receives the first outcome produced by the handler.
    outcome: mpsc::Receiver<Outcome>,
    /// Tells the server task to stop; dropping it has the same effect.
    shutdown: Option<oneshot::Sender<()>>,
    /// The server task.
    task: JoinHandle<()>,
}

impl RedirectServer {
    /// Bind `addr` and start serving in a tokio task.
    ///
    /// `state` is the value the browser must present on `/auth` and on the
    /// redirect; `auth_url` is the provider's authorization URL that `/auth`
    /// redirects to.
    pub async fn start(
        addr: SocketAddr,
        state: String,
        auth_url: Url,
    ) -> Result<Self, WebServerError> {
        let bind_error = |source| WebServerError::Bind { addr, source };
        let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        let base_url = base_url(local_addr)?;
        let (outcome_tx, outcome) = mpsc::channel(1);
        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        let handler = Arc::new(Handler {
            state: Redacted(state.clone()),
            auth_url,
            outcome: outcome_tx,
        });
        let task = tokio::spawn(serve(listener, handler, shutdown_rx));
        Ok(Self {
            local_addr,
            base_url,
            state: Redacted(state),
            outcome,
            shutdown: Some(shutdown_tx),
            task,
        })
    }

    /// The URL to open in the browser: `http://<bound addr>/auth?state=<state>`.
    pub fn start_url(&self) -> Url {
        let mut url = self.base_url.clone();
        url.set_path("auth");
        url.query_pairs_mut().append_pair("state", &self.state.0);
        url
    }

    /// The redirect URI this server answers on: `http://<bound addr>/`.
    pub fn redirect_uri(&self) -> Url {
        self.base_url.clone()
    }

    /// The address the server is actually bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Wait for the browser to come back; returns the authorization code.
    /// Stops the server afterwards.
    ///
    /// Requests without a code or with the wrong state are answered with an
    /// error page and waiting goes on. Wrap this in `tokio::time::timeout` to
    /// bound the wait; dropping the future also stops the server.
    pub async fn wait_for_code(mut self) -> Result<String, WebServerError> {
        let outcome = self
            .outcome
            .recv()
            .await
            .unwrap_or(Err(WebServerError::Closed));
        self.stop().await;
        outcome
    }

    /// Stops accepting connections and waits for in-flight responses.
    async fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            // The task may already be gone; either way it is stopping.
            let _ = shutdown.send(());
        }
        // A panicked server task has nothing left to clean up.
        let _ = (&mut self.task).await;
    }
}

/// Builds `http://<addr>/`.
fn base_url(addr: SocketAddr) -> Result<Url, WebServerError> {
    Url::parse(&format!("http://{addr}/"))
        .map_err(|source| WebServerError::Address { addr, source })
}

/// Accepts connections until told to stop, then drains them.
async fn serve(listener: TcpListener, handler: Arc<Handler>, mut shutdown: oneshot::Receiver<()>) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            // A send and a dropped sender both mean "stop".
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, Arc::clone(&handler), stop_rx.clone()));
                }
                Err(error) if is_per_connection(&error) => {}
                Err(error) => {
                    handler.finish(Err(WebServerError::Accept(error)));
                    break;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    // Receivers may all be gone already, which is fine.
    let _ = stop_tx.send(true);
    // Whatever is still running after the grace period is aborted when the
    // set is dropped.
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, drain(&mut connections)).await;
}

/// Waits for every connection task to finish.
async fn drain(connections: &mut JoinSet<()>) {
    while connections.join_next().await.is_some() {}
}

/// Accept errors that concern one connection only and leave the listener usable.
fn is_per_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// Serves one HTTP/1.1 connection (one request, keep-alive off).
async fn serve_connection(
    stream: TcpStream,
    handler: Arc<Handler>,
    mut stop: watch::Receiver<bool>,
) {
    let service = service_fn(move |request: Request<Incoming>| {
        let response = handler.respond(&request);
        async move { Ok::<_, Infallible>(response) }
    });
    let connection = http1::Builder::new()
        .keep_alive(false)
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        // Connection errors only affect that browser request.
        _ = connection.as_mut() => return,
        stopped = stop.wait_for(|stop| *stop) => drop(stopped),
    }
    // Let a response in progress finish; idle connections close at once.
    connection.as_mut().graceful_shutdown();
    let _ = connection.await;
}

/// Answers requests and reports the outcome of the flow.
struct Handler {
    /// The OAuth state the browser must present.
    state: Redacted,
    /// Where `/auth` redirects to.
    auth_url: Url,
    /// Where the outcome goes; only the first one is kept.
    outcome: mpsc::Sender<Outcome>,
}

impl Handler {
    /// Routes one request.
    fn respond(&self, request: &Request<Incoming>) -> Response<String> {
        let params = Params::parse(request.uri().query().unwrap_or_default());
        match request.uri().path() {
            "/auth" => self.start_auth(&params),
            "/" => self.redirected(params),
            _ => text_response(StatusCode::NOT_FOUND, "Not found"),
        }
    }

    /// `GET /auth?state=S`: send the browser on to the provider.
    fn start_auth(&self, params: &Params) -> Response<String> {
        if !self.state_matches(params.state.as_deref()) {
            return text_response(StatusCode::FORBIDDEN, STATE_MISMATCH_TEXT);
        }
        let mut response = empty_response(StatusCode::TEMPORARY_REDIRECT);
        if let Ok(location) = HeaderValue::from_str(self.auth_url.as_str()) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        response
    }

    /// `GET /?code=..&state=..`: the provider sent the browser back.
    fn redirected(&self, params: Params) -> Response<String> {
        if let Some(error) = params.error {
            let description = params.error_description.unwrap_or_default();
            let page = denied_page(&error, &description);
            self.finish(Err(WebServerError::Denied { error, description }));
            return html_response(StatusCode::BAD_REQUEST, page);
        }
        let Some(code) = params.code else {
            let page = html_page("Auth Error", &["No code returned by remote server"]);
            return html_response(StatusCode::BAD_REQUEST, page);
        };
        if !self.state_matches(params.state.as_deref()) {
            let page = html_page("Auth Error", &["Auth state doesn't match"]);
            return html_response(StatusCode::BAD_REQUEST, page);
        }
        self.finish(Ok(code));
        let page = html_page(
            "Success!",
            &["All done. You can close this window and go back to the terminal."],
        );
        html_response(StatusCode::OK, page)
    }

    /// Whether `presented` is our state (compared in constant time).
    fn state_matches(&self, presented: Option<&str>) -> bool {
        presented.is_some_and(|presented| {
            constant_time_eq(presented.as_bytes(), self.state.0.as_bytes())
        })
    }

    /// Reports the outcome; later outcomes are dropped once one is queued.
    fn finish(&self, outcome: Outcome) {
        // Full means an earlier outcome won; closed means nobody waits.
        let _ = self.outcome.try_send(outcome);
    }
}

/// Compares two byte strings without stopping at the first difference (subtle's constant-time
/// comparison; only the lengths are compared directly, and ours is public anyway).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(subtle::ConstantTimeEq::ct_eq(a, b))
}

/// The query parameters the server cares about (first occurrence wins).
#[derive(Default)]
struct Params {
    /// `state`.
    state: Option<String>,
    /// `code`.
    code: Option<String>,
    /// `error`.
    error: Option<String>,
    /// `error_description`.
    error_description: Option<String>,
}

impl Params {
    /// Parses an `application/x-www-form-urlencoded` query string.
    fn parse(query: &str) -> Self {
        let mut params = Self::default();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let slot = match key.as_ref() {
                "state" => &mut params.state,
                "code" => &mut params.code,
                "error" => &mut params.error,
                "error_description" => &mut params.error_description,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(value.into_owned());
            }
        }
        params
    }
}

/// The page shown when the provider refused authorization.
fn denied_page(error: &str, description: &str) -> String {
    let error_line = format!("Error: {error}");
    let description_line = format!("Description: {description}");
    if description.is_empty() {
        html_page("Auth Error", &[&error_line])
    } else {
        html_page("Auth Error", &[&error_line, &description_line])
    }
}

/// A minimal HTML page with a heading and paragraphs; all text is escaped.
fn html_page(title: &str, paragraphs: &[&str]) -> String {
    let title = escape_html(title);
    let body: String = paragraphs
        .iter()
        .map(|paragraph| format!("<p>{}</p>\n", escape_html(paragraph)))
        .collect();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{title}</title>\n</head>\n<body>\n<h1>{title}</h1>\n{body}</body>\n</html>\n"
    )
}

/// Escapes text for use in HTML element content and attribute values.
fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(ch),
        }
    }
    escaped
}

/// A response with the headers every answer carries.
fn response(
    status: StatusCode,
    content_type: Option<&'static str>,
    body: String,
) -> Response<String> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if let Some(content_type) = content_type {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    response
}

/// A response without a body.
fn empty_response(status: StatusCode) -> Response<String> {
    response(status, None, String::new())
}

/// A plain-text response.
fn text_response(status: StatusCode, text: &str) -> Response<String> {
    response(status, Some("text/plain; charset=utf-8"), text.to_owned())
}

/// An HTML response.
fn html_response(status: StatusCode, page: String) -> Response<String> {
    response(status, Some("text/html; charset=utf-8"), page)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::mpsc::error::TryRecvError;

    const STATE: &str = "c3RhdGUtZm9yLXRlc3Rz_-";
    const SAFETY_NET: Duration = Duration::from_secs(10);

    fn auth_url() -> Url {
        Url::parse("https://provider.example/ap/oa?client_id=abc&state=c3RhdGUtZm9yLXRlc3Rz_-")
            .unwrap()
    }

    async fn start() -> RedirectServer {
        RedirectServer::start("127.0.0.1:0".parse().unwrap(), STATE.to_owned(), auth_url())
            .await
            .unwrap()
    }

    /// A parsed raw HTTP/1.1 response.
    struct Reply {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    }

    impl Reply {
        fn header(&self, name: &str) -> Vec<&str> {
            self.headers
                .iter()
                .filter(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value.as_str())
                .collect()
        }
    }

    /// Sends `GET target` and reads until the server closes the connection.
    async fn get(addr: SocketAddr, target: &str) -> Reply {
        let exchange = async {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            let request =
                format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: test\r\n\r\n");
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut raw = Vec::new();
            stream.read_to_end(&mut raw).await.unwrap();
            parse_reply(&String::from_utf8(raw).unwrap())
        };
        tokio::time::timeout(SAFETY_NET, exchange)
            .await
            .expect("request timed out")
    }

    fn parse_reply(raw: &str) -> Reply {
        let (head, body) = raw.split_once("\r\n\r\n").expect("no end of headers");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
        let status = status_line[9..12].parse().unwrap();
        let headers = lines
            .map(|line| {
                let (key, value) = line.split_once(':').unwrap();
                (key.trim().to_owned(), value.trim().to_owned())
            })
            .collect();
        Reply {
            status,
            headers,
            body: body.to_owned(),
        }
    }

    async fn wait(server: RedirectServer) -> Result<String, WebServerError> {
        tokio::time::timeout(SAFETY_NET, server.wait_for_code())
            .await
            .expect("wait_for_code timed out")
    }

    fn assert_still_waiting(server: &mut RedirectServer) {
        assert!(matches!(
            server.outcome.try_recv(),
            Err(TryRecvError::Empty)
        ));
    }

    #[test]
    fn default_constants_agree() {
        let addr: SocketAddr = DEFAULT_ADDR.parse().unwrap();
        assert_eq!(base_url(addr).unwrap().as_str(), DEFAULT_REDIRECT_URI);
    }

    #[tokio::test]
    async fn urls_use_the_bound_address() {
        let server = start().await;
        let addr = server.local_addr();
        assert_ne!(addr.port(), 0);
        assert_eq!(server.redirect_uri().as_str(), format!("http://{addr}/"));
        assert_eq!(
            server.start_url().as_str(),
            format!("http://{addr}/auth?state={STATE}")
        );
    }

    #[tokio::test]
    async fn debug_output_hides_the_state() {
        let server = start().await;
        let debug = format!("{server:?}");
        assert!(!debug.contains(STATE), "{debug}");
        assert!(debug.contains("[redacted]"), "{debug}");
    }

    #[tokio::test]
    async fn auth_with_right_state_redirects_to_provider() {
        let server = start().await;
        let reply = get(server.local_addr(), server.start_url().as_str()).await;
        assert_eq!(reply.status, 307);
        assert_eq!(reply.header("location"), [auth_url().as_str()]);
        assert_eq!(reply.header("connection"), ["close"]);
    }

    #[tokio::test]
    async fn auth_with_wrong_or_missing_state_is_forbidden() {
        let mut server = start().await;
        for target in ["/auth?state=nope", "/auth"] {
            let reply = get(server.local_addr(), target).await;
            assert_eq!(reply.status, 403, "{target}");
            assert_eq!(reply.body, STATE_MISMATCH_TEXT);
            assert!(reply.header("location").is_empty());
        }
        assert_still_waiting(&mut server);
    }

    #[tokio::test]
    async fn redirect_without_code_is_rejected_and_waiting_goes_on() {
        let mut server = start().await;
        let addr = server.local_addr();
        let reply = get(addr, &format!("/?state={STATE}")).await;
        assert_eq!(reply.status, 400);
        assert!(reply.body.contains("Auth Error"));
        assert!(reply.body.contains("No code returned by remote server"));
        assert_still_waiting(&mut server);

        let reply = get(addr, &format!("/?code=later&state={STATE}")).await;
        assert_eq!(reply.status, 200);
        assert_eq!(wait(server).await.unwrap(), "later");
    }

    #[tokio::test]
    async fn redirect_with_wrong_state_is_rejected() {
        let mut server = start().await;
        let reply = get(server.local_addr(), "/?code=abc&state=wrong").await;
        assert_eq!(reply.status, 400);
        assert!(
            reply.body.contains("Auth state doesn&#39;t match"),
            "{}",
            reply.body
        );
        assert!(!reply.body.contains("abc"));
        assert_still_waiting(&mut server);
    }

    #[tokio::test]
    async fn redirect_with_code_succeeds_and_returns_the_code() {
        let server = start().await;
        let addr = server.local_addr();
        let reply = get(addr, &format!("/?code=the%2Fcode&state={STATE}&scope=x")).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("content-type"), ["text/html; charset=utf-8"]);
        assert_eq!(reply.header("connection"), ["close"]);
        assert!(reply.body.contains("Success!"));
        assert!(reply.body.contains("close this window"));
        assert!(!reply.body.contains("the/code") && !reply.body.contains(STATE));
        assert_eq!(wait(server).await.unwrap(), "the/code");
        // The server is gone once wait_for_code has returned.
        assert!(TcpStream::connect(addr).await.is_err());
    }

    #[tokio::test]
    async fn provider_error_is_shown_escaped_and_ends_the_flow() {
        let server = start().await;
        let target = "/?error=access_denied&error_description=%3Cb%3Eno%3C%2Fb%3E+%26+bye";
        let reply = get(server.local_addr(), target).await;
        assert_eq!(reply.status, 400);
        assert!(reply.body.contains("Auth Error"));
        assert!(reply.body.contains("access_denied"));
        assert!(
            reply.body.contains("&lt;b&gt;no&lt;/b&gt; &amp; bye"),
            "{}",
            reply.body
        );
        assert!(!reply.body.contains("<b>"));
        match wait(server).await {
            Err(WebServerError::Denied { error, description }) => {
                assert_eq!(error, "access_denied");
                assert_eq!(description, "<b>no</b> & bye");
            }
            other => panic!("expected Denied, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn unknown_path_is_not_found() {
        let mut server = start().await;
        for target in [
            "/favicon.ico",
            "/auth/",
            &format!("/callback?code=x&state={STATE}"),
        ] {
            let reply = get(server.local_addr(), target).await;
            assert_eq!(reply.status, 404, "{target}");
        }
        assert_still_waiting(&mut server);
    }

    #[tokio::test]
    async fn idle_connection_does_not_block_shutdown() {
        let server = start().await;
        let addr = server.local_addr();
        // Accepted before the next connection, so it is being served when
        // the flow completes.
        let mut idle = TcpStream::connect(addr).await.unwrap();
        get(addr, &format!("/?code=c&state={STATE}")).await;
        assert_eq!(wait(server).await.unwrap(), "c");
        let mut buf = [0u8; 1];
        assert_eq!(idle.read(&mut buf).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn address_in_use_is_a_bind_error() {
        let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = taken.local_addr().unwrap();
        let error = RedirectServer::start(addr, STATE.to_owned(), auth_url())
            .await
            .unwrap_err();
        match &error {
            WebServerError::Bind {
                addr: reported,
                source,
            } => {
                assert_eq!(*reported, addr);
                assert_eq!(source.kind(), io::ErrorKind::AddrInUse);
            }
            other => panic!("expected Bind, got {other:?}"),
        }
        let message = error.to_string();
        assert!(message.contains("another program"), "{message}");
        assert!(message.contains("headless"), "{message}");
    }

    #[test]
    fn denied_message_omits_empty_description() {
        let error = WebServerError::Denied {
            error: "access_denied".to_owned(),
            description: String::new(),
        };
        assert_eq!(
            error.to_string(),
            "the provider refused authorization: access_denied"
        );
    }

    #[test]
    fn params_keep_the_first_value() {
        let params = Params::parse("code=a&code=b&state=s&error_description=x+y");
        assert_eq!(params.code.as_deref(), Some("a"));
        assert_eq!(params.state.as_deref(), Some("s"));
        assert_eq!(params.error, None);
        assert_eq!(params.error_description.as_deref(), Some("x y"));
    }

    #[test]
    fn state_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
