#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The client's API layer against a `wiremock` server serving the shapes of `fixtures/`.
//!
//! wiremock runs its server on a thread of its own, so a paused tokio clock would auto-advance
//! past reqwest's timeouts while a request is in flight: these tests use real time with a pacer
//! whose floor is 1 ms and whose random draw is always 0, so back-off costs milliseconds (the
//! `Retry-After: 1` test waits its real second).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use acd_client::api::Drive;
use acd_client::api::endpoints::EndpointCache;
use acd_client::api::model::Node;
use acd_client::auth::{Token, TokenSource, TokenStore};
use acd_client::config::{ConfigFile, RemoteConfig};
use acd_client::pacer::{Pacer, PacerConfig};
use acd_client::transfer::download::{Downloader, partial_path};
use acd_client::transfer::stats::Stats;
use acd_client::transfer::upload::{Source, Uploader};
use acd_client::{Error, ErrorKind};
use chrono::Utc;
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};
use wiremock::matchers::{
    bearer_token, body_string_contains, header, header_exists, method, path, query_param,
    query_param_is_missing,
};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

// ---- fixtures and secrets ----------------------------------------------------------------

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}{name}")).expect(name)
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).expect(name)
}

const OLD_ACCESS: &str = "Atza|old-access-token-SECRET";
const REFRESH: &str = "Atzr|refresh-token-SECRET";
const CLIENT_ID: &str = "amzn1.application-oa2-client.test";
const CLIENT_SECRET: &str = "client-secret-SECRET";

const FOLDER: &str = "m-hDjmIITciXWZ9fNSzbpQ";
const FILE_ID: &str = "_BN4PfD2QQi5z7gUbZGjgQ";
const HELLO: &[u8] = b"hello world\n";

