//! The `acd-conformance` binary: listing, the three kinds of target, reports, exit codes, and
//! `clean`, against an acd-mock process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use acd_e2e::process::{MockProcess, binary};
use acd_mock::admin_client::MintRequest;
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
    mint_with(url, json!({}))
}

/// A token for the mock's default account, minted with `body` (e.g. a `client_id`).
fn mint_with(url: &str, body: Value) -> Value {
    let request: MintRequest = serde_json::from_value(body).unwrap();
    let admin = acd_e2e::admin::client(url).unwrap();
    let token = block_on(admin.mint_token(&request)).unwrap();
    serde_json::to_value(token).unwrap()
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
    let all = acd_conformance::cases::all();
    let listed: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let want: Vec<String> = all.iter().map(|c| c.id()).collect();
    assert_eq!(listed, want, "every check of the library, once, in order");
    assert!(
        lines.iter().all(|l| l.contains('§')),
        "every check cites a section"
    );
    // The checks of acd-client say so, and only they.
    for (line, check) in lines.iter().zip(&all) {
        assert_eq!(
            line.contains("(tests acd-client against the target)"),
            check.area == "client",
            "{line}"
        );
    }
    let client = all.iter().filter(|c| c.area == "client").count();
    assert!(client > 0);
    assert!(
        stdout.contains(&format!(
            "{} checks: {} of the target, {client} of acd-client against the target",
            all.len(),
            all.len() - client
        )),
        "{stdout}"
    );
    let filtered = text(&run(&["--list", "--filter", "^client/"]).stdout);
    let filtered: Vec<&str> = filtered.lines().filter(|l| l.contains('/')).collect();
    assert_eq!(filtered.len(), client);
    assert!(filtered.iter().all(|l| l.starts_with("client/")));
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
        "^(root|listing|client)/",
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
    assert!(results.iter().any(|r| r["area"] == "client"));
    for r in results {
        for key in [
            "suite",
            "area",
            "check",
            "verdict",
            "duration_ms",
            "calls",
            "retries",
            "message",
        ] {
            assert!(r.get(key).is_some(), "{key} in {r}");
        }
        assert_eq!(r["verdict"], "PASS", "{r}");
    }
    let junit = std::fs::read_to_string(&junit_path).unwrap();
    assert!(
        junit.contains("<testsuite") && junit.contains("name=\"client\""),
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
    // As on a real account, the token belongs to the app of the config's client id.
    let token = mint_with(url, json!({"client_id": "x"}));
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
        "^(root|client|transfer)/",
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

/// Runs the whole suite against `target` (a mock with the realistic fault profile) and checks
/// the JSON report: no FAIL, no ERROR, no XPASS, every SKIP with a reason, and the faults were
/// met (retries happened). Returns the report and the run's stdout.
fn run_realistic(target: &str, extra: &[&str], dir: &Path, tag: &str) -> (Value, String) {
    let json_path = dir.join(format!("{tag}.json"));
    let mut args = vec![
        "--target",
        target,
        "--seed",
        "3",
        "--json",
        json_path.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = run(&args);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(
        stdout.starts_with("budget: "),
        "the budget comes first: {stdout}"
    );
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap())
        .unwrap_or_else(|e| panic!("{tag}: no JSON report ({e}):\n{stdout}\n{stderr}"));
    let results = report["results"].as_array().unwrap();
    let bad: Vec<String> = results
        .iter()
        .filter(|r| !matches!(r["verdict"].as_str(), Some("PASS" | "SKIP" | "XFAIL")))
        .map(|r| {
            format!(
                "{} {}/{}: {}",
                r["verdict"], r["area"], r["check"], r["message"]
            )
        })
        .collect();
    assert!(bad.is_empty(), "{tag}: {bad:#?}\n{stdout}");
    for r in results.iter().filter(|r| r["verdict"] == "SKIP") {
        assert!(
            r["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{tag}: a SKIP without a reason: {r}"
        );
    }
    assert_eq!(
        out.status.code(),
        Some(0),
        "{tag}: exit code\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains(" failed, 0 errors") && !stdout.contains("FAIL "),
        "{stdout}"
    );
    let retries: u64 = results.iter().map(|r| r["retries"].as_u64().unwrap()).sum();
    assert!(
        retries > 0,
        "{tag}: no retries, so the realistic faults were never met"
    );
    assert_eq!(
        results.len(),
        acd_conformance::cases::all().len(),
        "{tag}: every check ran"
    );
    (report, stdout)
}

/// Issue 12: against a service that throttles (10/s, bursts of 20), lags (1-2 s) and fails now
/// and then (the mock's realistic profile), the suite's calls are paced, retried and patient:
/// a `remote=` target (an acd config, no admin help) and a `url=` target both end with 0 FAIL
/// and 0 ERROR, each SKIP with a reason. Both run at once, each against its own mock.
#[test]
fn realistic_targets_end_with_no_failure_and_no_error() {
    let remote_mock = MockProcess::start(&["--faults", "realistic", "--seed", "3"]).unwrap();
    let url_mock = MockProcess::start(&["--faults", "realistic", "--seed", "3"]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &remote_mock.url);
    let url_target = format!("url={}", url_mock.url);
    let (remote, url) = std::thread::scope(|s| {
        let remote = s.spawn(|| {
            run_realistic(
                "remote=real",
                &["--config", config.to_str().unwrap()],
                dir.path(),
                "remote",
            )
        });
        let url = s.spawn(|| run_realistic(&url_target, &[], dir.path(), "url"));
        (remote.join().unwrap(), url.join().unwrap())
    });
    // A real account has no admin API: the checks that need one are skipped, saying why.
    let remote_skips = remote.0["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["verdict"] == "SKIP")
        .count();
    assert!(remote_skips > 0, "{}", remote.1);
    assert!(remote.1.contains("the target lacks fault_injection"));
    // The running mock has every capability but consistent listings: nothing is skipped
    // for want of one.
    assert!(!url.1.contains("the target lacks"), "{}", url.1);
}

/// Issue 19: no flag value panics. Hostile values end with exit 2 and an error line naming the
/// flag (clap's usage errors, or the harness's own), or are accepted (exit 0 with --list).
#[test]
fn hostile_flag_values_never_panic() {
    let values = [
        "1e300",
        "-1",
        "18446744073709551616",
        "NaN",
        "inf",
        "-inf",
        "",
        "0",
        "99999999999999999999h",
        "1e-300",
    ];
    let listed = [
        "--jobs",
        "--seed",
        "--tpslimit",
        "--settle",
        "--timeout",
        "--max-bytes",
        "--filter",
        "--target",
    ];
    for flag in listed {
        for value in values {
            let arg = format!("{flag}={value}");
            let out = run(&["--list", &arg]);
            check_hostile(&arg, &out);
        }
    }
    // These are read only for a run: every hostile value must stop it before it starts.
    for flag in ["--capability", "--xfail"] {
        for value in values {
            let arg = format!("{flag}={value}");
            let out = run(&[&arg, "--target", "url=http://127.0.0.1:9"]);
            check_hostile(&arg, &out);
            assert_eq!(out.status.code(), Some(2), "{arg}");
        }
    }
}

fn check_hostile(arg: &str, out: &Output) {
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "{arg}: {stderr}");
    match out.status.code() {
        Some(0) => {}
        Some(2) => {
            let first = stderr.lines().next().unwrap_or_default();
            assert!(
                first.starts_with("error:") || first.starts_with("acd-conformance: error:"),
                "{arg}: {stderr}"
            );
            let flag = arg.split('=').next().unwrap();
            assert!(
                stderr.contains(flag) || stderr.contains(&flag[2..]),
                "{arg}: the message names the flag: {stderr}"
            );
        }
        other => panic!("{arg}: exit {other:?}: {stderr}"),
    }
}
