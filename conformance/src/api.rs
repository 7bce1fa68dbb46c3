//! Raw HTTP against the API, so checks see exactly what the server answers (status, headers,
//! body), with helpers for the common calls.

use bytes::Bytes;
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

use crate::check::Failure;

/// The header that scopes the mock's fault rules to one check.
pub const SCOPE_HEADER: &str = "x-acd-mock-scope";

/// An HTTP answer, fully read.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code (0 when the connection failed).
    pub status: u16,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    /// Fail unless the status is `want`.
    pub fn expect(&self, want: u16, what: &str) -> Result<&Self, Failure> {
        if self.status == want {
            Ok(self)
        } else {
            Err(Failure::new(
                format!("{what}: HTTP {want}"),
                format!("HTTP {}: {}", self.status, short(&self.text())),
            ))
        }
    }

    /// Fail unless the status is 2xx; returns the JSON body.
    pub fn ok_json(&self, what: &str) -> Result<Value, Failure> {
        if (200..300).contains(&self.status) {
            Ok(self.json())
        } else {
            Err(Failure::new(
                format!("{what}: a 2xx answer"),
                format!("HTTP {}: {}", self.status, short(&self.text())),
            ))
        }
    }
}

/// The first 300 characters of a text.
pub fn short(text: &str) -> String {
    let t: String = text.chars().take(300).collect();
    if t.len() < text.len() {
        format!("{t}...")
    } else {
        t
    }
}

/// A connection to the API with one access token.
#[derive(Debug, Clone)]
pub struct Api {
    /// The HTTP client (no automatic redirects).
    pub http: reqwest::Client,
    /// Metadata base URL (ends in `/`).
    pub metadata: url::Url,
    /// Content base URL (ends in `/`).
    pub content: url::Url,
    /// The bearer token.
    pub token: String,
    /// The fault scope sent with every request, if any.
    pub scope: Option<String>,
}

impl Api {
    /// A URL under the metadata base.
    pub fn meta(&self, path: &str) -> url::Url {
        self.metadata
            .join(path)
            .unwrap_or_else(|_| self.metadata.clone())
    }

    /// A URL under the content base.
    pub fn content_url(&self, path: &str) -> url::Url {
        self.content
            .join(path)
            .unwrap_or_else(|_| self.content.clone())
    }

    /// A request with auth and scope set.
    pub fn request(&self, method: Method, url: url::Url) -> RequestBuilder {
        let mut r = self.http.request(method, url).bearer_auth(&self.token);
        if let Some(scope) = &self.scope {
            r = r.header(SCOPE_HEADER, scope);
        }
        r
    }