/// The access token of `oauth_token.json`.
fn new_access() -> String {
    fixture_json("oauth_token.json")["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The error's text and its chain, for "does not leak" checks.
fn full_text(e: &Error) -> String {
    let mut text = format!("{e} {e:?}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(" {s}"));
        source = s.source();
    }
    text
}

fn assert_no_secret(text: &str) {
    for secret in [
        OLD_ACCESS,
        REFRESH,
        CLIENT_SECRET,
        "SECRET",
        new_access().as_str(),
    ] {
        assert!(!text.contains(secret), "{secret:?} leaked in {text}");
    }
}

// ---- the harness -------------------------------------------------------------------------

fn pacer_config() -> PacerConfig {
    PacerConfig {
        min_sleep: Duration::from_millis(1),
        max_sleep: Duration::from_secs(5),
        attempts: 4,
        budget: Duration::from_secs(30),
    }
}

struct Harness {
    server: MockServer,
    _dir: tempfile::TempDir,
    config_path: PathBuf,
    remote: RemoteConfig,
    http: reqwest::Client,
    auth: Arc<TokenSource>,
    pacer: Arc<Pacer>,
    drive: Arc<Drive>,
}

impl Harness {
    /// A remote whose token expires `expires_in` from now, saved in a config file in a tempdir.
    async fn new(expires_in: chrono::Duration) -> Self {
        let server = MockServer::start().await;
        let uri = server.uri();
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("acd.conf");
        let token = json!({
            "access_token": OLD_ACCESS,
            "token_type": "bearer",
            "refresh_token": REFRESH,
            "expiry": (Utc::now() + expires_in).to_rfc3339(),
        })
        .to_string();
        let mut file = ConfigFile::load(&config_path).unwrap();
        for (key, value) in [
            ("type", "amazon cloud drive".to_string()),
            ("client_id", CLIENT_ID.to_string()),
            ("client_secret", CLIENT_SECRET.to_string()),
            ("auth_url", format!("{uri}/ap/oa")),
            ("token_url", format!("{uri}/auth/o2/token")),
            ("endpoint_url", format!("{uri}/drive/v1/account/endpoint")),
            ("token", token),
        ] {
            file.set("acd", key, &value);
        }
        file.save().unwrap();
        let section = ConfigFile::load(&config_path)
            .unwrap()
            .section("acd")
            .unwrap();
        let remote = RemoteConfig::from_section("acd", &section, &BTreeMap::new()).unwrap();
        let http = acd_client::http::build_client(&Default::default()).unwrap();
        let auth = TokenSource::new(
            &remote,
            http.clone(),
            Some(TokenStore {
                path: config_path.clone(),
                remote: "acd".into(),
            }),
        )
        .unwrap();
        let pacer = Arc::new(Pacer::with_random(pacer_config(), Box::new(|| 0.0)));
        let drive = Arc::new(Drive::with_urls(
            http.clone(),
            auth.clone(),
            pacer.clone(),
            url::Url::parse(&format!("{uri}/drive/v1/")).unwrap(),
            url::Url::parse(&format!("{uri}/cdproxy/")).unwrap(),
        ));
        Self {
            server,
            _dir: dir,
            config_path,
            remote,
            http,
            auth,
            pacer,
            drive,
        }
    }

    async fn fresh() -> Self {
        Self::new(chrono::Duration::days(3650)).await
    }

    fn uri(&self) -> String {
        self.server.uri()
    }

    fn downloader(&self, templink_threshold: u64) -> Downloader {
        Downloader {
            drive: self.drive.clone(),
            templink_threshold,
            stats: Arc::new(Stats::new(false)),
        }
    }

    /// The token saved in the configuration file now.
    fn saved_token(&self) -> Token {
        let file = ConfigFile::load(&self.config_path).unwrap();
        Token::from_json(&file.section("acd").unwrap()["token"]).unwrap()
    }
}

/// A token endpoint that answers `oauth_token.json` to a refresh, and must be called `times`.
async fn mount_token_endpoint(server: &MockServer, times: u64) {
    Mock::given(method("POST"))
        .and(path("/auth/o2/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .respond_with(json_reply(200, fixture("oauth_token.json")))
        .expect(times)
        .mount(server)
        .await;
}

fn json_reply(status: u16, body: String) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body, "application/json")
}

/// A FILE node like `node_file.json` with another id, name, parents and status.
fn node(id: &str, name: &str, parents: &[&str], status: &str) -> Value {
    let mut v = fixture_json("node_file.json");
    v["id"] = json!(id);
    v["name"] = json!(name);
    v["parents"] = json!(parents);
    v["status"] = json!(status);
    v
}

/// A list page like `list_page.json` (with `next`) or `list_last_page.json` (without).
fn page(nodes: Vec<Value>, next: Option<&str>) -> String {
    let mut v = match next {
        Some(t) => {
            let mut v = fixture_json("list_page.json");
            v["nextToken"] = json!(t);
            v
        }
        None => fixture_json("list_last_page.json"),
    };
    v["count"] = json!(nodes.len());
    v["data"] = json!(nodes);
    v.to_string()
}

fn ids(nodes: &[Node]) -> Vec<&str> {
    nodes.iter().map(|n| n.id.as_str()).collect()
}

fn file_node() -> Node {
    serde_json::from_str(&fixture("node_file.json")).unwrap()
}

/// Matches requests that carry no `Authorization` header.
struct NoAuthorization;

impl Match for NoAuthorization {
    fn matches(&self, request: &Request) -> bool {
        !request.headers.contains_key("authorization")
    }
}

/// Matches requests that carry no `Range` header.
struct NoRange;

impl Match for NoRange {
    fn matches(&self, request: &Request) -> bool {
        !request.headers.contains_key("range")
    }
}

// ---- 1. endpoint discovery ---------------------------------------------------------------

#[tokio::test]
async fn discovery_answer_is_used_cached_and_given_trailing_slashes() {
    let h = Harness::fresh().await;
    let uri = h.uri();
    let mut endpoints = fixture_json("endpoint.json");
    // No trailing slash: without one, `account/quota` would resolve to /meta/account/quota.
    endpoints["metadataUrl"] = json!(format!("{uri}/meta/v1"));
    endpoints["contentUrl"] = json!(format!("{uri}/content"));
    Mock::given(method("GET"))
        .and(path("/drive/v1/account/endpoint"))
        .and(bearer_token(OLD_ACCESS))
        .respond_with(json_reply(200, endpoints.to_string()))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/meta/v1/account/quota"))
        .respond_with(json_reply(200, fixture("quota.json")))
        .expect(2)
        .mount(&h.server)
        .await;

    let cache_dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let cache = EndpointCache::new(cache_dir.path().to_path_buf(), "acd");
        let drive = Drive::connect(
            h.http.clone(),
            h.auth.clone(),
            h.pacer.clone(),
            &h.remote.endpoint_url,
            Some(cache),
        )
        .await
        .unwrap();
        let quota = drive.quota().await.unwrap();
        assert_eq!(quota.quota, 5_368_709_120);
        assert_eq!(
            drive.content_url("nodes/x/content").unwrap().path(),
            "/content/nodes/x/content"
        );
    }
    let cached = std::fs::read_to_string(cache_dir.path().join("endpoints-acd.json")).unwrap();
    assert!(cached.contains("/meta/v1"), "{cached}");
}

// ---- 2. error classification end to end ----------------------------------------------------

#[tokio::test]
async fn conflict_409_carries_the_conflicting_node_id_and_is_not_retried() {
    let h = Harness::fresh().await;
    Mock::given(method("PATCH"))
        .and(path(format!("/drive/v1/nodes/{FILE_ID}")))
        .respond_with(json_reply(409, fixture("error_409_name_exists.json")))
        .expect(1)
        .mount(&h.server)
        .await;
    let err = h.drive.rename(FILE_ID, "Hello.txt").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(err.status(), Some(409));
    assert_eq!(err.conflict_node_id(), Some(FILE_ID));
}

#[tokio::test]
async fn not_found_404_is_not_retried() {
    let h = Harness::fresh().await;
    Mock::given(method("GET"))
        .and(path("/drive/v1/nodes/missing"))
        .respond_with(json_reply(404, fixture("error_404.json")))
        .expect(1)
        .mount(&h.server)
        .await;
    let err = h.drive.node("missing", false).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(matches!(err, Error::Api { status: 404, .. }), "{err:?}");
    assert!(err.to_string().contains("Node does not exist"), "{err}");
}

#[tokio::test]
async fn rate_limit_429_honours_retry_after() {
    let h = Harness::fresh().await;
    Mock::given(method("GET"))
        .and(path(format!("/drive/v1/nodes/{FILE_ID}")))
        .respond_with(
            json_reply(429, fixture("error_429_rate_exceeded.json"))
                .insert_header("Retry-After", "1"),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/drive/v1/nodes/{FILE_ID}")))
        .respond_with(json_reply(200, fixture("node_file.json")))
        .expect(1)
        .mount(&h.server)
        .await;
    let t0 = std::time::Instant::now();
    let node = h.drive.node(FILE_ID, false).await.unwrap();
    let elapsed = t0.elapsed();
    assert_eq!(node.id, FILE_ID);
    // Without Retry-After the back-off would be min_sleep (1 ms).
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    assert_eq!(h.pacer.retries(), 1);
}

#[tokio::test]
async fn server_error_500_is_retried_then_succeeds() {
    let h = Harness::fresh().await;
    Mock::given(method("GET"))
        .and(path(format!("/drive/v1/nodes/{FILE_ID}")))
        .respond_with(json_reply(500, fixture("error_500.json")))
        .up_to_n_times(2)
        .expect(2)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/drive/v1/nodes/{FILE_ID}")))
        .respond_with(json_reply(200, fixture("node_file.json")))
        .expect(1)
        .mount(&h.server)
        .await;
    let node = h.drive.node(FILE_ID, false).await.unwrap();
    assert_eq!(node.md5(), Some("6f5902ac237024bdd0c176cb93063dc4"));
    assert_eq!(h.pacer.retries(), 2);
}

#[tokio::test]
async fn unavailable_503_with_html_body_is_a_server_error_retried_to_the_limit() {
    let h = Harness::fresh().await;
    Mock::given(method("GET"))
        .and(path(format!("/drive/v1/nodes/{FILE_ID}")))
        .respond_with(ResponseTemplate::new(503).set_body_raw(
            "<html><body><b>Http/1.1 Service Unavailable</b></body> </html>",
            "text/html",
        ))
        .expect(u64::from(pacer_config().attempts))
        .mount(&h.server)
        .await;
    let err = h.drive.node(FILE_ID, false).await.unwrap_err();
    assert!(
        matches!(err, Error::RetriesExhausted { attempts: 4, .. }),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::ServerError);
    assert_eq!(err.status(), Some(503));
    assert!(!err.is_temporary());
    assert!(err.to_string().contains("Service Unavailable"), "{err}");
}

#[tokio::test]
async fn opf_503_is_a_server_error() {
    let h = Harness::fresh().await;
    // Answered every time: the error that comes back is the OPF answer, classified.
    Mock::given(method("GET"))
        .and(path(format!("/drive/v1/nodes/{FILE_ID}")))
        .respond_with(json_reply(503, fixture("error_503_opf.json")))
        .expect(u64::from(pacer_config().attempts))
        .mount(&h.server)
        .await;
    let err = h.drive.node(FILE_ID, false).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ServerError, "{err:?}");
    assert_eq!(err.status(), Some(503));
    let Error::RetriesExhausted { attempts, last, .. } = &err else {
        panic!("a server error is retried to the limit, got {err:?}");
    };
    assert_eq!(*attempts, pacer_config().attempts);
    assert!(last.is_temporary(), "{last:?}");
    assert!(
        err.to_string().contains("Online Proxy Fleet"),
        "the service's message is kept: {err}"
    );
    assert_eq!(h.pacer.retries(), u64::from(pacer_config().attempts - 1));
}

#[tokio::test]
async fn next_token_expired_400_is_classified_and_a_listing_that_keeps_getting_it_fails() {
    let h = Harness::fresh().await;
    Mock::given(method("GET"))
        .and(path("/drive/v1/trash"))
        .respond_with(json_reply(
            400,
            fixture("error_400_next_token_expired.json"),
        ))
        .expect(u64::from(pacer_config().attempts))
        .mount(&h.server)
        .await;
    let err = h.drive.trash_list().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NextTokenExpired);
    assert!(matches!(err, Error::RetriesExhausted { .. }), "{err:?}");
    assert_eq!(err.status(), Some(400));
}

