#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The `acd` binary run as a user runs it, against an `acd-mock` process: a remote created with
//! `acd config create`, then a whole session (mkdir, copy up, every listing format, cat, copyto,
//! moveto, check, sync with the trash, delete, rmdir, purge, copy back down). Stable outputs
//! are insta snapshots. Bad input must fail with one `acd: error:` line that says what to do,
//! and never print a secret, even with `-vv`. The config file stays private (0600), and
//! `--dry-run` changes nothing.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use acd_e2e::admin::md5_hex;
use acd_e2e::process::{MockProcess, binary};
use serde_json::{Value, json};

/// A client secret that cannot appear in any output by chance.
const CLIENT_SECRET: &str = "acd-cli-test-client-secret-7f3a9c";

/// One mock, one config file with remote `r`, and a private HOME.
struct Env {
    mock: MockProcess,
    acd: PathBuf,
    config: PathBuf,
    token: Value,
    dir: tempfile::TempDir,
}

/// A fresh token for the default account, from the mock's admin API.
fn mint(url: &str) -> Value {
    serde_json::to_value(acd_e2e::admin::mint(url).unwrap()).unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

impl Env {
    /// Starts the mock and creates remote `r` with a token that expires in 2099.
    fn new() -> Self {
        Self::with_expiry("2099-01-01T00:00:00Z")
    }

    fn with_expiry(expiry: &str) -> Self {
        let mock = MockProcess::start(&[]).unwrap();
        let acd = binary("acd-client", "acd").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("conf").join("acd.conf");
        let minted = mint(&mock.url);
        let token = json!({
            "access_token": minted["access_token"],
            "token_type": "bearer",
            "refresh_token": minted["refresh_token"],
            "expiry": expiry,
        });
        let env = Self {
            mock,
            acd,
            config,
            token,
            dir,
        };
        env.ok(env.create_args("r").as_slice());
        env
    }

    /// `config create NAME ...` arguments pointing at the mock.
    fn create_args(&self, name: &str) -> Vec<String> {
        let url = &self.mock.url;
        vec![
            "config".into(),
            "create".into(),
            name.into(),
            format!("endpoint_url={url}/drive/v1/account/endpoint"),
            format!("token_url={url}/auth/o2/token"),
            "client_id=x".into(),
            format!("client_secret={CLIENT_SECRET}"),
            format!("token={}", self.token),
        ]
    }

    /// The secrets that must never be printed.
    fn secrets(&self) -> Vec<String> {
        let mut secrets = vec![
            CLIENT_SECRET.to_string(),
            self.token["access_token"].as_str().unwrap().to_string(),
            self.token["refresh_token"].as_str().unwrap().to_string(),
        ];
        // Whatever the file holds now (a refresh may have replaced the token).
        let saved = std::fs::read_to_string(&self.config).unwrap_or_default();
        for line in saved.lines() {
            if let Some(json) = line.strip_prefix("token = ")
                && let Ok(token) = serde_json::from_str::<Value>(json)
            {
                for key in ["access_token", "refresh_token"] {
                    secrets.push(token[key].as_str().unwrap().to_string());
                }
            }
        }
        secrets
    }

    /// `acd` with a clean environment (no ACD_* variables, a private HOME) and no `--config`.
    fn bare(&self) -> Command {
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
            .env("ACD_LOW_LEVEL_RETRIES", "2")
            .env("NO_COLOR", "1")
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .env_remove("http_proxy")
            .env_remove("https_proxy");
        cmd
    }

    /// `acd --config FILE ARGS...`.
    fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Output {
        self.bare()
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .output()
            .expect("run acd")
    }

    /// Runs acd, asserting success; returns stdout.
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

    /// Runs acd, asserting failure with one `acd: error:` line; returns that line. Runs it
    /// again with `-vv` and checks that no secret is printed.
    fn fails<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(&self, args: &[S]) -> String {
        self.fails_with(self.run(args), &format!("{args:?}"), || {
            let mut cmd = self.bare();
            cmd.arg("--config").arg(&self.config).arg("-vv").args(args);
            cmd
        })
    }

    fn fails_with(&self, out: Output, what: &str, verbose: impl Fn() -> Command) -> String {
        let stderr = text(&out.stderr);
        assert!(
            !out.status.success(),
            "acd {what} succeeded:\n{}{stderr}",
            text(&out.stdout)
        );
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "acd {what}: expected one line on stderr:\n{stderr}"
        );
        assert!(lines[0].starts_with("acd: error: "), "acd {what}: {stderr}");
        let line = lines[0].to_string();

        let out = verbose().output().expect("run acd -vv");
        assert!(!out.status.success(), "acd -vv {what} succeeded");
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        for secret in self.secrets() {
            assert!(
                !all.contains(&secret),
                "acd -vv {what} printed the secret {secret:?}:\n{all}"
            );
        }
        let errors: Vec<&str> = all
            .lines()
            .filter(|l| l.starts_with("acd: error: "))
            .collect();
        assert_eq!(errors, [line.as_str()], "acd -vv {what}:\n{all}");
        line
    }

    fn mode(&self) -> u32 {
        std::fs::metadata(&self.config)
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    }
}

