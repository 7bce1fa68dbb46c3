//! Helpers shared by the HTTP-level tests of `acd-mock`: start a server, talk to it the way
//! go-acd/rclone/acd_cli do, build multipart bodies by hand, compare responses with the
//! canonical fixtures and snapshot them with the volatile values redacted.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub(crate) mod binary;

use acd_mock::{MockServer, MockServerBuilder};
use bytes::Bytes;
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};

/// The boundary of the hand-built multipart bodies.
pub(crate) const BOUNDARY: &str = "acdMockTestBoundary7MA4YWxkTrZu0gW";

/// The go-acd filter escape set (reference §5.4).
const FILTER_ESCAPED: &[char] = &[
    '+', '-', '&', '|', '!', '(', ')', '{', '}', '[', ']', '^', '\'', '"', '~', '*', '?', ':',
    '\\', ' ',
];

/// A running server plus a client signed in to its default account.
#[derive(Debug)]
pub(crate) struct Ctx {
    /// The server (stopped when dropped).
    pub server: MockServer,
    /// A plain HTTP client (no proxy).
    pub client: Client,
    /// The default account's access token.
    pub token: String,
    /// The default account's refresh token.
    pub refresh: String,
    /// The typed admin client of the server.
    pub admin_client: acd_mock::admin::Client,
    /// `metadataUrl` (ends in `/`).
    pub meta: String,
    /// `contentUrl` (ends in `/`).
    pub content: String,
}

/// A client that never goes through a proxy (the server is on loopback).
pub(crate) fn client() -> Client {
    Client::builder()
        .no_proxy()
        .build()
        .expect("reqwest client")
}

impl Ctx {
    /// A server with the default settings.
    pub(crate) async fn start() -> Self {
        Self::with(MockServer::builder()).await
    }

    /// A server from a configured builder.
    pub(crate) async fn with(builder: MockServerBuilder) -> Self {
        let server = builder.start().await.expect("the mock server starts");
        let tokens = server.mint_token(None).expect("a token can be minted");
        let meta = server.metadata_url();
        let content = server.content_url();
        let admin_client = acd_mock::admin::Client::with_http(client(), server.url());
        Self {
            admin_client,
            server,
            client: client(),
            token: tokens.access_token,
            refresh: tokens.refresh_token,
            meta,
            content,
        }
    }

    /// The server's base URL (no trailing slash).
    pub(crate) fn base(&self) -> &str {
        self.server.url()
    }

    /// A metadata API URL.
    pub(crate) fn m(&self, path: &str) -> String {
        format!("{}{path}", self.meta)
    }

    /// A content API URL.
    pub(crate) fn c(&self, path: &str) -> String {
        format!("{}{path}", self.content)
    }

    /// An admin API URL.
    pub(crate) fn admin(&self, path: &str) -> String {
        format!("{}/_mock/{path}", self.server.url())
    }

    /// A request carrying the default account's bearer token.
    pub(crate) fn req(&self, method: Method, url: &str) -> RequestBuilder {
        self.req_as(&self.token, method, url)
    }

    /// A request carrying the given bearer token.
    pub(crate) fn req_as(&self, token: &str, method: Method, url: &str) -> RequestBuilder {
        self.client.request(method, url).bearer_auth(token)
    }

    /// GET with the token; status and JSON body.
    pub(crate) async fn get(&self, url: &str) -> (StatusCode, Value) {
        json_of(self.req(Method::GET, url).send().await.expect("GET")).await
    }