#[tokio::test]
async fn permanent_400_is_not_retried() {
    let h = Harness::fresh().await;
    Mock::given(method("GET"))
        .and(path(format!("/drive/v1/nodes/{FILE_ID}")))
        .respond_with(json_reply(400, fixture("error_400.json")))
        .expect(1)
        .mount(&h.server)
        .await;
    let err = h.drive.node(FILE_ID, false).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Refused);
    assert!(matches!(err, Error::Api { status: 400, .. }), "{err:?}");
    assert!(!err.is_temporary());
    assert_eq!(h.pacer.retries(), 0);
}

// ---- 3. paging ---------------------------------------------------------------------------

/// Three pages of `parents:FOLDER`: a (→ t1), b (→ t2), c; page 1 is expected `page1_times`.
async fn mount_three_pages(server: &MockServer, page1_times: u64) {
    let filters = format!("parents:{FOLDER}");
    Mock::given(method("GET"))
        .and(path("/drive/v1/nodes"))
        .and(query_param("filters", filters.as_str()))
        .and(query_param_is_missing("startToken"))
        .respond_with(json_reply(
            200,
            page(vec![node("a", "a.txt", &[FOLDER], "AVAILABLE")], Some("t1")),
        ))
        .expect(page1_times)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/drive/v1/nodes"))
        .and(query_param("filters", filters.as_str()))
        .and(query_param("startToken", "t1"))
        .respond_with(json_reply(
            200,
            page(vec![node("b", "b.txt", &[FOLDER], "AVAILABLE")], Some("t2")),
        ))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/drive/v1/nodes"))
        .and(query_param("filters", filters.as_str()))
        .and(query_param("startToken", "t2"))
        .respond_with(json_reply(
            200,
            page(vec![node("c", "c.txt", &[FOLDER], "AVAILABLE")], None),
        ))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_listing_of_three_pages_is_read_to_the_end() {
    let h = Harness::fresh().await;
    mount_three_pages(&h.server, 1).await;
    let nodes = h.drive.children(FOLDER).await.unwrap();
    assert_eq!(ids(&nodes), ["a", "b", "c"]);
}

#[tokio::test]
async fn a_failed_page_restarts_the_listing_from_page_one() {
    let h = Harness::fresh().await;
    // Mounted first, so it answers the first request for page 2.
    Mock::given(method("GET"))
        .and(path("/drive/v1/nodes"))
        .and(query_param("startToken", "t1"))
        .respond_with(json_reply(500, fixture("error_500.json")))
        .up_to_n_times(1)
        .expect(1)
        .mount(&h.server)
        .await;
    mount_three_pages(&h.server, 2).await;
    let nodes = h.drive.children(FOLDER).await.unwrap();
    assert_eq!(ids(&nodes), ["a", "b", "c"]);
}

#[tokio::test]
async fn a_stale_next_token_restarts_the_listing() {
    let h = Harness::fresh().await;
    Mock::given(method("GET"))
        .and(path("/drive/v1/nodes"))
        .and(query_param("startToken", "t2"))
        .respond_with(json_reply(
            400,
            fixture("error_400_next_token_expired.json"),
        ))
        .up_to_n_times(1)
        .expect(1)
        .mount(&h.server)
        .await;
    // Page 1 twice; page 2 is asked for twice as well, so mount it apart.
    let filters = format!("parents:{FOLDER}");
    Mock::given(method("GET"))
        .and(path("/drive/v1/nodes"))
        .and(query_param("filters", filters.as_str()))
        .and(query_param_is_missing("startToken"))
        .respond_with(json_reply(
            200,
            page(vec![node("a", "a.txt", &[FOLDER], "AVAILABLE")], Some("t1")),
        ))
        .expect(2)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/drive/v1/nodes"))
        .and(query_param("startToken", "t1"))
        .respond_with(json_reply(
            200,
            page(vec![node("b", "b.txt", &[FOLDER], "AVAILABLE")], Some("t2")),
        ))
        .expect(2)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/drive/v1/nodes"))
        .and(query_param("startToken", "t2"))
        .respond_with(json_reply(
            200,
            page(vec![node("c", "c.txt", &[FOLDER], "AVAILABLE")], None),
        ))
        .expect(1)
        .mount(&h.server)
        .await;
    let nodes = h.drive.children(FOLDER).await.unwrap();
    assert_eq!(ids(&nodes), ["a", "b", "c"]);
}

#[tokio::test]
async fn a_listing_that_always_fails_is_an_error_never_empty() {
    let h = Harness::fresh().await;
    Mock::given(method("GET"))
        .and(path("/drive/v1/nodes"))
        .respond_with(json_reply(500, fixture("error_500.json")))
        .expect(u64::from(pacer_config().attempts))
        .mount(&h.server)
        .await;
    let err = h.drive.children(FOLDER).await.unwrap_err();
    assert!(
        matches!(err, Error::RetriesExhausted { attempts: 4, .. }),
        "{err:?}"
    );
    assert_eq!(err.status(), Some(500));
}

// ---- 4. stale search results -------------------------------------------------------------

#[tokio::test]
async fn children_drops_moved_away_and_unavailable_nodes() {
    let h = Harness::fresh().await;
    let other = "3ohaT2SSQWOecmP0GSWv6g";
    Mock::given(method("GET"))
        .and(path("/drive/v1/nodes"))
        .and(query_param("filters", format!("parents:{FOLDER}").as_str()))
        .respond_with(json_reply(
            200,
            page(
                vec![
                    node("live", "live.txt", &[FOLDER], "AVAILABLE"),
                    node("moved", "moved.txt", &[other], "AVAILABLE"),
                    node("trashed", "trashed.txt", &[FOLDER], "TRASH"),
                    node("pending", "pending.txt", &[FOLDER], "PENDING"),
                    node("two", "two.txt", &[other, FOLDER], "AVAILABLE"),
                ],
                None,
            ),
        ))
        .expect(1)
        .mount(&h.server)
        .await;
    let nodes = h.drive.children(FOLDER).await.unwrap();
    assert_eq!(ids(&nodes), ["live", "two"]);
}

// ---- 5. filter escaping on the wire ------------------------------------------------------

#[tokio::test]
async fn lookup_sends_an_escaped_quoted_name_filter() {
    let h = Harness::fresh().await;
    let name = "sp ace & (x)+[y]'q'.txt";
    let expected = format!(r#"parents:"{FOLDER}" AND name:"sp\ ace\ \&\ \(x\)\+\[y\]\'q\'.txt""#);
    Mock::given(method("GET"))
        .and(path("/drive/v1/nodes"))
        .and(query_param("filters", expected.as_str()))
        .respond_with(json_reply(
            200,
            page(vec![node("found", name, &[FOLDER], "AVAILABLE")], None),
        ))
        .expect(1)
        .mount(&h.server)
        .await;
    let found = h.drive.lookup(FOLDER, name).await.unwrap().unwrap();
    assert_eq!(found.id, "found");
    assert_eq!(found.name(), name);
}

// ---- 6. 401 and token refresh ------------------------------------------------------------

#[tokio::test]
async fn a_401_refreshes_once_retries_with_the_new_token_and_saves_it() {
    let h = Harness::fresh().await;
    let new = new_access();
    mount_token_endpoint(&h.server, 1).await;
    Mock::given(method("GET"))
        .and(path(format!("/drive/v1/nodes/{FILE_ID}")))
        .and(bearer_token(OLD_ACCESS))
        .respond_with(json_reply(401, fixture("error_401_token_expired.json")))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/drive/v1/nodes/{FILE_ID}")))
        .and(bearer_token(new.as_str()))
        .respond_with(json_reply(200, fixture("node_file.json")))
        .expect(1)
        .mount(&h.server)
        .await;

    let node = h.drive.node(FILE_ID, false).await.unwrap();
    assert_eq!(node.id, FILE_ID);
    assert_eq!(h.auth.refresh_count(), 1);

    // The refresh was a form POST carrying the refresh token.
    let requests = h.server.received_requests().await.unwrap();
    let refresh: Vec<_> = requests
        .iter()
        .filter(|r| r.url.path() == "/auth/o2/token")
        .collect();
    assert_eq!(refresh.len(), 1);
    let content_type = refresh[0].headers.get("content-type").unwrap();
    assert_eq!(content_type, "application/x-www-form-urlencoded");
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&refresh[0].body)
        .into_owned()
        .collect();
    assert_eq!(form["grant_type"], "refresh_token");
    assert_eq!(form["refresh_token"], REFRESH);

    // Saved to the configuration file, privately.
    let saved = h.saved_token();
    assert_eq!(saved.access_token.expose_secret(), new);
    let replied = fixture_json("oauth_token.json");
    assert_eq!(
        saved.refresh_token.expose_secret(),
        replied["refresh_token"].as_str().unwrap()
    );
    assert!(saved.expiry.unwrap() > Utc::now() + chrono::Duration::minutes(50));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&h.config_path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test]
async fn two_401s_in_a_row_ask_to_reconnect_after_one_refresh() {
    let h = Harness::fresh().await;
    mount_token_endpoint(&h.server, 1).await;
    Mock::given(method("GET"))
        .and(path(format!("/drive/v1/nodes/{FILE_ID}")))
        .respond_with(json_reply(401, fixture("error_401_token_expired.json")))
        .expect(2)
        .mount(&h.server)
        .await;
    let err = h.drive.node(FILE_ID, false).await.unwrap_err();
    assert!(matches!(err, Error::Auth(_)), "{err:?}");
    assert!(err.to_string().contains("reconnect"), "{err}");
    assert_no_secret(&full_text(&err));
    assert_eq!(h.auth.refresh_count(), 1);
}

// ---- 7. refresh ahead of expiry ----------------------------------------------------------

#[tokio::test]
async fn a_token_about_to_expire_is_refreshed_once_for_many_concurrent_calls() {
    let h = Harness::new(chrono::Duration::seconds(30)).await;
    let new = new_access();
    mount_token_endpoint(&h.server, 1).await;
    Mock::given(method("GET"))
        .and(path(format!("/drive/v1/nodes/{FILE_ID}")))
        .and(bearer_token(new.as_str()))
        .respond_with(json_reply(200, fixture("node_file.json")))
        .expect(10)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/drive/v1/nodes/{FILE_ID}")))
        .and(bearer_token(OLD_ACCESS))
        .respond_with(json_reply(401, fixture("error_401_token_expired.json")))
        .expect(0)
        .mount(&h.server)
        .await;
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let drive = h.drive.clone();
            tokio::spawn(async move { drive.node(FILE_ID, false).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().id, FILE_ID);
    }
    assert_eq!(h.auth.refresh_count(), 1);
    assert_eq!(h.saved_token().access_token.expose_secret(), new);
}

#[tokio::test]
async fn two_processes_sharing_a_config_file_refresh_once() {
    // A second TokenSource over the same file stands for another process: it must wait on the
    // file lock, re-read the file, and adopt the token the first one saved.
    let h = Harness::new(chrono::Duration::seconds(-60)).await;
    mount_token_endpoint(&h.server, 1).await;
    let other = TokenSource::new(
        &h.remote,
        h.http.clone(),
        Some(TokenStore {
            path: h.config_path.clone(),
            remote: "acd".into(),
        }),
    )
    .unwrap();
    let (a, b) = tokio::join!(h.auth.access_token(), other.access_token());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.expose_secret(), b.expose_secret());
    assert_eq!(h.auth.refresh_count() + other.refresh_count(), 1);
    assert_eq!(
        h.saved_token().access_token.expose_secret(),
        a.expose_secret()
    );
}