/// The local tree copied up: name → bytes.
fn make_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("hello.txt", b"hello world\n".to_vec()),
        ("data.bin", (0..=255u8).collect()),
        ("empty.txt", Vec::new()),
        ("sub/nested.txt", b"nested file\n".to_vec()),
        ("sub/deeper/leaf.txt", b"leaf\n".to_vec()),
    ];
    let mut map = BTreeMap::new();
    for (name, bytes) in files {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &bytes).unwrap();
        map.insert(name.to_string(), bytes);
    }
    map
}

/// Every file under `root`, as relative path → bytes.
fn read_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_string_lossy();
                out.insert(rel.into_owned(), std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// `ls` output as path → size.
fn parse_ls(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .map(|l| {
            let (size, name) = l.trim_start().split_once(' ').expect("size and path");
            (name.to_string(), size.parse().expect("a size"))
        })
        .collect()
}

fn redact_dates(text: &str) -> String {
    regex::Regex::new(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
        .unwrap()
        .replace_all(text, "YYYY-MM-DD HH:MM:SS")
        .into_owned()
}

#[test]
fn a_whole_session_with_the_cli() {
    let env = Env::new();
    assert_eq!(env.mode(), 0o600, "config create must write a private file");
    let local = tempfile::tempdir().unwrap();
    let src = local.path().join("src");
    let mut tree = make_tree(&src);
    let src_arg = src.to_str().unwrap();

    // An empty account, then mkdir (with parents).
    assert_eq!(env.ok(&["lsd", "r:"]), "");
    env.ok(&["mkdir", "r:made/with/parents"]);
    let lsd = env.ok(&["lsd", "r:"]);
    assert!(lsd.lines().any(|l| l.ends_with(" made")), "{lsd}");
    assert_eq!(env.ok(&["lsd", "r:made"]).lines().count(), 1);

    // Copy a tree up.
    env.ok(&["copy", src_arg, "r:backup"]);

    // ls / lsl / lsd / lsjson / md5sum / size / tree.
    let ls = env.ok(&["ls", "r:backup"]);
    insta::assert_snapshot!("ls", ls);
    let expected: BTreeMap<String, u64> = tree
        .iter()
        .map(|(k, v)| (k.clone(), v.len() as u64))
        .collect();
    assert_eq!(parse_ls(&ls), expected);

    let lsl = env.ok(&["lsl", "r:backup"]);
    let line =
        regex::Regex::new(r"^ *\d+ \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{9} \S.*$").unwrap();
    assert_eq!(lsl.lines().count(), tree.len(), "{lsl}");
    for l in lsl.lines() {
        assert!(line.is_match(l), "lsl line {l:?}");
    }
    assert!(
        lsl.lines().any(|l| l.ends_with(" sub/deeper/leaf.txt")),
        "{lsl}"
    );

    let lsd = env.ok(&["lsd", "r:backup"]);
    insta::assert_snapshot!("lsd", redact_dates(&lsd));

    let json: Value = serde_json::from_str(&env.ok(&["lsjson", "-R", "r:backup"])).unwrap();
    let items = json.as_array().expect("lsjson prints a JSON array");
    assert_eq!(items.len(), tree.len() + 2, "files and 2 folders: {json:#}");
    for item in items {
        for key in ["Path", "Name", "Size", "IsDir", "ID"] {
            assert!(item.get(key).is_some(), "{key} missing in {item}");
        }
        let path = item["Path"].as_str().unwrap();
        assert!(path.ends_with(item["Name"].as_str().unwrap()), "{item}");
        assert!(!item["ID"].as_str().unwrap().is_empty());
        if item["IsDir"].as_bool().unwrap() {
            assert!(path == "sub" || path == "sub/deeper", "{item}");
        } else {
            assert_eq!(item["Size"].as_u64().unwrap(), tree[path].len() as u64);
        }
    }
    let top: Value = serde_json::from_str(&env.ok(&["lsjson", "r:backup"])).unwrap();
    assert_eq!(top.as_array().unwrap().len(), 4, "not recursive: {top:#}");

    let sums = env.ok(&["md5sum", "r:backup"]);
    insta::assert_snapshot!("md5sum", sums);
    for (name, bytes) in &tree {
        assert!(
            sums.contains(&format!("{}  {name}\n", md5_hex(bytes))),
            "{name}: {sums}"
        );
    }
    insta::assert_snapshot!("size", env.ok(&["size", "r:backup"]));
    insta::assert_snapshot!("tree", env.ok(&["tree", "r:backup"]));

    let about = env.ok(&["about", "r:"]);
    for key in ["Total:", "Used:", "Free:", "Objects:"] {
        assert!(about.contains(key), "{about}");
    }
    let about: Value = serde_json::from_str(&env.ok(&["about", "--json", "r:"])).unwrap();
    assert!(about["total"].as_u64().unwrap() > 0, "{about}");

    // cat, whole and a range.
    assert_eq!(env.ok(&["cat", "r:backup/hello.txt"]), "hello world\n");
    assert_eq!(
        env.ok(&["cat", "r:backup/hello.txt", "--offset", "6", "--count", "5"]),
        "world"
    );
    assert_eq!(env.ok(&["cat", "r:backup/empty.txt"]), "");

    // The config file from the environment, and --config after the subcommand.
    let out = env
        .bare()
        .env("ACD_CONFIG", &env.config)
        .args(["ls", "r:backup/sub"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "        5 deeper/leaf.txt\n       12 nested.txt\n"
    );
    let out = env
        .bare()
        .args(["ls", "r:backup/sub/deeper", "--config"])
        .arg(&env.config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "        5 leaf.txt\n");

    // copyto up and down, moveto within the remote.
    env.ok(&[
        "copyto",
        src.join("hello.txt").to_str().unwrap(),
        "r:staging/copied.txt",
    ]);
    let down = local.path().join("down-one.txt");
    env.ok(&["copyto", "r:staging/copied.txt", down.to_str().unwrap()]);
    assert_eq!(std::fs::read(&down).unwrap(), b"hello world\n");
    env.ok(&["moveto", "r:staging/copied.txt", "r:moved/renamed.txt"]);
    assert_eq!(env.ok(&["ls", "r:staging"]), "");
    assert_eq!(env.ok(&["ls", "r:moved"]), "       12 renamed.txt\n");

    // check: the same, then one file differs (same size, other bytes).
    let out = env.run(&["check", src_arg, "r:backup"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::write(src.join("hello.txt"), b"hello WORLD\n").unwrap();
    let out = env.run(&["check", src_arg, "r:backup"]);
    assert!(!out.status.success(), "check must fail when a file differs");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("hello.txt"), "{stderr}");
    assert!(stderr.contains("1 differences found"), "{stderr}");
    std::fs::write(src.join("hello.txt"), b"hello world\n").unwrap();

    // sync: an extra remote file goes to the trash, and comes back from it.
    let extra = local.path().join("extra.txt");
    std::fs::write(&extra, b"extra\n").unwrap();
    env.ok(&["copyto", extra.to_str().unwrap(), "r:backup/extra.txt"]);
    assert!(env.ok(&["ls", "r:backup"]).contains(" extra.txt\n"));
    env.ok(&["sync", src_arg, "r:backup"]);
    assert_eq!(parse_ls(&env.ok(&["ls", "r:backup"])), expected);
    let trash = env.ok(&["trash", "list", "r:"]);
    let line = trash
        .lines()
        .find(|l| l.ends_with(" extra.txt"))
        .unwrap_or_else(|| panic!("extra.txt is not in the trash:\n{trash}"));
    let id = line.split_whitespace().next().unwrap();
    env.ok(&["trash", "restore", "r:", id]);
    assert!(
        env.ok(&["ls", "r:backup"])
            .contains("        6 extra.txt\n")
    );
    assert!(!env.ok(&["trash", "list", "r:"]).contains(id));

    // Copy back down: the same bytes.
    let back = local.path().join("back");
    env.ok(&["copy", "r:backup", back.to_str().unwrap()]);
    tree.insert("extra.txt".into(), b"extra\n".to_vec());
    assert_eq!(read_tree(&back), tree);

    // delete trashes files and keeps folders.
    env.ok(&["delete", "r:backup/sub"]);
    assert_eq!(env.ok(&["ls", "r:backup/sub"]), "");
    assert_eq!(env.ok(&["lsd", "r:backup/sub"]).lines().count(), 1);

    // rmdir refuses a folder that is not empty, then removes empty ones.
    let error = env.fails(&["rmdir", "r:backup/sub"]);
    assert!(error.contains("not empty"), "{error}");
    assert!(error.contains("purge"), "{error}");
    env.ok(&["rmdir", "r:backup/sub/deeper"]);
    env.ok(&["rmdir", "r:backup/sub"]);
    assert_eq!(env.ok(&["lsd", "r:backup"]), "");

    // purge trashes the rest.
    env.ok(&["purge", "r:backup"]);
    let lsd = env.ok(&["lsd", "r:"]);
    assert!(!lsd.contains("backup"), "{lsd}");
    assert!(lsd.contains(" moved\n"), "{lsd}");
}

#[test]
fn bad_input_fails_with_one_line_and_no_secrets() {
    let env = Env::new();
    let local = tempfile::tempdir().unwrap();
    let src = local.path().join("src");
    make_tree(&src);
    let src_arg = src.to_str().unwrap();

    let error = env.fails(&["ls", "nope:"]);
    assert!(error.contains("no remote \"nope\""), "{error}");
    assert!(error.contains("the remotes there are: r"), "{error}");

    // A config file that does not exist.
    let missing = env.dir.path().join("missing.conf");
    let out = env
        .bare()
        .arg("--config")
        .arg(&missing)
        .args(["ls", "r:"])
        .output()
        .unwrap();
    let error = env.fails_with(out, "ls r: (missing config)", || {
        let mut cmd = env.bare();
        cmd.arg("--config").arg(&missing).args(["-vv", "ls", "r:"]);
        cmd
    });
    assert!(error.contains("no remote \"r\""), "{error}");
    assert!(error.contains(missing.to_str().unwrap()), "{error}");
    assert!(error.contains("does not exist"), "{error}");
    assert!(error.contains("acd config"), "{error}");
    assert!(!missing.exists(), "reading must not create the file");

    let error = env.fails(&["ls", "r:does/not/exist"]);
    assert!(error.contains("does"), "{error}");
    assert!(error.contains("not found"), "{error}");
    assert!(
        error.contains("acd ls r:") && !error.contains("acd ls r:does"),
        "points at the deepest folder that exists: {error}"
    );

    let error = env.fails(&[
        "copy",
        src_arg,
        local.path().join("other").to_str().unwrap(),
    ]);
    assert!(error.contains("both paths are local"), "{error}");
    assert!(error.contains("remote:path"), "{error}");

    let error = env.fails(&["copy", "--max-size", "9 bananas", src_arg, "r:x"]);
    assert!(error.contains("--max-size"), "{error}");
    assert!(error.contains("9G") || error.contains("suffix"), "{error}");
    assert_eq!(env.ok(&["lsd", "r:"]), "", "a bad flag must change nothing");

    let error = env.fails(&["trash", "restore", "r:", "not an id!"]);
    assert!(error.contains("not a node id"), "{error}");
    assert!(error.contains("acd trash list"), "{error}");
    // Ids may start with '-' (they are base64url): such an id is an id, not flags.
    let error = env.fails(&["trash", "restore", "r:", "-AAAAAAAAAAAAAAAAAAAAA"]);
    assert!(error.contains("-AAAAAAAAAAAAAAAAAAAAA"), "{error}");
    assert!(error.contains("acd trash list"), "{error}");
    // A flag among the ids is a mistake, caught before anything is restored.
    let error = env.fails(&["trash", "restore", "r:", "abc", "--dry-run"]);
    assert!(error.contains("put flags before"), "{error}");

    // A successful command with -vv prints no secret either.
    let out = env.run(&["-vv", "ls", "r:"]);
    assert!(out.status.success());
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    for secret in env.secrets() {
        assert!(
            !all.contains(&secret),
            "acd -vv ls printed {secret:?}:\n{all}"
        );
    }
    // config show hides them.
    let show = env.ok(&["config", "show"]);
    assert!(show.contains("client_secret = <hidden>"), "{show}");
    for secret in env.secrets() {
        assert!(!show.contains(&secret), "{show}");
    }
}

#[test]
fn the_config_file_stays_private_across_a_refresh() {
    // The token expired long ago: the first command refreshes it and saves the new one.
    let env = Env::with_expiry("2001-01-01T00:00:00Z");
    assert_eq!(env.mode(), 0o600);
    let before = std::fs::read_to_string(&env.config).unwrap();
    let out = env.run(&["-vv", "mkdir", "r:after-refresh"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let after = std::fs::read_to_string(&env.config).unwrap();
    // Neither the old nor the new token, nor the client secret, is printed while refreshing.
    let printed = format!("{}{}", text(&out.stdout), text(&out.stderr));
    for secret in env.secrets() {
        assert!(
            !printed.contains(&secret),
            "the refresh printed {secret:?}:\n{printed}"
        );
    }
    assert_ne!(before, after, "the refreshed token must be saved");
    assert!(!after.contains(env.token["access_token"].as_str().unwrap()));
    assert!(!after.contains("2001-01-01"), "{after}");
    assert_eq!(env.mode(), 0o600, "after a refresh");
    assert!(env.ok(&["lsd", "r:"]).contains(" after-refresh\n"));

    // A file someone made readable is private again after the next save.
    std::fs::set_permissions(&env.config, std::fs::Permissions::from_mode(0o644)).unwrap();
    env.ok(env.create_args("second").as_slice());
    assert_eq!(env.mode(), 0o600, "after config create on an existing file");
}

#[test]
fn dry_run_changes_nothing() {
    let env = Env::new();
    let local = tempfile::tempdir().unwrap();
    let src = local.path().join("src");
    make_tree(&src);
    env.ok(&["mkdir", "r:dry"]);
    env.ok(&["copy", "--dry-run", src.to_str().unwrap(), "r:dry"]);
    env.ok(&["copy", src.to_str().unwrap(), "r:dry/inner", "-n"]);
    assert_eq!(env.ok(&["ls", "r:dry"]), "");
    assert_eq!(env.ok(&["lsd", "r:dry"]), "");
    let lsd = env.ok(&["lsd", "r:"]);
    assert_eq!(lsd.lines().count(), 1, "{lsd}");
    let trash = env.ok(&["trash", "list", "r:"]);
    assert_eq!(trash, "");
}

/// `POST /_mock/faults` with one rule; must answer 201.
fn add_fault(url: &str, rule: &Value) {
    acd_e2e::admin::add_faults(url, rule);
}

#[test]
fn an_upload_stored_damaged_is_trashed_and_reported() {
    // The service answers the upload as usual but stored other bytes (its md5 differs from
    // what acd sent): acd must notice, move the bad copy to the trash, say so, exit non-zero.
    let env = Env::new();
    env.ok(&["mkdir", "r:integrity"]);
    add_fault(
        &env.mock.url,
        &json!({"id": "damage", "match": {"operation": "upload"},
                "action": {"kind": "corrupt_stored", "offset": 3}, "trigger": {"every": 1}}),
    );
    let local = tempfile::tempdir().unwrap();
    let file = local.path().join("precious.bin");
    std::fs::write(&file, b"bytes that must arrive intact").unwrap();
    let line = env.fails(&["copyto", file.to_str().unwrap(), "r:integrity/precious.bin"]);
    assert!(
        line.contains("corrupted on transfer") && line.contains("moved to the trash"),
        "{line}"
    );
    assert_eq!(
        env.ok(&["ls", "r:integrity"]),
        "",
        "no damaged copy is left in place"
    );
    let trash = env.ok(&["trash", "list", "r:"]);
    assert!(
        trash.contains("precious.bin"),
        "the damaged copy is in the trash: {trash}"
    );
}
