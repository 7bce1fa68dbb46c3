#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Hostile values for every number, duration and size that `acd`, `acd-mock` and
//! `acd-conformance` read from flags, the environment or a config file: each is refused with a
//! usage error (exit 2; exit 1 for acd's config-file options, its code for a bad config) whose
//! first line says what is wrong, and nothing ever panics (exit 101, "panicked", a backtrace).
//!
//! Values that are merely huge but valid (`--transfers 65535`, a retry budget of 2^64-1 s) are
//! accepted and must not panic later either.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use acd_e2e::process::binary;

/// The hostile values every numeric flag gets.
const HOSTILE: &[&str] = &[
    "1e300",
    "-1",
    "18446744073709551616",
    "NaN",
    "inf",
    "",
    "99999999999999999999999h",
    "1e20",
];

/// What a run left behind.
#[derive(Debug)]
struct Outcome {
    label: String,
    code: Option<i32>,
    stderr: String,
}

/// Runs `program ARGS` with `envs` (and a backtrace asked for, so a panic cannot hide) for at
/// most 60 s.
fn run(program: &Path, args: &[String], envs: &[(&str, &str)], label: String) -> Outcome {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env("RUST_BACKTRACE", "1")
        .env_remove("ACD_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
            return Outcome {
                label,
                code: status.code(),
                stderr,
            };
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Outcome {
                label,
                code: None,
                stderr: "still running after 60 s: the value was accepted".into(),
            };
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Problems with one outcome: a panic, a wrong exit code, or no error naming the value on the
/// first line.
fn problems(o: &Outcome, codes: &[i32], needles: &[&str]) -> Option<String> {
    let panicked = ["panicked", "stack backtrace", "RUST_BACKTRACE"]
        .iter()
        .any(|p| o.stderr.contains(p));
    let first = o
        .stderr
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let says_error = first.starts_with("error:") || first.contains(": error:");
    let names_it = needles.iter().any(|n| first.contains(n));
    if panicked || o.code == Some(101) {
        return Some(format!(
            "{}: PANIC (exit {:?}): {}",
            o.label, o.code, o.stderr
        ));
    }
    if !o.code.is_some_and(|c| codes.contains(&c)) || !says_error || !names_it {
        return Some(format!(
            "{}: exit {:?} (want one of {codes:?}), first line {first:?} (want an error naming one of {needles:?})",
            o.label, o.code
        ));
    }
    None
}

/// [`problems`], and the whole message on one line (acd and acd-mock print one line;
/// acd-conformance still prints clap's usage hints below its first line).
fn one_line_problems(o: &Outcome, codes: &[i32], needles: &[&str]) -> Option<String> {
    problems(o, codes, needles).or_else(|| {
        (o.stderr.trim().lines().count() != 1)
            .then(|| format!("{}: not one line: {:?}", o.label, o.stderr))
    })
}

/// Fails with every problem found, one per line.
fn report(found: Vec<String>, runs: usize) {
    assert!(
        found.is_empty(),
        "{} of {runs} runs went wrong:\n{}",
        found.len(),
        found.join("\n")
    );
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// A config file with one remote `m`, and an empty folder for the endpoint cache.
fn config_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("acd.conf"),
        "[m]\ntype = amazon cloud drive\nclient_id = x\nclient_secret = y\n",
    )
    .unwrap();
    dir
}

#[test]
fn acd_refuses_hostile_flag_and_env_values_with_a_usage_error() {
    let acd = binary("acd-client", "acd").unwrap();
    let dir = config_dir();
    let config = dir.path().join("acd.conf").display().to_string();
    let global = [
        ("--transfers", "ACD_TRANSFERS"),
        ("--checkers", "ACD_CHECKERS"),
        ("--low-level-retries", "ACD_LOW_LEVEL_RETRIES"),
        ("--max-size", "ACD_MAX_SIZE"),
        ("--retry-budget", "ACD_RETRY_BUDGET"),
        ("--phantom-poll", "ACD_PHANTOM_POLL"),
        ("--upload-wait-per-gb", ""),
        ("--templink-threshold", ""),
    ];
    let mut found = Vec::new();
    let mut runs = 0;
    for value in HOSTILE {
        for (flag, env) in global {
            let args = s(&["--config", &config, &format!("{flag}={value}"), "lsd", "m:"]);
            let o = run(&acd, &args, &[], format!("acd {flag}={value:?}"));
            runs += 1;
            found.extend(one_line_problems(&o, &[2], &[flag, value]));
            // clap ignores an empty variable (as if unset), so only non-empty ones are hostile.
            if !env.is_empty() && !value.is_empty() {
                let args = s(&["--config", &config, "lsd", "m:"]);
                let o = run(&acd, &args, &[(env, value)], format!("acd {env}={value:?}"));
                runs += 1;
                found.extend(one_line_problems(&o, &[2], &[flag, env, value]));
            }
        }
        for flag in ["--offset", "--count"] {
            if *value == "-1" && flag == "--count" {
                continue; // -1 is --count's documented "to the end".
            }
            let args = s(&[
                "--config",
                &config,
                "cat",
                "m:f",
                &format!("{flag}={value}"),
            ]);
            let o = run(&acd, &args, &[], format!("acd cat {flag}={value:?}"));
            runs += 1;
            found.extend(one_line_problems(&o, &[2], &[flag, value]));
        }
        let args = s(&[
            "authorize",
            "--auth-no-open-browser",
            &format!("--auth-timeout={value}"),
        ]);
        let o = run(
            &acd,
            &args,
            &[],
            format!("acd authorize --auth-timeout={value:?}"),
        );
        runs += 1;
        found.extend(one_line_problems(&o, &[2], &["--auth-timeout", value]));
    }
    report(found, runs);
}

#[test]
fn acd_refuses_hostile_config_options_in_one_line() {
    let acd = binary("acd-client", "acd").unwrap();
    let mut found = Vec::new();
    let mut runs = 0;
    for value in HOSTILE.iter().filter(|v| !v.is_empty()) {
        for option in ["upload_wait_per_gb", "templink_threshold"] {
            // In the config file.
            let dir = config_dir();
            let path = dir.path().join("acd.conf");
            let mut text = std::fs::read_to_string(&path).unwrap();
            text.push_str(&format!("{option} = {value}\n"));
            std::fs::write(&path, text).unwrap();
            let args = s(&["--config", &path.display().to_string(), "lsd", "m:"]);
            let o = run(&acd, &args, &[], format!("acd.conf {option} = {value}"));
            runs += 1;
            found.extend(one_line_problems(&o, &[1], &[option]));
            // From the environment.
            let dir = config_dir();
            let path = dir.path().join("acd.conf").display().to_string();
            let env = format!("ACD_{}", option.to_ascii_uppercase());
            let args = s(&["--config", &path, "lsd", "m:"]);
            let o = run(
                &acd,
                &args,
                &[(&env, value)],
                format!("acd {env}={value:?}"),
            );
            runs += 1;
            found.extend(one_line_problems(&o, &[1], &[option]));
        }
    }
    report(found, runs);
}

#[test]
fn acd_accepts_huge_valid_values_without_panicking() {
    let acd = binary("acd-client", "acd").unwrap();
    let dir = tempfile::tempdir().unwrap();
    // No config file: a value that is accepted gets as far as "no remote", exit 1.
    let config = dir.path().join("missing.conf").display().to_string();
    let mut found = Vec::new();
    let cases: &[&[&str]] = &[
        &["--transfers=65535", "--checkers=65535", "lsd", "m:"],
        &["--low-level-retries=4294967295", "lsd", "m:"],
        &["--retry-budget=18446744073709551615s", "lsd", "m:"],
        &["--phantom-poll=500000000y", "lsd", "m:"],
        &["--upload-wait-per-gb=1e18", "lsd", "m:"],
        &["--max-size=off", "--templink-threshold=15P", "lsd", "m:"],
        &[
            "cat",
            "m:f",
            "--offset=18446744073709551615",
            "--count=9223372036854775807",
        ],
    ];
    for case in cases {
        let mut args = s(&["--config", &config]);
        args.extend(s(case));
        let o = run(&acd, &args, &[], format!("acd {}", case.join(" ")));
        found.extend(one_line_problems(&o, &[1], &["no remote"]));
    }
    report(found, cases.len());
}

#[test]
fn acd_mock_refuses_hostile_flag_and_env_values_with_a_usage_error() {
    let mock = binary("acd-mock", "acd-mock").unwrap();
    let flags = [
        ("--page-size", "ACD_MOCK_PAGE_SIZE"),
        ("--token-lifetime", "ACD_MOCK_TOKEN_LIFETIME"),
        ("--quota", "ACD_MOCK_QUOTA"),
        ("--seed", "ACD_MOCK_SEED"),
    ];
    let mut found = Vec::new();
    let mut runs = 0;
    let mut values: Vec<&str> = HOSTILE.to_vec();
    // Valid in form, too large in meaning: a lifetime past the store's timestamps, a quota
    // past 16 EiB (bytesize would clamp it silently), a page size past u32.
    values.extend([
        "18446744073709551615s",
        "99999999999999999999TiB",
        "4294967296",
    ]);
    for value in &values {
        for (flag, env) in flags {
            // 2^32 is a fine seed and a fine quota (bytes): the mock would start.
            if *value == "4294967296" && ["--seed", "--quota"].contains(&flag) {
                continue;
            }
            let args = s(&["--listen", "127.0.0.1:0", &format!("{flag}={value}")]);
            let o = run(&mock, &args, &[], format!("acd-mock {flag}={value:?}"));
            runs += 1;
            found.extend(one_line_problems(&o, &[2], &[flag, value]));
            if !value.is_empty() {
                let args = s(&["--listen", "127.0.0.1:0"]);
                let o = run(
                    &mock,
                    &args,
                    &[(env, value)],
                    format!("acd-mock {env}={value:?}"),
                );
                runs += 1;
                found.extend(one_line_problems(&o, &[2], &[flag, env, value]));
            }
        }
        let args = s(&["--listen", &format!("127.0.0.1:{value}")]);
        let o = run(
            &mock,
            &args,
            &[],
            format!("acd-mock --listen 127.0.0.1:{value}"),
        );
        runs += 1;
        found.extend(one_line_problems(&o, &[2], &["--listen"]));
    }
    report(found, runs);
}

#[test]
fn acd_mock_refuses_hostile_fault_files_in_one_line() {
    let mock = binary("acd-mock", "acd-mock").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = [
        "[[rules]]\naction = { kind = \"reset\" }\ntrigger = { probability = nan }\n",
        "[[rules]]\naction = { kind = \"reset\" }\ntrigger = { probability = inf }\n",
        "[[rules]]\naction = { kind = \"reset\" }\ntrigger = { probability = -1.0 }\n",
        "[[rules]]\naction = { kind = \"reset\" }\ntrigger = { every = 0 }\n",
        "[[rules]]\naction = { kind = \"reset\" }\ntrigger = { first = -1 }\n",
        "[[rules]]\naction = { kind = \"reset\" }\ntrigger = { first = 18446744073709551616 }\n",
        "[settings]\nrate_limit = { per_second = -1, burst = 1 }\n",
        "[settings]\nrate_limit = { per_second = 4294967296, burst = 1 }\n",
        "[settings]\nrate_limit = { per_second = 1e300, burst = 1 }\n",
        "[settings]\nnext_token_ttl_secs = inf\n",
        "[[rules]\n",
    ];
    let mut found = Vec::new();
    for (i, text) in files.iter().enumerate() {
        let path = dir.path().join(format!("faults{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let args = s(&[
            "--listen",
            "127.0.0.1:0",
            "--faults",
            &path.display().to_string(),
        ]);
        let o = run(&mock, &args, &[], format!("acd-mock --faults {text:?}"));
        found.extend(one_line_problems(&o, &[2], &["--faults"]));
        if o.stderr.trim().lines().count() > 1 {
            found.push(format!("{}: more than one line: {}", o.label, o.stderr));
        }
    }
    report(found, files.len());
}

#[test]
fn acd_conformance_refuses_hostile_flag_values_with_a_usage_error() {
    let conformance = binary("acd-conformance", "acd-conformance").unwrap();
    let mut found = Vec::new();
    let mut runs = 0;
    for value in HOSTILE {
        for flag in ["--jobs", "--seed", "--timeout", "--max-bytes"] {
            // A filter that selects nothing real keeps an accepted value from running the suite.
            let args = s(&[&format!("{flag}={value}"), "--filter", "^no/such/check$"]);
            let o = run(
                &conformance,
                &args,
                &[],
                format!("acd-conformance {flag}={value:?}"),
            );
            runs += 1;
            found.extend(problems(&o, &[2], &[flag, value]));
        }
    }
    report(found, runs);
}

#[test]
fn acd_conformance_accepts_huge_valid_values_without_panicking() {
    let conformance = binary("acd-conformance", "acd-conformance").unwrap();
    let mut found = Vec::new();
    let cases: &[&[&str]] = &[
        &["--jobs=18446744073709551615"],
        &["--timeout=18446744073709551615"],
        &["--max-bytes=off"],
    ];
    for case in cases {
        let mut args = s(case);
        args.extend(s(&["--filter", "^account/"]));
        let o = run(
            &conformance,
            &args,
            &[],
            format!("acd-conformance {}", case[0]),
        );
        let panicked = o.code == Some(101) || o.stderr.contains("panicked");
        if panicked || o.code.is_none() {
            found.push(format!("{}: exit {:?}: {}", o.label, o.code, o.stderr));
        }
    }
    report(found, cases.len());
}