// ---- 8. token endpoint errors ------------------------------------------------------------

#[tokio::test]
async fn invalid_grant_says_to_reconnect_without_leaking_secrets() {
    let h = Harness::new(chrono::Duration::seconds(-60)).await;
    Mock::given(method("POST"))
        .and(path("/auth/o2/token"))
        .respond_with(json_reply(400, fixture("oauth_error_invalid_grant.json")))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/drive/v1/nodes/{FILE_ID}")))
        .respond_with(json_reply(200, fixture("node_file.json")))
        .expect(0)
        .mount(&h.server)
        .await;
    let err = h.drive.node(FILE_ID, false).await.unwrap_err();
    assert!(matches!(err, Error::Auth(_)), "{err:?}");
    assert!(err.to_string().contains("acd config reconnect"), "{err}");
    assert_no_secret(&full_text(&err));
}

#[tokio::test]
async fn invalid_client_retries_with_form_credentials_then_says_check_the_client() {
    let h = Harness::new(chrono::Duration::seconds(-60)).await;
    // Form credentials: the second try.
    Mock::given(method("POST"))
        .and(path("/auth/o2/token"))
        .and(body_string_contains("client_id="))
        .respond_with(json_reply(401, fixture("oauth_error_invalid_client.json")))
        .expect(1)
        .mount(&h.server)
        .await;
    // HTTP Basic: the first try.
    Mock::given(method("POST"))
        .and(path("/auth/o2/token"))
        .and(header_exists("authorization"))
        .respond_with(json_reply(401, fixture("oauth_error_invalid_client.json")))
        .expect(1)
        .mount(&h.server)
        .await;
    let err = h.auth.access_token().await.unwrap_err();
    assert!(matches!(err, Error::Auth(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("client_id") && text.contains("client_secret"),
        "{text}"
    );
    assert_no_secret(&full_text(&err));

    let requests = h.server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&requests[1].body)
        .into_owned()
        .collect();
    assert_eq!(form["client_id"], CLIENT_ID);
    assert!(!requests[1].headers.contains_key("authorization"));
}

// ---- 9. downloads ------------------------------------------------------------------------

fn content_path() -> String {
    format!("/cdproxy/nodes/{FILE_ID}/content")
}

/// Where a download goes, and checks on what is left there.
struct Dest {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Dest {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hello.txt");
        Self { _dir: dir, path }
    }
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[tokio::test]
async fn a_redirect_to_a_presigned_url_drops_authorization() {
    let h = Harness::fresh().await;
    let presigned = format!(
        "{}/s3/bucket/obj?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=abc",
        h.uri()
    );
    Mock::given(method("GET"))
        .and(path(content_path()))
        .and(bearer_token(OLD_ACCESS))
        .respond_with(ResponseTemplate::new(307).insert_header("Location", presigned.as_str()))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/s3/bucket/obj"))
        .and(query_param("X-Amz-Algorithm", "AWS4-HMAC-SHA256"))
        .and(NoAuthorization)
        .respond_with(ResponseTemplate::new(200).set_body_bytes(HELLO))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/s3/bucket/obj"))
        .and(header_exists("authorization"))
        .respond_with(ResponseTemplate::new(400).set_body_string(
            "<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed</Message></Error>",
        ))
        .expect(0)
        .mount(&h.server)
        .await;
    let dest = Dest::new();
    h.downloader(u64::MAX)
        .download(&file_node(), &dest.path)
        .await
        .unwrap();
    assert_eq!(read(&dest.path), HELLO);
    assert!(!partial_path(&dest.path).exists());
}

#[tokio::test]
async fn a_same_origin_redirect_keeps_authorization() {
    let h = Harness::fresh().await;
    Mock::given(method("GET"))
        .and(path(content_path()))
        .and(bearer_token(OLD_ACCESS))
        .respond_with(ResponseTemplate::new(307).insert_header("Location", "/cdproxy/moved/obj"))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/cdproxy/moved/obj"))
        .and(bearer_token(OLD_ACCESS))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(HELLO))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/cdproxy/moved/obj"))
        .and(NoAuthorization)
        .respond_with(json_reply(401, fixture("error_401_token_expired.json")))
        .expect(0)
        .mount(&h.server)
        .await;
    let dest = Dest::new();
    h.downloader(u64::MAX)
        .download(&file_node(), &dest.path)
        .await
        .unwrap();
    assert_eq!(read(&dest.path), HELLO);
}

#[tokio::test]
async fn large_files_download_through_their_templink_without_authorization() {
    let h = Harness::fresh().await;
    let mut with_link = fixture_json("node_file_templink.json");
    with_link["tempLink"] = json!(format!("{}/templink/tXW3pVq9Rk2", h.uri()));
    Mock::given(method("GET"))
        .and(path(format!("/drive/v1/nodes/{FILE_ID}")))
        .and(query_param("tempLink", "true"))
        .and(bearer_token(OLD_ACCESS))
        .respond_with(json_reply(200, with_link.to_string()))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/templink/tXW3pVq9Rk2"))
        .and(NoAuthorization)
        .respond_with(ResponseTemplate::new(200).set_body_bytes(HELLO))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/templink/tXW3pVq9Rk2"))
        .and(header_exists("authorization"))
        .respond_with(ResponseTemplate::new(400))
        .expect(0)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path(content_path()))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(HELLO))
        .expect(0)
        .mount(&h.server)
        .await;
    let dest = Dest::new();
    // The node is 12 bytes: at the threshold, so through the tempLink.
    h.downloader(12)
        .download(&file_node(), &dest.path)
        .await
        .unwrap();
    assert_eq!(read(&dest.path), HELLO);
}