    /// A request with a JSON body sent the go-acd way: `json + "\n"`, no Content-Type.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        self.send_as(&self.token, method, url, body).await
    }

    /// [`Ctx::send`] with another token.
    pub(crate) async fn send_as(
        &self,
        token: &str,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.req_as(token, method, url);
        if let Some(body) = body {
            request = request.body(format!("{body}\n"));
        }
        json_of(request.send().await.expect("request")).await
    }

    /// `GET nodes?filters=...`, with the query form-encoded as go-acd does.
    pub(crate) async fn search(&self, filters: &str) -> (StatusCode, Value) {
        self.get(&self.m(&format!("nodes?filters={}", form(filters))))
            .await
    }

    /// `GET nodes?filters=...` that must succeed; the list envelope.
    pub(crate) async fn list(&self, filters: &str) -> Value {
        let (status, body) = self.search(filters).await;
        assert_eq!(status, StatusCode::OK, "search {filters:?}: {body}");
        assert_list_envelope(&body);
        body
    }

    /// The root node (go-acd's GetRoot query).
    pub(crate) async fn root(&self) -> Value {
        let list = self.list("kind:FOLDER AND isRoot:true").await;
        list["data"][0].clone()
    }

    /// The root node's id.
    pub(crate) async fn root_id(&self) -> String {
        id_of(&self.root().await)
    }

    /// go-acd's child lookup: `parents:"P" AND name:"<escaped>"`.
    pub(crate) async fn lookup(&self, parent: &str, name: &str) -> Value {
        self.list(&format!(
            "parents:\"{parent}\" AND name:\"{}\"",
            escape_filter(name)
        ))
        .await
    }

    /// Creates a folder; must answer 201.
    pub(crate) async fn mkdir(&self, parent: &str, name: &str) -> Value {
        let (status, body) = self
            .send(
                Method::POST,
                &self.m("nodes"),
                Some(&json!({"name": name, "kind": "FOLDER", "parents": [parent]})),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "create folder {name:?}: {body}"
        );
        body
    }

    /// POSTs a hand-built multipart body to `contentUrl` + `path_and_query`.
    pub(crate) async fn post_multipart(
        &self,
        path_and_query: &str,
        body: Vec<u8>,
        chunked: bool,
    ) -> Response {
        self.multipart_request(Method::POST, &self.c(path_and_query), body, chunked)
            .await
    }

    /// Sends a hand-built multipart body; `chunked` streams it (no Content-Length).
    pub(crate) async fn multipart_request(
        &self,
        method: Method,
        url: &str,
        body: Vec<u8>,
        chunked: bool,
    ) -> Response {
        let request = self
            .req(method, url)
            .header("Content-Type", multipart_type());
        let request = if chunked {
            request.body(reqwest::Body::wrap_stream(chunked_stream(body, 7)))
        } else {
            request.body(body)
        };
        request.send().await.expect("multipart request")
    }

    /// Uploads a file the go-acd way (metadata part first, `suppress=deduplication`).
    pub(crate) async fn upload(
        &self,
        parent: &str,
        name: &str,
        bytes: &[u8],
    ) -> (StatusCode, Value) {
        let body = multipart_body(
            &[
                Part::metadata(&file_metadata(name, parent)),
                Part::content(bytes),
            ],
            b"",
        );
        json_of(
            self.post_multipart("nodes?suppress=deduplication", body, false)
                .await,
        )
        .await
    }

    /// Uploads a file; must answer 201.
    pub(crate) async fn upload_file(&self, parent: &str, name: &str, bytes: &[u8]) -> Value {
        let (status, body) = self.upload(parent, name, bytes).await;
        assert_eq!(status, StatusCode::CREATED, "upload {name:?}: {body}");
        body
    }

    /// Downloads a file's bytes; must answer 200.
    pub(crate) async fn download(&self, id: &str) -> Vec<u8> {
        let response = self
            .req(Method::GET, &self.c(&format!("nodes/{id}/content")))
            .send()
            .await
            .expect("download");
        assert_eq!(response.status(), StatusCode::OK, "download {id}");
        response.bytes().await.expect("download body").to_vec()
    }

    /// `GET nodes/{id}`.
    pub(crate) async fn node(&self, id: &str) -> (StatusCode, Value) {
        self.get(&self.m(&format!("nodes/{id}"))).await
    }

    /// `PUT trash/{id}` with no body.
    pub(crate) async fn trash(&self, id: &str) -> (StatusCode, Value) {
        self.send(Method::PUT, &self.m(&format!("trash/{id}")), None)
            .await
    }

    /// `POST trash/{id}/restore` with no body.
    pub(crate) async fn restore(&self, id: &str) -> (StatusCode, Value) {
        self.send(Method::POST, &self.m(&format!("trash/{id}/restore")), None)
            .await
    }

    /// `POST changes`; the raw NDJSON text.
    pub(crate) async fn changes(&self, body: &Value) -> (StatusCode, String) {
        let response = self
            .req(Method::POST, &self.m("changes"))
            .body(body.to_string())
            .send()
            .await
            .expect("changes");
        let status = response.status();
        (status, response.text().await.expect("changes body"))
    }

    /// Admin POST with an optional JSON body.
    pub(crate) async fn admin_post(&self, path: &str, body: Option<&Value>) -> (StatusCode, Value) {
        let mut request = self.client.post(self.admin(path));
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        json_of(request.send().await.expect("admin request")).await
    }

    /// The journal's entries of one operation (its snake_case name), oldest first, as JSON.
    pub(crate) async fn journal_of(&self, operation: &str) -> Vec<Value> {
        let operation = serde_json::from_value(json!(operation))
            .unwrap_or_else(|e| panic!("operation {operation}: {e}"));
        let query = acd_mock::admin_client::JournalQuery {
            limit: None,
            operation: Some(operation),
        };
        let entries = self.admin_client.journal(&query).await.expect("journal");
        entries
            .iter()
            .map(|e| serde_json::to_value(e).expect("entry JSON"))
            .collect()
    }

    /// Adds fault rules written as JSON (one rule or `{"rules": [...]}`); must answer 201.
    /// Their ids.
    pub(crate) async fn add_faults(&self, rules: &Value) -> Vec<String> {
        self.admin_client
            .add_faults_json(rules)
            .await
            .unwrap_or_else(|e| panic!("{rules}: {e}"))
    }

    /// Snapshot settings: every id, date, etag, logref, token, checkpoint and URL with the
    /// port redacted.
    pub(crate) fn snapshots(&self) -> insta::Settings {
        snapshot_settings(self.server.url())
    }
}

