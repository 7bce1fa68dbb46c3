//! The `acd-conformance` binary: listing, the three kinds of target, reports, exit codes, and
//! `clean`, against an acd-mock process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use acd_e2e::process::{MockProcess, binary};
use serde_json::{Value, json};

fn conformance() -> Command {
    let mut cmd = Command::new(binary("acd-conformance", "acd-conformance").unwrap());
    cmd.env_remove("ACD_CONFIG").env("ACD_LOG", "error");
    cmd
}

fn run(args: &[&str]) -> Output {
    conformance().args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// A token for the mock's default account.
fn mint(url: &str) -> Value {
    block_on(async {
        reqwest::Client::new()
            .post(format!("{url}/_mock/tokens"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    })
}

/// The names of the live folders in the account's root.
fn root_folders(url: &str, token: &str) -> Vec<String> {
    block_on(async {
        let http = reqwest::Client::new();
        let get = |filters: String| {
            http.get(format!("{url}/drive/v1/nodes"))
                .bearer_auth(token)
                .query(&[("filters", filters)])
                .send()
        };
        let root: Value = get("kind:FOLDER AND isRoot:true".into())
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let root_id = root["data"][0]["id"].as_str().unwrap().to_string();
        let list: Value = get(format!("parents:{root_id}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["status"] == "AVAILABLE")
            .map(|n| n["name"].as_str().unwrap_or_default().to_string())
            .collect()
    })
}

#[test]
fn list_names_every_check_with_its_reference() {
    let out = run(&["--list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().filter(|l| l.contains('/')).collect();
    assert!(lines.len() >= 80, "{} checks listed", lines.len());
    assert!(
        lines.iter().all(|l| l.contains('§')),
        "every check cites a section"
    );
    let filtered = text(&run(&["--list", "--filter", "^faults/"]).stdout);
    assert!(
        filtered
            .lines()
            .filter(|l| l.contains('/'))
            .all(|l| l.starts_with("faults/"))
    );
}

#[test]
fn a_running_mock_passes_and_writes_json_and_junit() {
    let mock = MockProcess::start(&[]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (json_path, junit_path) = (dir.path().join("r.json"), dir.path().join("r.xml"));
    let target = format!("url={}", mock.url);
    let out = run(&[
        "--target",
        &target,
        "--filter",
        "^(root|listing|faults)/",
        "--seed",
        "5",
        "--json",
        json_path.to_str().unwrap(),
        "--junit",
        junit_path.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.contains("(seed 5)"),
        "the seed is in the report: {stdout}"
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(report["seed"], 5);
    let results = report["results"].as_array().unwrap();
    assert!(results.iter().any(|r| r["area"] == "faults"));
    for r in results {
        for key in [
            "suite",
            "area",
            "check",
            "verdict",
            "duration_ms",
            "message",
        ] {
            assert!(r.get(key).is_some(), "{key} in {r}");
        }
        assert_eq!(r["verdict"], "PASS", "{r}");
    }
    let junit = std::fs::read_to_string(&junit_path).unwrap();
    assert!(
        junit.contains("<testsuite") && junit.contains("name=\"faults\""),
        "{junit}"
    );
    // The run folder is trashed at the end.
    let token = mint(&mock.url)["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        !root_folders(&mock.url, &token)
            .iter()
            .any(|n| n.starts_with("acd-conformance-")),
        "the run folder is left behind"
    );
}

fn write_config(dir: &Path, url: &str) -> std::path::PathBuf {
    let token = mint(url);
    let token = json!({
        "access_token": token["access_token"],
        "token_type": "bearer",
        "refresh_token": token["refresh_token"],
        "expiry": "2099-01-01T00:00:00Z",
    });
    let path = dir.join("acd.conf");
    std::fs::write(
        &path,
        format!(
            "[real]\ntype = amazon cloud drive\nclient_id = x\nclient_secret = y\ntoken_url = {url}/auth/o2/token\nendpoint_url = {url}/drive/v1/account/endpoint\ntoken = {token}\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn a_remote_target_skips_fault_checks_and_touches_nothing_else() {
    let mock = MockProcess::start(&[]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &mock.url);
    let token = mint(&mock.url)["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let before = root_folders(&mock.url, &token);
    let out = run(&[
        "--target",
        "remote=real",
        "--config",
        config.to_str().unwrap(),
        "--filter",
        "^(root|faults|transfer)/",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let skipped: Vec<&str> = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("SKIP"))
        .collect();
    assert!(!skipped.is_empty(), "{stdout}");
    assert!(
        stdout.contains("the target lacks fault_injection"),
        "{stdout}"
    );
    assert!(stdout.contains("PASS"), "{stdout}");
    assert_eq!(
        root_folders(&mock.url, &token),
        before,
        "nothing outside the run folder changed"
    );
}

#[test]
fn exit_codes_say_what_went_wrong() {
    // The harness cannot run: 2, with a message naming the target.
    let out = run(&["--target", "url=http://127.0.0.1:9"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("127.0.0.1:9"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["--target", "nonsense"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("mock, url="),
        "{}",
        text(&out.stderr)
    );
    // A known divergence that passes is flagged: 1.
    let out = run(&[
        "--filter",
        "^root/root_is_found",
        "--xfail",
        "root/root_is_found_by_filter=test",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("XPASS"));
}

#[test]
fn clean_trashes_leftover_run_folders_only() {
    let mock = MockProcess::start(&[]).unwrap();
    let token = mint(&mock.url)["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    block_on(async {
        let http = reqwest::Client::new();
        let root: Value = http
            .get(format!("{}/drive/v1/nodes", mock.url))
            .bearer_auth(&token)
            .query(&[("filters", "kind:FOLDER AND isRoot:true")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for name in ["acd-conformance-0000000000000001", "keep-me"] {
            let status = http
                .post(format!("{}/drive/v1/nodes", mock.url))
                .bearer_auth(&token)
                .json(&json!({"name": name, "kind": "FOLDER", "parents": [root["data"][0]["id"]]}))
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(status, 201);
        }
    });
    let target = format!("url={}", mock.url);
    let out = run(&["clean", "--target", &target]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("trashed acd-conformance-0000000000000001"));
    assert_eq!(root_folders(&mock.url, &token), vec!["keep-me".to_string()]);
}