#[tokio::test]
async fn an_md5_mismatch_leaves_nothing_behind() {
    let h = Harness::fresh().await;
    Mock::given(method("GET"))
        .and(path(content_path()))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"hello world!".as_slice()))
        .expect(1)
        .mount(&h.server)
        .await;
    let dest = Dest::new();
    let err = h
        .downloader(u64::MAX)
        .download(&file_node(), &dest.path)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Integrity);
    assert!(!dest.path.exists());
    assert!(!partial_path(&dest.path).exists());
}

#[tokio::test]
async fn a_body_cut_short_is_resumed_with_range() {
    let h = Harness::fresh().await;
    Mock::given(method("GET"))
        .and(path(content_path()))
        .and(NoRange)
        .respond_with(ResponseTemplate::new(200).set_body_bytes(&HELLO[..6]))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path(content_path()))
        .and(header("range", "bytes=6-"))
        .respond_with(
            ResponseTemplate::new(206)
                .insert_header("Content-Range", "bytes 6-11/12")
                .set_body_bytes(&HELLO[6..]),
        )
        .expect(1)
        .mount(&h.server)
        .await;
    let dest = Dest::new();
    h.downloader(u64::MAX)
        .download(&file_node(), &dest.path)
        .await
        .unwrap();
    assert_eq!(read(&dest.path), HELLO);
    assert!(!partial_path(&dest.path).exists());
}

