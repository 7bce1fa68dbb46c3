#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Bounded fuzzing of the mock's request parsing (issue 7): random `filters` strings, random
//! multipart bodies (boundaries, missing parts, junk after the final delimiter), random JSON
//! bodies to `POST nodes`, `PATCH nodes/{id}` and `POST changes`, and random `Range` headers,
//! against an in-process server with no faults. Each property runs 256 cases.
//!
//! Whatever the input: never a 5xx (the catch-panic layer turns a panic into a 500, so this
//! also means no panic), every 4xx is the service's JSON error shape (`{"message": "..."}`),
//! and afterwards the store still works: health is ok, a normal upload, listing and download
//! round-trip, and the file planted before the fuzzing is unchanged.

mod common;

use common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::{Method, Response, StatusCode, header};
use serde_json::{Value, json};

const CASES: u32 = 256;

/// The fixed file every fuzz run downloads ranges of: 3,000 bytes.
fn planted_bytes() -> Vec<u8> {
    (0..3000u32).map(|i| (i * 7 % 251) as u8).collect()
}

struct Fuzz {
    runtime: tokio::runtime::Runtime,
    ctx: Ctx,
    root: String,
    /// The planted file (never overwritten: range tests read it, PATCHes may rename it).
    file: String,
    /// A file the multipart fuzzing may overwrite.
    target: String,
}

impl Fuzz {
    fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (ctx, root, file, target) = runtime.block_on(async {
            let ctx = Ctx::start().await;
            let root = ctx.root_id().await;
            let file = id_of(
                &ctx.upload_file(&root, "planted.bin", &planted_bytes())
                    .await,
            );
            let target = id_of(&ctx.upload_file(&root, "target.bin", b"overwrite me").await);
            (ctx, root, file, target)
        });
        Self {
            runtime,
            ctx,
            root,
            file,
            target,
        }
    }

    /// Checks one answer: no 5xx, and a 4xx carries the JSON error shape. Returns status and
    /// body bytes.
    fn check(&self, what: &str, response: Response) -> (StatusCode, Vec<u8>) {
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = self
            .runtime
            .block_on(response.bytes())
            .map(|b| b.to_vec())
            .unwrap_or_default();
        assert!(
            !status.is_server_error(),
            "{what}: {status} {}",
            String::from_utf8_lossy(&body)
        );
        if status.is_client_error() {
            let parsed: Result<Value, _> = serde_json::from_slice(&body);
            assert!(
                content_type.starts_with("application/json")
                    && parsed
                        .as_ref()
                        .is_ok_and(|v| v["message"].as_str().is_some_and(|m| !m.is_empty())),
                "{what}: {status} is not a JSON error ({content_type}): {}",
                String::from_utf8_lossy(&body)
            );
        }
        (status, body)
    }

    fn send(&self, what: &str, request: reqwest::RequestBuilder) -> (StatusCode, Vec<u8>) {
        let response = self.runtime.block_on(request.send()).unwrap();
        self.check(what, response)
    }

    /// Health ok; the planted file unchanged; a fresh upload lists and downloads back.
    fn assert_store_sound(&self) {
        self.runtime.block_on(async {
            let (status, health) = json_of(
                self.ctx
                    .client
                    .get(self.ctx.admin("health"))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(health["status"], "ok", "{health}");
            assert_eq!(self.ctx.download(&self.file).await, planted_bytes());
            let bytes = b"after the fuzzing".to_vec();
            let name = format!("after-{}.txt", rand_suffix());
            let node = self.ctx.upload_file(&self.root, &name, &bytes).await;
            let found = self.ctx.lookup(&self.root, &name).await;
            assert_eq!(ids(&found), vec![id_of(&node)], "{found}");
            assert_eq!(self.ctx.download(&id_of(&node)).await, bytes);
        });
    }

    fn run<S: Strategy>(&self, strategy: S, test: impl Fn(S::Value)) {
        let mut runner = TestRunner::new(Config {
            cases: CASES,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&strategy, |value| {
                test(value);
                Ok(())
            })
            .unwrap();
        self.assert_store_sound();
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// Strings made of the filter grammar's pieces and arbitrary characters.
fn filter_string() -> impl Strategy<Value = String> {
    let pieces: Vec<&'static str> = vec![
        "name:",
        "parents:",
        "kind:",
        "kind:FILE",
        "isRoot:true",
        "status:",
        "status:TRASH",
        "modifiedDate:",
        "createdDate:[* TO ",
        "contentProperties.size:",
        "labels:",
        "bogus:",
        ":",
        "\"",
        "\\",
        " ",
        "AND ",
        "OR ",
        "NOT ",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        "*",
        "?",
        "~",
        "TO",
        "2015-01-01T00:00:00Z",
        "é",
        "😀",
        "\0",
        "%",
        "+",
        "-",
    ];
    prop_oneof![
        prop::collection::vec(prop::sample::select(pieces), 0..20).prop_map(|p| p.concat()),
        any::<String>(),
    ]
}

#[test]
fn random_filters_never_break_the_server() {
    let fuzz = Fuzz::new();
    fuzz.run(filter_string(), |filters| {
        let url = fuzz.ctx.m("nodes");
        let request = fuzz
            .ctx
            .req(Method::GET, &url)
            .query(&[("filters", filters.as_str())]);
        let (status, body) = fuzz.send(&format!("filters {filters:?}"), request);
        if status == StatusCode::OK {
            let list: Value = serde_json::from_slice(&body).unwrap();
            assert!(list["data"].is_array(), "{list}");
        }
    });
}

/// Arbitrary JSON values, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        prop::sample::select(vec![
            "",
            "FILE",
            "FOLDER",
            "ASSET",
            "AVAILABLE",
            "PENDING",
            "TRASH",
            "a/b",
            ".",
            "..",
            "name",
            "x\u{0}y",
            "😀",
        ])
        .prop_map(|s| json!(s)),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "name",
                    "kind",
                    "parents",
                    "labels",
                    "description",
                    "status",
                    "properties",
                    "checkpoint",
                    "chunkSize",
                    "maxNodes",
                    "includePurged",
                    "fromParent",
                    "childId",
                    "contentProperties",
                    "x",
                ]),
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}

