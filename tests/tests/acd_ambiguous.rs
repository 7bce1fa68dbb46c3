#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Ambiguous outcomes (issue 13; reference §8.2, §8.6): every write command of `acd` run as a
//! process against an `acd-mock` process that applies the write and then fails its answer
//! (`when = "after_commit"`: a reset, a 500, a 504, a cut body). Each run must exit 0, leave
//! the right final state, and have applied the write exactly once (the journal shows one
//! commit of the operation; no second folder, no duplicate file). One mock serves the whole
//! table; each case works in its own folder. The same table runs against `--faults realistic`.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use acd_e2e::admin::md5_hex;
use acd_e2e::process::{MockProcess, binary};
use acd_mock::admin_client::{AdminError, JournalQuery};
use acd_mock::operation::Operation;
use serde_json::{Value, json};

/// The after-commit failures, as rule actions.
const FAULTS: [(&str, &str); 4] = [
    ("reset", r#"{"kind":"reset"}"#),
    ("500", r#"{"kind":"error","error":"internal_failure"}"#),
    ("504", r#"{"kind":"error","error":"gateway_timeout"}"#),
    ("cut_body", r#"{"kind":"cut_body","after_bytes":5}"#),
];

/// The write commands: name and the mock operation the fault is put on.
const COMMANDS: [(&str, &str); 8] = [
    ("mkdir", "create_folder"),
    ("copyto_new", "upload"),
    ("copyto_overwrite", "overwrite"),
    ("moveto_across", "move"),
    ("moveto_rename", "patch"),
    ("moveto_rename_across", "move"),
    ("delete", "trash"),
    ("trash_restore", "restore"),
];

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

struct Env {
    mock: MockProcess,
    acd: PathBuf,
    config: PathBuf,
    dir: tempfile::TempDir,
    token: String,
    runtime: tokio::runtime::Runtime,
    http: reqwest::Client,
    admin: acd_e2e::admin::Client,
}

impl Env {
    fn new(mock_args: &[&str]) -> Self {
        let mock = MockProcess::start(mock_args).unwrap();
        let admin = acd_e2e::admin::client(&mock.url).unwrap();
        let acd = binary("acd-client", "acd").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("acd.conf");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let minted = runtime.block_on(acd_e2e::admin::mint_async(&mock.url));
        let minted = serde_json::to_value(minted.unwrap()).unwrap();
        let token = minted["access_token"].as_str().unwrap().to_string();
        let env = Self {
            mock,
            acd,
            config,
            dir,
            token,
            runtime,
            http,
            admin,
        };
        let url = env.mock.url.clone();
        let saved = json!({
            "access_token": minted["access_token"],
            "token_type": "bearer",
            "refresh_token": minted["refresh_token"],
            "expiry": "2099-01-01T00:00:00Z",
        });
        env.ok(&[
            "config".to_string(),
            "create".into(),
            "r".into(),
            format!("endpoint_url={url}/drive/v1/account/endpoint"),
            format!("token_url={url}/auth/o2/token"),
            "client_id=x".into(),
            "client_secret=y".into(),
            format!("token={saved}"),
        ]);
        env
    }

    fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Output {
        let mut cmd = Command::new(&self.acd);
        for (key, _) in std::env::vars() {
            if key.starts_with("ACD_") {
                cmd.env_remove(key);
            }
        }
        let home = self.dir.path().join("home");
        cmd.env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("NO_COLOR", "1")
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .env_remove("http_proxy")
            .env_remove("https_proxy")
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .output()
            .expect("run acd")
    }

    fn ok<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(&self, args: &[S]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "acd {args:?} failed ({}):\n{}",
            out.status,
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    fn local(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_string_lossy().into_owned()
    }

    /// Runs one call of the typed admin client; panics with the mock's answer if it fails.
    fn admin<T>(
        &self,
        what: &str,
        call: impl std::future::Future<Output = Result<T, AdminError>>,
    ) -> T {
        self.runtime
            .block_on(call)
            .unwrap_or_else(|e| panic!("{what}: {e}"))
    }

    /// A GET of the metadata API; throttles and server errors (the realistic profile's) are
    /// polled through, up to 30 s.
    fn api(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        self.runtime.block_on(async {
            loop {
                let sent = self
                    .http
                    .get(format!("{}/drive/v1/{path}", self.mock.url))
                    .query(query)
                    .bearer_auth(&self.token)
                    .send()
                    .await;
                let (status, body) = match sent {
                    Ok(r) => (r.status(), r.text().await.unwrap_or_default()),
                    Err(e) => (reqwest::StatusCode::BAD_GATEWAY, e.to_string()),
                };
                if status.is_success() {
                    return serde_json::from_str(&body).unwrap();
                }
                let passing =
                    status.as_u16() == 429 || status.as_u16() == 403 || status.is_server_error();
                assert!(
                    passing && Instant::now() < deadline,
                    "GET {path}: {status} {body}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    }

    /// A node by id (never lags).
    fn node(&self, id: &str) -> Value {
        self.api(&format!("nodes/{id}"), &[])
    }

    /// The live nodes named `name` in folder `parent`, polled until `want` of them are listed
    /// (listings may lag, §8.8) or 10 s pass.
    fn named(&self, parent: &str, name: &str, want: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let filters = format!("parents:\"{parent}\" AND name:\"{name}\"");
            let list = self.api("nodes", &[("filters", filters.as_str())]);
            let live: Vec<Value> = list["data"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|n| {
                    n["status"] == "AVAILABLE"
                        && n["parents"]
                            .as_array()
                            .is_some_and(|p| p.iter().any(|x| x == parent))
                })
                .cloned()
                .collect();
            if live.len() == want || Instant::now() > deadline {
                return live;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn root(&self) -> String {
        let list = self.api("nodes", &[("filters", "kind:FOLDER AND isRoot:true")]);
        list["data"][0]["id"].as_str().unwrap().to_string()
    }

    /// The id of the one live node at `path` under `parent` (folders separated by `/`).
    fn id_at(&self, parent: &str, path: &str) -> String {
        let mut at = parent.to_string();
        for part in path.split('/') {
            let found = self.named(&at, part, 1);
            assert_eq!(found.len(), 1, "{path}: {part} in {at}: {found:?}");
            at = found[0]["id"].as_str().unwrap().to_string();
        }
        at
    }

    /// How many times `operation` was applied since the journal was cleared: answered 2xx,
    /// or committed before an after-commit fault.
    fn commits(&self, operation: &str) -> usize {
        let operation = Operation::ALL
            .into_iter()
            .find(|o| o.name() == operation)
            .unwrap_or_else(|| panic!("no operation named {operation}"));
        let query = JournalQuery {
            limit: Some(1000),
            operation: Some(operation),
        };
        let ok = |s: u16| (200..300).contains(&s);
        self.admin("GET /_mock/journal", self.admin.journal(&query))
            .iter()
            .filter(|e| ok(e.status) || e.committed.is_some_and(ok))
            .count()
    }

    fn fired(&self, rule: &str) -> u64 {
        self.admin("GET /_mock/faults/{id}", self.admin.fault(rule))
            .fired
    }
}

/// Runs one command under one after-commit fault in folder `folder` of the root; asserts exit
/// 0, the final state, and exactly one commit of the operation.
fn case(env: &Env, root: &str, folder: &str, command: &str, operation: &str, action: &str) {
    let what = format!("{command} under {action}");
    let base = format!("r:{folder}");
    let v1 = format!("{what}: first content\n").into_bytes();
    let v2 = format!("{what}: the second, longer content\n").into_bytes();
    // The state the command starts from, made without faults.
    env.ok(&["mkdir", &base]);
    let mut restore_id = String::new();
    match command {
        "copyto_overwrite" => {
            env.ok(&["copyto", &env.local("v1", &v1), &format!("{base}/f.txt")]);
        }
        "moveto_across" | "moveto_rename_across" => {
            env.ok(&[
                "copyto",
                &env.local("v1", &v1),
                &format!("{base}/a/one.txt"),
            ]);
            env.ok(&["mkdir", &format!("{base}/b")]);
        }
        "moveto_rename" | "delete" => {
            env.ok(&["copyto", &env.local("v1", &v1), &format!("{base}/one.txt")]);
        }
        "trash_restore" => {
            env.ok(&["copyto", &env.local("v1", &v1), &format!("{base}/one.txt")]);
            let folder_id = env.id_at(root, folder);
            restore_id = env.id_at(&folder_id, "one.txt");
            env.ok(&["delete", &format!("{base}/one.txt")]);
        }
        _ => {}
    }
    let folder_id = env.id_at(root, folder);
    let action: Value = serde_json::from_str(action).unwrap();
    let rule = format!("ac-{folder}");
    let fault = json!({"id": rule, "match": {"operation": operation}, "action": action,
                       "when": "after_commit", "trigger": {"first": 1}});
    env.admin("POST /_mock/faults", env.admin.add_faults_json(&fault));
    env.admin("DELETE /_mock/journal", env.admin.clear_journal());

    let args: Vec<String> = match command {
        "mkdir" => vec!["mkdir".into(), format!("{base}/new")],
        "copyto_new" => vec![
            "copyto".into(),
            env.local("v1", &v1),
            format!("{base}/up.txt"),
        ],
        "copyto_overwrite" => vec![
            "copyto".into(),
            env.local("v2", &v2),
            format!("{base}/f.txt"),
        ],
        "moveto_across" => vec![
            "moveto".into(),
            format!("{base}/a/one.txt"),
            format!("{base}/b/one.txt"),
        ],
        "moveto_rename_across" => vec![
            "moveto".into(),
            format!("{base}/a/one.txt"),
            format!("{base}/b/two.txt"),
        ],
        "moveto_rename" => vec![
            "moveto".into(),
            format!("{base}/one.txt"),
            format!("{base}/two.txt"),
        ],
        "delete" => vec!["delete".into(), format!("{base}/one.txt")],
        _ => vec![
            "trash".into(),
            "restore".into(),
            "r:".into(),
            restore_id.clone(),
        ],
    };
    let out = env.run(&args);
    assert!(
        out.status.success(),
        "{what}: acd {args:?} exited {}:\n{}",
        out.status,
        text(&out.stderr)
    );
    assert_eq!(env.fired(&rule), 1, "{what}: the fault fired once");
    assert_eq!(env.commits(operation), 1, "{what}: applied exactly once");
    env.admin("DELETE /_mock/faults/{id}", env.admin.remove_fault(&rule));

    let file_md5 = |node: &Value| {
        node["contentProperties"]["md5"]
            .as_str()
            .map(str::to_string)
    };
    match command {
        "mkdir" => {
            let found = env.named(&folder_id, "new", 1);
            assert_eq!(found.len(), 1, "{what}: one folder: {found:?}");
            assert_eq!(found[0]["kind"], "FOLDER", "{what}");
        }
        "copyto_new" => {
            let found = env.named(&folder_id, "up.txt", 1);
            assert_eq!(found.len(), 1, "{what}: one file: {found:?}");
            assert_eq!(file_md5(&found[0]), Some(md5_hex(&v1)), "{what}");
        }
        "copyto_overwrite" => {
            let id = env.id_at(&folder_id, "f.txt");
            assert_eq!(file_md5(&env.node(&id)), Some(md5_hex(&v2)), "{what}");
            assert_eq!(env.named(&folder_id, "f.txt", 1).len(), 1, "{what}");
        }
        "moveto_across" | "moveto_rename_across" => {
            let name = if command == "moveto_across" {
                "one.txt"
            } else {
                "two.txt"
            };
            let b = env.id_at(&folder_id, "b");
            let a = env.id_at(&folder_id, "a");
            let moved = env.named(&b, name, 1);
            assert_eq!(moved.len(), 1, "{what}: in b: {moved:?}");
            assert_eq!(file_md5(&moved[0]), Some(md5_hex(&v1)), "{what}");
            let node = env.node(moved[0]["id"].as_str().unwrap());
            assert_eq!(node["parents"], json!([b]), "{what}: only in b");
            assert!(
                env.named(&a, "one.txt", 0).is_empty(),
                "{what}: gone from a"
            );
        }
        "moveto_rename" => {
            let renamed = env.named(&folder_id, "two.txt", 1);
            assert_eq!(renamed.len(), 1, "{what}: {renamed:?}");
            assert!(env.named(&folder_id, "one.txt", 0).is_empty(), "{what}");
        }
        "delete" => {
            assert!(env.named(&folder_id, "one.txt", 0).is_empty(), "{what}");
        }
        _ => {
            let node = env.node(&restore_id);
            assert_eq!(node["status"], "AVAILABLE", "{what}");
            assert_eq!(node["parents"], json!([folder_id]), "{what}");
            assert_eq!(env.named(&folder_id, "one.txt", 1).len(), 1, "{what}");
        }
    }
}

fn run_table(env: &Env, faults: &[(&str, &str)]) {
    let root = env.root();
    for (i, (command, operation)) in COMMANDS.iter().enumerate() {
        for (j, (fault, action)) in faults.iter().enumerate() {
            let folder = format!("c{i}-{j}-{command}-{fault}");
            case(env, &root, &folder, command, operation, action);
        }
    }
}

#[test]
fn every_write_command_survives_every_after_commit_fault() {
    let env = Env::new(&[]);
    run_table(&env, &FAULTS);
}

#[test]
fn every_write_command_survives_after_commit_faults_under_the_realistic_profile() {
    let env = Env::new(&["--faults", "realistic", "--seed", "13"]);
    run_table(&env, &FAULTS[2..3]);
}