#[tokio::test]
async fn a_stale_partial_file_is_discarded_and_the_file_downloaded_again() {
    let h = Harness::fresh().await;
    Mock::given(method("GET"))
        .and(path(content_path()))
        .and(header("range", "bytes=6-"))
        .respond_with(
            ResponseTemplate::new(206)
                .insert_header("Content-Range", "bytes 6-11/12")
                .set_body_bytes(&HELLO[6..]),
        )
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path(content_path()))
        .and(NoRange)
        .respond_with(ResponseTemplate::new(200).set_body_bytes(HELLO))
        .expect(1)
        .mount(&h.server)
        .await;
    let dest = Dest::new();
    // Left by an interrupted download of an older version of the file.
    std::fs::write(partial_path(&dest.path), b"STALE!").unwrap();
    h.downloader(u64::MAX)
        .download(&file_node(), &dest.path)
        .await
        .unwrap();
    assert_eq!(read(&dest.path), HELLO);
    assert!(!partial_path(&dest.path).exists());
}

// ---- 10. Debug output --------------------------------------------------------------------

#[tokio::test]
async fn debug_output_contains_no_secret() {
    let h = Harness::fresh().await;
    let token = h.remote.token.clone().unwrap();
    assert_eq!(token.access_token.expose_secret(), OLD_ACCESS);
    for text in [
        format!("{token:?}"),
        format!("{:?}", h.remote),
        format!("{:?}", h.auth),
        format!("{:?}", h.drive),
    ] {
        assert_no_secret(&text);
    }
}