/// Reads a response as JSON, with a readable panic when it is not.
pub(crate) async fn json_of(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("response body");
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{status}: the body is not JSON ({e}): {text:?}"));
    (status, value)
}

/// Form-encodes a query value as go-querystring does (space → `+`, `:` → `%3A`, ...).
pub(crate) fn form(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Escapes a filter value as go-acd's `EscapeForFilter` does.
pub(crate) fn escape_filter(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 2);
    for c in value.chars() {
        if FILTER_ESCAPED.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The `id` of a node JSON.
pub(crate) fn id_of(node: &Value) -> String {
    node["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {node}"))
        .to_string()
}

/// The ids in a list envelope's `data`, in order.
pub(crate) fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data array in {list}"))
        .iter()
        .map(id_of)
        .collect()
}

/// The ids sorted (listing order is not part of the API contract).
pub(crate) fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// Lowercase hex MD5 (the workspace's one helper).
#[allow(unused_imports)]
pub(crate) use acd_mock::admin_client::md5_hex;

/// Checks the list rules of §5.3/§12.2: `data` an array, `count` a number, `nextToken`
/// either absent or a non-empty string (never null).
#[track_caller]
pub(crate) fn assert_list_envelope(list: &Value) {
    assert!(list["data"].is_array(), "data must be an array: {list}");
    assert!(list["count"].is_u64(), "count must be present: {list}");
    if let Some(token) = list.get("nextToken") {
        assert!(
            token.as_str().is_some_and(|t| !t.is_empty()),
            "nextToken must be a non-empty string when present: {list}"
        );
    }
}

/// Checks the service's JSON error body: `logref` (UUID), `message`, `code` strings.
#[track_caller]
pub(crate) fn assert_error_body(body: &Value) {
    let logref = body["logref"]
        .as_str()
        .unwrap_or_else(|| panic!("no logref in {body}"));
    assert_eq!(logref.len(), 36, "logref is UUID-shaped: {body}");
    assert_eq!(
        logref.matches('-').count(),
        4,
        "logref is UUID-shaped: {body}"
    );
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "message: {body}"
    );
    assert!(body["code"].is_string(), "code: {body}");
}