    /// Send and read the whole answer; a failed connection is status 0.
    pub async fn send(&self, request: RequestBuilder) -> Reply {
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                let body = response.bytes().await.unwrap_or_default();
                Reply {
                    status,
                    headers,
                    body,
                }
            }
            Err(e) => Reply {
                status: 0,
                headers: Default::default(),
                body: Bytes::from(e.without_url().to_string()),
            },
        }
    }

    /// GET under the metadata base with a query.
    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> Reply {
        self.send(self.request(Method::GET, self.meta(path)).query(query))
            .await
    }

    /// The root folder node.
    pub async fn root(&self) -> Result<Value, Failure> {
        let list = self
            .get("nodes", &[("filters", "kind:FOLDER AND isRoot:true")])
            .await
            .ok_json("find the root")?;
        list["data"]
            .get(0)
            .cloned()
            .ok_or_else(|| Failure::new("a root folder", list.to_string()))
    }

    /// Create a folder; the raw reply.
    pub async fn create_folder(&self, parent: &str, name: &str) -> Reply {
        let body = json!({"name": name, "kind": "FOLDER", "parents": [parent]});
        self.send(self.request(Method::POST, self.meta("nodes")).json(&body))
            .await
    }

    /// Create a folder, failing the check unless it is 201.
    pub async fn folder(&self, parent: &str, name: &str) -> Result<Value, Failure> {
        let reply = self.create_folder(parent, name).await;
        reply.expect(201, &format!("create folder {name:?}"))?;
        Ok(reply.json())
    }

    /// Upload bytes as a new file (multipart, metadata first); the raw reply.
    pub async fn upload(
        &self,
        parent: &str,
        name: &str,
        bytes: Vec<u8>,
        query: &[(&str, &str)],
    ) -> Reply {
        let metadata = json!({"name": name, "kind": "FILE", "parents": [parent]}).to_string();
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name("content")
            .mime_str("application/octet-stream")
            .unwrap_or_else(|_| reqwest::multipart::Part::bytes(Vec::new()));
        let form = reqwest::multipart::Form::new()
            .text("metadata", metadata)
            .part("content", part);
        self.send(
            self.request(Method::POST, self.content_url("nodes"))
                .query(query)
                .multipart(form),
        )
        .await
    }

    /// Upload with `suppress=deduplication`, failing the check unless it is 201.
    pub async fn file(&self, parent: &str, name: &str, bytes: &[u8]) -> Result<Value, Failure> {
        let reply = self
            .upload(
                parent,
                name,
                bytes.to_vec(),
                &[("suppress", "deduplication")],
            )
            .await;
        reply.expect(201, &format!("upload {name:?}"))?;
        Ok(reply.json())
    }

    /// Overwrite a file's content; the raw reply.
    pub async fn overwrite(&self, id: &str, bytes: Vec<u8>) -> Reply {
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name("content")
            .mime_str("application/octet-stream")
            .unwrap_or_else(|_| reqwest::multipart::Part::bytes(Vec::new()));
        let form = reqwest::multipart::Form::new().part("content", part);
        self.send(
            self.request(
                Method::PUT,
                self.content_url(&format!("nodes/{id}/content")),
            )
            .multipart(form),
        )
        .await
    }

    /// Download content, optionally with a Range header.
    pub async fn download(&self, id: &str, range: Option<&str>) -> Reply {
        let mut r = self.request(
            Method::GET,
            self.content_url(&format!("nodes/{id}/content")),
        );
        if let Some(range) = range {
            r = r.header(reqwest::header::RANGE, range);
        }
        self.send(r).await
    }

    /// A node by id.
    pub async fn node(&self, id: &str) -> Reply {
        self.get(&format!("nodes/{id}"), &[]).await
    }

    /// Every page of a listing at `path` with `query` (follows `nextToken`).
    pub async fn list_all(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<Value>, Failure> {
        let mut out = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..10_000 {
            let mut q: Vec<(&str, &str)> = query.to_vec();
            if let Some(t) = &next {
                q.push(("startToken", t));
            }
            let page = self.get(path, &q).await.ok_json("a listing page")?;
            out.extend(page["data"].as_array().cloned().unwrap_or_default());
            match page.get("nextToken").and_then(Value::as_str) {
                Some(t) => next = Some(t.to_string()),
                None => return Ok(out),
            }
        }
        Err(Failure::new(
            "a listing that ends",
            "more than 10,000 pages",
        ))
    }

    /// The live children of a folder.
    pub async fn children(&self, parent: &str) -> Result<Vec<Value>, Failure> {
        let filter = format!("parents:{parent}");
        let all = self.list_all("nodes", &[("filters", &filter)]).await?;
        Ok(all
            .into_iter()
            .filter(|n| n["status"] == "AVAILABLE")
            .collect())
    }

    /// Trash a node; the raw reply.
    pub async fn trash(&self, id: &str) -> Reply {
        self.send(
            self.request(Method::PUT, self.meta(&format!("trash/{id}")))
                .header(reqwest::header::CONTENT_LENGTH, "0"),
        )
        .await
    }
}

/// The id of a node value.
pub fn id(node: &Value) -> String {
    node["id"].as_str().unwrap_or_default().to_string()
}

/// Lowercase hex MD5 of bytes.
pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest as _;
    let digest = md5::Md5::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