#[tokio::test]
async fn an_expired_templink_is_asked_for_again_once() {
    let h = Harness::fresh().await;
    for (link, times) in [("old", 1), ("new", 1)] {
        let mut with_link = fixture_json("node_file_templink.json");
        with_link["tempLink"] = json!(format!("{}/templink/{link}", h.uri()));
        Mock::given(method("GET"))
            .and(path(format!("/drive/v1/nodes/{FILE_ID}")))
            .and(query_param("tempLink", "true"))
            .respond_with(json_reply(200, with_link.to_string()))
            .up_to_n_times(times)
            .expect(times)
            .mount(&h.server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/templink/old"))
        .respond_with(ResponseTemplate::new(410))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/templink/new"))
        .and(NoAuthorization)
        .respond_with(ResponseTemplate::new(200).set_body_bytes(HELLO))
        .expect(1)
        .mount(&h.server)
        .await;
    let dest = Dest::new();
    h.downloader(0)
        .download(&file_node(), &dest.path)
        .await
        .unwrap();
    assert_eq!(read(&dest.path), HELLO);
}

#[tokio::test]
async fn a_templink_redirect_never_gains_authorization() {
    let h = Harness::fresh().await;
    let mut with_link = fixture_json("node_file_templink.json");
    with_link["tempLink"] = json!(format!("{}/templink/abc", h.uri()));
    Mock::given(method("GET"))
        .and(path(format!("/drive/v1/nodes/{FILE_ID}")))
        .and(query_param("tempLink", "true"))
        .respond_with(json_reply(200, with_link.to_string()))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/templink/abc"))
        .respond_with(ResponseTemplate::new(307).insert_header("Location", "/templink/moved"))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/templink/moved"))
        .and(NoAuthorization)
        .respond_with(ResponseTemplate::new(200).set_body_bytes(HELLO))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/templink/moved"))
        .and(header_exists("authorization"))
        .respond_with(ResponseTemplate::new(400))
        .expect(0)
        .mount(&h.server)
        .await;
    let dest = Dest::new();
    h.downloader(0)
        .download(&file_node(), &dest.path)
        .await
        .unwrap();
    assert_eq!(read(&dest.path), HELLO);
}

// ---- 11. upload integrity ----------------------------------------------------------------

/// A local `hello.txt` with [`HELLO`] and an uploader for `h`'s drive.
fn hello_upload(h: &Harness) -> (tempfile::TempDir, PathBuf, Uploader) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hello.txt");
    std::fs::write(&file, HELLO).unwrap();
    let uploader = Uploader {
        drive: h.drive.clone(),
        slots: Arc::new(tokio::sync::Semaphore::new(1)),
        wait_per_gb: Duration::from_secs(180),
        poll: Duration::from_millis(10),
        stats: Arc::new(Stats::new(false)),
    };
    (dir, file, uploader)
}

/// The service stores the upload as a new node `BAD_ID` with this size and md5.
async fn mount_stored_upload(h: &Harness, size: usize, md5: &str) -> Value {
    let mut stored = node(BAD_ID, "hello.txt", &[FOLDER], "AVAILABLE");
    stored["contentProperties"]["size"] = json!(size);
    stored["contentProperties"]["md5"] = json!(md5);
    Mock::given(method("POST"))
        .and(path("/cdproxy/nodes"))
        .and(query_param("suppress", "deduplication"))
        .respond_with(json_reply(201, stored.to_string()))
        .expect(1)
        .mount(&h.server)
        .await;
    stored
}

const BAD_ID: &str = "bAdUpLoAdNoDe0000000000";
const HELLO_MD5: &str = "6f5902ac237024bdd0c176cb93063dc4";
const WRONG_MD5: &str = "0123456789abcdef0123456789abcdef";

#[tokio::test]
async fn an_upload_stored_with_another_md5_is_trashed_and_fails_as_an_integrity_error() {
    let h = Harness::fresh().await;
    let stored = mount_stored_upload(&h, HELLO.len(), WRONG_MD5).await;
    let mut trashed = stored.clone();
    trashed["status"] = json!("TRASH");
    Mock::given(method("PUT"))
        .and(path(format!("/drive/v1/trash/{BAD_ID}")))
        .respond_with(json_reply(200, trashed.to_string()))
        .expect(1)
        .mount(&h.server)
        .await;
    let (_dir, file, uploader) = hello_upload(&h);
    let source = Source {
        path: &file,
        size: HELLO.len() as u64,
    };
    let err = uploader
        .upload(FOLDER, "hello.txt", source, None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Integrity(_)), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Integrity);
    let text = err.to_string();
    for part in [HELLO_MD5, WRONG_MD5, "moved to the trash"] {
        assert!(text.contains(part), "{part:?} missing from {text}");
    }
    // Exactly one upload and one trash of the bad node: nothing retried, nothing left.
    h.server.verify().await;
}