/// A 4xx answered with the JSON error shape.
#[track_caller]
pub(crate) fn assert_client_error(status: StatusCode, body: &Value, expected: StatusCode) {
    assert_eq!(status, expected, "{body}");
    assert_error_body(body);
    assert_shape("error_400.json", body);
}

// ---- multipart --------------------------------------------------------------------------

/// One part of a hand-built multipart body.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    /// The form field name.
    pub name: String,
    /// The `filename` attribute.
    pub filename: Option<String>,
    /// The part's Content-Type.
    pub content_type: Option<String>,
    /// Its bytes.
    pub body: Vec<u8>,
}

impl Part {
    /// The `metadata` part holding a JSON string (go-acd: no trailing newline).
    pub(crate) fn metadata(value: &Value) -> Self {
        Self {
            name: "metadata".into(),
            filename: None,
            content_type: None,
            body: value.to_string().into_bytes(),
        }
    }

    /// The `content` part as Go's CreateFormFile writes it.
    pub(crate) fn content(bytes: &[u8]) -> Self {
        Self::named("content", bytes)
    }

    /// A file part with another field name (acd_cli's streamed uploads use `foo`).
    pub(crate) fn named(name: &str, bytes: &[u8]) -> Self {
        Self {
            name: name.into(),
            filename: Some("ignored-name.bin".into()),
            content_type: Some("application/octet-stream".into()),
            body: bytes.to_vec(),
        }
    }
}

/// The upload metadata go-acd sends.
pub(crate) fn file_metadata(name: &str, parent: &str) -> Value {
    json!({"name": name, "kind": "FILE", "parents": [parent]})
}

/// `multipart/form-data; boundary=...` for [`BOUNDARY`].
pub(crate) fn multipart_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