/// A JSON body as bytes: usually valid JSON, sometimes truncated or with junk appended.
fn json_body() -> impl Strategy<Value = Vec<u8>> {
    (json_value(), 0u8..4, any::<Vec<u8>>()).prop_map(|(value, mangle, junk)| {
        let mut text = value.to_string().into_bytes();
        match mangle {
            0 => text.truncate(text.len() / 2),
            1 => text.extend_from_slice(&junk),
            _ => {}
        }
        text
    })
}

#[test]
fn random_json_bodies_never_break_the_server() {
    let fuzz = Fuzz::new();
    fuzz.run((0u8..3, json_body()), |(target, body)| {
        let (method, url, what) = match target {
            0 => (Method::POST, fuzz.ctx.m("nodes"), "POST nodes"),
            1 => (
                Method::PATCH,
                fuzz.ctx.m(&format!("nodes/{}", fuzz.file)),
                "PATCH nodes/{id}",
            ),
            _ => (Method::POST, fuzz.ctx.m("changes"), "POST changes"),
        };
        let request = fuzz.ctx.req(method, &url).body(body.clone());
        fuzz.send(
            &format!("{what} {:?}", String::from_utf8_lossy(&body)),
            request,
        );
    });
    // The PATCHes may have renamed the planted file, never changed its content (checked by
    // `assert_store_sound`).
}

/// One multipart part, or a broken piece of one.
fn multipart_piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        json_value().prop_map(|v| {
            format!("Content-Disposition: form-data; name=\"metadata\"\r\n\r\n{v}").into_bytes()
        }),
        (any::<String>(), any::<Vec<u8>>()).prop_map(|(name, bytes)| {
            let mut out = format!(
                "Content-Disposition: form-data; name=\"content\"; filename=\"{name}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .into_bytes();
            out.extend_from_slice(&bytes);
            out
        }),
        any::<Vec<u8>>(),
        Just(b"Content-Disposition: form-data\r\n\r\nno name".to_vec()),
        Just(b"\r\n\r\n".to_vec()),
    ]
}