#[tokio::test]
async fn an_upload_stored_with_another_size_is_trashed_too() {
    let h = Harness::fresh().await;
    mount_stored_upload(&h, HELLO.len() - 1, HELLO_MD5).await;
    Mock::given(method("PUT"))
        .and(path(format!("/drive/v1/trash/{BAD_ID}")))
        .respond_with(json_reply(
            200,
            node(BAD_ID, "hello.txt", &[FOLDER], "TRASH").to_string(),
        ))
        .expect(1)
        .mount(&h.server)
        .await;
    let (_dir, file, uploader) = hello_upload(&h);
    let source = Source {
        path: &file,
        size: HELLO.len() as u64,
    };
    let err = uploader
        .upload(FOLDER, "hello.txt", source, None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Integrity, "{err:?}");
    assert!(err.to_string().contains("stored 11 bytes"), "{err}");
    h.server.verify().await;
}

#[tokio::test]
async fn a_bad_upload_whose_trash_fails_says_so() {
    let h = Harness::fresh().await;
    mount_stored_upload(&h, HELLO.len(), WRONG_MD5).await;
    Mock::given(method("PUT"))
        .and(path(format!("/drive/v1/trash/{BAD_ID}")))
        .respond_with(json_reply(404, fixture("error_404.json")))
        .expect(1)
        .mount(&h.server)
        .await;
    let (_dir, file, uploader) = hello_upload(&h);
    let source = Source {
        path: &file,
        size: HELLO.len() as u64,
    };
    let err = uploader
        .upload(FOLDER, "hello.txt", source, None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Integrity, "{err:?}");
    assert!(
        err.to_string().contains("trashing the bad copy failed too"),
        "{err}"
    );
    h.server.verify().await;
}