/// Builds a multipart body from `parts` (in order), then the closing delimiter, then
/// `trailer` (stray bytes after the final boundary).
pub(crate) fn multipart_body(parts: &[Part], trailer: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        out.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        let mut disposition = format!("Content-Disposition: form-data; name=\"{}\"", part.name);
        if let Some(filename) = &part.filename {
            disposition.push_str(&format!("; filename=\"{filename}\""));
        }
        out.extend_from_slice(disposition.as_bytes());
        out.extend_from_slice(b"\r\n");
        if let Some(content_type) = &part.content_type {
            out.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&part.body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out.extend_from_slice(trailer);
    out
}

/// A body stream in small chunks, so reqwest sends it chunked with no Content-Length.
pub(crate) fn chunked_stream(
    body: Vec<u8>,
    chunk: usize,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync + 'static {
    let chunks: Vec<Result<Bytes, std::io::Error>> = body
        .chunks(chunk.max(1))
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    futures_util::stream::iter(chunks)
}

// ---- fixtures and shapes ----------------------------------------------------------------

/// A fixture of `/fixtures` parsed as JSON.
pub(crate) fn fixture(name: &str) -> Value {
    let path = format!("{}/../fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn is_node(map: &serde_json::Map<String, Value>) -> bool {
    map.contains_key("id") && map.contains_key("kind") && map.contains_key("eTagResponse")
}

/// Collects the differences between the shape of `expected` and `actual`: the same key set
/// in every object (and the same key order inside nodes), the same JSON type everywhere,
/// arrays compared by their first elements.
pub(crate) fn shape_diff(
    expected: &Value,
    actual: &Value,
    path: &str,
    ordered: bool,
    out: &mut Vec<String>,
) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            let ordered = ordered || is_node(e);
            let ek: Vec<&String> = e.keys().collect();
            let ak: Vec<&String> = a.keys().collect();
            let missing: Vec<&&String> =
                ek.iter().filter(|k| !a.contains_key(k.as_str())).collect();
            let extra: Vec<&&String> = ak.iter().filter(|k| !e.contains_key(k.as_str())).collect();
            if !missing.is_empty() || !extra.is_empty() {
                out.push(format!(
                    "{path}: missing keys {missing:?}, unexpected keys {extra:?}"
                ));
            } else if ordered && ek != ak {
                out.push(format!("{path}: key order {ak:?}, expected {ek:?}"));
            }
            for (key, e_value) in e {
                if let Some(a_value) = a.get(key) {
                    shape_diff(e_value, a_value, &format!("{path}.{key}"), ordered, out);
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if let (Some(e0), Some(a0)) = (e.first(), a.first()) {
                shape_diff(e0, a0, &format!("{path}[0]"), ordered, out);
            }
        }
        _ => {
            let (et, at) = (type_name(expected), type_name(actual));
            if et != at {
                out.push(format!("{path}: {at}, expected {et}"));
            }
        }
    }
}

/// Does `actual` have the shape of the fixture `fixture_name`? Prints the differences.
pub(crate) fn shape_matches(fixture_name: &str, actual: &Value) -> bool {
    shape_matches_value(&fixture(fixture_name), actual, fixture_name)
}

/// [`shape_matches`] against an already loaded fixture value.
pub(crate) fn shape_matches_value(expected: &Value, actual: &Value, label: &str) -> bool {
    let mut diffs = Vec::new();
    shape_diff(expected, actual, "", false, &mut diffs);
    for diff in &diffs {
        eprintln!("shape mismatch against {label}: {diff}");
    }
    diffs.is_empty()
}

/// Asserts [`shape_matches`].
#[track_caller]
pub(crate) fn assert_shape(fixture_name: &str, actual: &Value) {
    assert!(
        shape_matches(fixture_name, actual),
        "{actual} does not have the shape of {fixture_name}"
    );
}

// ---- snapshots --------------------------------------------------------------------------

/// Is `word` a node id (22 characters of `[A-Za-z0-9_-]`)?
pub(crate) fn looks_like_id(word: &str) -> bool {
    word.len() == 22
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Replaces the node ids inside a text with `[id]`.
pub(crate) fn redact_ids_in_text(text: &str) -> String {
    text.split(' ')
        .map(|w| if looks_like_id(w) { "[id]" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Replaces the base URL (it holds the port), node ids and tempLink tokens in a URL.
pub(crate) fn redact_url(url: &str, base: &str) -> String {
    let url = url.replace(base, "[base]");
    let mut after_templink = false;
    url.split('/')
        .map(|segment| {
            let out = if after_templink {
                "[token]".to_string()
            } else if looks_like_id(segment) {
                "[id]".to_string()
            } else {
                segment.to_string()
            };
            after_templink = segment == "templink";
            out
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The redactions every snapshot of this suite uses.
pub(crate) fn snapshot_settings(base_url: &str) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    for key in ["id", "nodeId"] {
        settings.add_redaction(&format!(".**.{key}"), "[id]");
    }
    settings.add_redaction(".**.parents[]", "[id]");
    settings.add_redaction(".**.eTagResponse", "[etag]");
    for key in [
        "createdDate",
        "modifiedDate",
        "contentDate",
        "lastCalculated",
        "time",
    ] {
        settings.add_redaction(&format!(".**.{key}"), "[date]");
    }
    settings.add_redaction(".**.logref", "[logref]");
    for key in ["access_token", "refresh_token", "nextToken"] {
        settings.add_redaction(&format!(".**.{key}"), "[token]");
    }
    settings.add_redaction(".**.checkpoint", "[checkpoint]");
    settings.add_redaction(
        ".**.message",
        insta::dynamic_redaction(|value, _| {
            value.as_str().map(redact_ids_in_text).unwrap_or_default()
        }),
    );
    for key in ["tempLink", "location", "contentUrl", "metadataUrl"] {
        let base = base_url.to_string();
        settings.add_redaction(
            &format!(".**.{key}"),
            insta::dynamic_redaction(move |value, _| {
                value
                    .as_str()
                    .map(|url| redact_url(url, &base))
                    .unwrap_or_default()
            }),
        );
    }
    settings
}