/// A whole multipart request: the boundary declared, the one used, parts, the final
/// delimiter or not, and junk after it.
fn multipart_request() -> impl Strategy<Value = (String, Vec<u8>)> {
    let boundary = prop_oneof![
        Just("fuzzBoundary".to_string()),
        "[a-zA-Z0-9'()+_,./:=? -]{0,72}",
        any::<String>(),
    ];
    (
        boundary,
        any::<bool>(),
        prop::collection::vec(multipart_piece(), 0..4),
        any::<bool>(),
        any::<Vec<u8>>(),
        0u8..3,
    )
        .prop_map(|(boundary, same, parts, closed, junk, header_style)| {
            let used = if same {
                boundary.clone()
            } else {
                "other".to_string()
            };
            let mut body = Vec::new();
            for part in parts {
                body.extend_from_slice(format!("--{used}\r\n").as_bytes());
                body.extend_from_slice(&part);
                body.extend_from_slice(b"\r\n");
            }
            if closed {
                body.extend_from_slice(format!("--{used}--\r\n").as_bytes());
            }
            body.extend_from_slice(&junk);
            let content_type = match header_style {
                0 => format!("multipart/form-data; boundary={boundary}"),
                1 => format!("multipart/form-data; boundary=\"{boundary}\""),
                _ => boundary,
            };
            (content_type, body)
        })
}

#[test]
fn random_multipart_bodies_never_break_the_server() {
    let fuzz = Fuzz::new();
    let root = fuzz.root.clone();
    fuzz.run(
        (any::<bool>(), multipart_request()),
        |(overwrite, (content_type, body))| {
            let url = if overwrite {
                fuzz.ctx.c(&format!("nodes/{}/content", fuzz.target))
            } else {
                fuzz.ctx.c("nodes?suppress=deduplication")
            };
            let method = if overwrite { Method::PUT } else { Method::POST };
            // Some bodies name the root as parent, so a few uploads really create files.
            let body = if body.is_empty() {
                format!("{{\"parents\":[\"{root}\"]}}").into_bytes()
            } else {
                body
            };
            let request = fuzz
                .ctx
                .req(method, &url)
                .header(header::CONTENT_TYPE, content_type.clone())
                .body(body.clone());
            fuzz.send(
                &format!(
                    "{} multipart {content_type:?} {:?}",
                    if overwrite { "PUT" } else { "POST" },
                    String::from_utf8_lossy(&body)
                ),
                request,
            );
        },
    );
}

/// `Range` values from the grammar's pieces and arbitrary text.
fn range_value() -> impl Strategy<Value = String> {
    let pieces: Vec<&'static str> = vec![
        "bytes=",
        "bytes",
        "items=",
        "=",
        "-",
        ",",
        " ",
        "0",
        "1",
        "999",
        "1000",
        "2999",
        "3000",
        "3001",
        "18446744073709551615",
        "18446744073709551616",
        "-1",
        "abc",
        "é",
    ];
    prop_oneof![
        prop::collection::vec(prop::sample::select(pieces), 0..8).prop_map(|p| p.concat()),
        (0u64..4000, 0u64..4000).prop_map(|(a, b)| format!("bytes={a}-{b}")),
        (0u64..4000).prop_map(|a| format!("bytes=-{a}")),
        "[ -~]{0,40}",
    ]
}

#[test]
fn random_range_headers_never_break_the_server() {
    let fuzz = Fuzz::new();
    let planted = planted_bytes();
    fuzz.run(range_value(), |range| {
        let url = fuzz.ctx.c(&format!("nodes/{}/content", fuzz.file));
        let request = fuzz
            .ctx
            .req(Method::GET, &url)
            .header(header::RANGE, range.as_str());
        let response = fuzz.runtime.block_on(request.send()).unwrap();
        let content_range = response
            .headers()
            .get(header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let (status, body) = fuzz.check(&format!("Range {range:?}"), response);
        match status {
            StatusCode::OK => assert_eq!(body, planted, "Range {range:?}"),
            StatusCode::PARTIAL_CONTENT => {
                let content_range = content_range.expect("206 without Content-Range");
                let spec = content_range
                    .strip_prefix("bytes ")
                    .and_then(|r| r.strip_suffix("/3000"))
                    .unwrap_or_else(|| panic!("Range {range:?}: Content-Range {content_range}"));
                let (a, b) = spec.split_once('-').unwrap();
                let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
                assert!(a <= b && b < 3000, "Range {range:?}: {content_range}");
                assert_eq!(body, planted[a..=b], "Range {range:?}: {content_range}");
            }
            _ => {}
        }
    });
}
