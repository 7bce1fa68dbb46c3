#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `acd mount` end to end, through the kernel's FUSE: a child `acd-mock`, `acd mount` as a
//! process, then `std::fs` and standard tools (`cp -r`, `find`, `md5sum`, `mv`, `rm`, `mkdir`,
//! `rmdir`). Needs `/dev/fuse` and `fusermount3` (Debian's `fuse3`); without them the tests
//! fail saying what to install.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use acd_e2e::admin::{self, md5_hex};
use acd_e2e::process::{MockProcess, binary};
use acd_mock::admin_client::{SeedNode, SeedRequest};
use serde_json::{Value, json};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// FUSE must be usable here: a test that cannot mount fails and says what to install.
fn require_fuse() {
    assert!(
        Path::new("/dev/fuse").exists(),
        "/dev/fuse is missing: load the fuse kernel module (modprobe fuse) or run with --device /dev/fuse"
    );
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("fusermount3").is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "fusermount3 is missing: install Debian's fuse3 (apt-get install fuse3)"
    );
}

/// Poll `check` every 20 ms until it is true or `deadline` passes.
fn wait_for(what: &str, deadline: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn is_mounted(path: &Path) -> bool {
    let path = path.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(path.as_str()))
}

struct Env {
    mock: MockProcess,
    acd: PathBuf,
    config: PathBuf,
    dir: tempfile::TempDir,
}

struct Mounted {
    child: Child,
    point: PathBuf,
}

impl Mounted {
    /// `fusermount3 -u`, then the process must exit 0.
    fn unmount(mut self) {
        let out = Command::new("fusermount3")
            .arg("-u")
            .arg(&self.point)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "fusermount3 -u: {}",
            text(&out.stderr)
        );
        self.wait_exit_ok();
    }

    fn wait_exit_ok(&mut self) {
        let mut status = None;
        wait_for("acd mount to exit", Duration::from_secs(30), || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        assert!(
            status.unwrap().success(),
            "acd mount exited with {status:?}"
        );
        assert!(!is_mounted(&self.point), "still mounted after exit");
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if is_mounted(&self.point) {
            let _ = Command::new("fusermount3")
                .arg("-uz")
                .arg(&self.point)
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Env {
    fn new(mock_args: &[&str]) -> Self {
        require_fuse();
        let dir = tempfile::tempdir().unwrap();
        Self::with(dir, mock_args)
    }

    /// A mock whose listings lag 2 s.
    fn lagging() -> Self {
        require_fuse();
        let dir = tempfile::tempdir().unwrap();
        let profile = dir.path().join("lag.toml");
        std::fs::write(
            &profile,
            "[settings]\nlisting_lag_ms = { min = 2000, max = 2000 }\n",
        )
        .unwrap();
        let profile = profile.to_str().unwrap().to_string();
        Self::with(dir, &["--faults", &profile])
    }

    fn with(dir: tempfile::TempDir, args: &[&str]) -> Self {
        let mock = MockProcess::start(args).unwrap();
        let acd = binary("acd-client", "acd").unwrap();
        let config = dir.path().join("acd.conf");
        let minted = serde_json::to_value(acd_e2e::admin::mint(&mock.url).unwrap()).unwrap();
        let token = json!({
            "access_token": minted["access_token"],
            "token_type": "bearer",
            "refresh_token": minted["refresh_token"],
            "expiry": "2099-01-01T00:00:00Z",
        });
        let env = Self {
            acd,
            config,
            dir,
            mock,
        };
        let url = env.mock.url.clone();
        env.ok(&[
            "config".to_string(),
            "create".into(),
            "r".into(),
            format!("endpoint_url={url}/drive/v1/account/endpoint"),
            format!("token_url={url}/auth/o2/token"),
            "client_id=x".into(),
            "client_secret=y".into(),
            format!("token={token}"),
        ]);
        env
    }

    fn command<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Command {
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
            .arg("--config")
            .arg(&self.config)
            .arg("--phantom-poll")
            .arg("200ms")
            .args(args);
        cmd
    }

    fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Output {
        self.command(args).output().expect("run acd")
    }

    fn ok<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(&self, args: &[S]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "acd {args:?} failed: {}\n{}",
            text(&out.stderr),
            text(&out.stdout)
        );
        text(&out.stdout)
    }

    /// `acd mount r:<remote> <dir>/mnt ARGS`, waiting until the kernel lists the mount.
    fn mount(&self, remote: &str, args: &[&str]) -> Mounted {
        let point = self.dir.path().join("mnt");
        std::fs::create_dir_all(&point).unwrap();
        let child = self
            .command(&[
                "mount",
                &format!("r:{remote}"),
                point.to_str().unwrap(),
                "--poll-interval",
                "1s",
            ])
            .args(args)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let mut mounted = Mounted { child, point };
        wait_for("the mount", Duration::from_secs(20), || {
            if let Some(status) = mounted.child.try_wait().unwrap() {
                panic!("acd mount exited early: {status}");
            }
            is_mounted(&mounted.point)
        });
        mounted
    }

    fn faults(&self, rule: &Value) {
        admin::add_faults(&self.mock.url, rule);
    }
}

/// Names that need the remote's encoding or are otherwise awkward.
fn awkward(i: usize) -> String {
    let names = [
        "plain",
        "with space",
        "ünïcødé",
        "日本語",
        "emoji 🎉",
        "a:colon",
        "star*",
        "what?",
        "back\\slash",
        "pipe|",
        "lt<gt>",
        "quote\"",
        "trailing.",
        "..dots",
        "#hash",
        "%percent",
        "'single'",
        "tab\there",
        "fullwidth／slash",
        "  lead",
    ];
    format!("{} {i:02}.bin", names[i % names.len()])
}

fn content(i: usize) -> Vec<u8> {
    (0..(i * 997 + 13)).map(|b| (b * 31 + i) as u8).collect()
}

#[test]
fn files_written_through_the_mount_read_back_and_list_at_once_under_listing_lag() {
    let env = Env::lagging();
    env.ok(&["mkdir", "r:m"]);
    let mnt = env.mount("m", &[]);
    let src = env.dir.path().join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    let mut expected = BTreeMap::new();
    for i in 0..50 {
        let rel = if i % 5 == 0 {
            format!("sub/{}", awkward(i))
        } else {
            awkward(i)
        };
        let bytes = content(i);
        std::fs::write(src.join(&rel), &bytes).unwrap();
        expected.insert(rel, md5_hex(&bytes));
    }
    // cp -r into the mount.
    let up = mnt.point.join("up");
    let out = Command::new("cp")
        .arg("-r")
        .arg(&src)
        .arg(&up)
        .output()
        .unwrap();
    assert!(out.status.success(), "cp -r: {}", text(&out.stderr));

    // Listed at once by another acd process, whatever the 2 s lag.
    let listed: Vec<Value> = serde_json::from_str(&env.ok(&["lsjson", "-R", "r:m/up"])).unwrap();
    let files: BTreeMap<String, String> = listed
        .iter()
        .filter(|e| e["IsDir"] == json!(false))
        .map(|e| {
            (
                e["Path"].as_str().unwrap().to_string(),
                e["Hashes"]["MD5"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(files.len(), 50, "acd lsjson -R right after cp: {listed:?}");

    // find + md5sum through the mount: byte-identical.
    let out = Command::new("sh")
        .arg("-c")
        .arg("cd \"$1\" && find . -type f -print0 | xargs -0 md5sum")
        .arg("sh")
        .arg(&up)
        .output()
        .unwrap();
    assert!(out.status.success(), "find | md5sum: {}", text(&out.stderr));
    let read: BTreeMap<String, String> = text(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once("  "))
        .map(|(m, p)| (p.trim_start_matches("./").to_string(), m.to_string()))
        .collect();
    // md5sum escapes names with a backslash or newline; compare those by reading them.
    for (rel, md5) in &expected {
        let got = read
            .get(rel)
            .cloned()
            .unwrap_or_else(|| md5_hex(&std::fs::read(up.join(rel)).unwrap()));
        assert_eq!(&got, md5, "{rel} read back through the mount");
    }

    // mkdir, mv across folders, rm (to the trash), rmdir, case collision.
    let other = mnt.point.join("other");
    assert!(
        Command::new("mkdir")
            .arg(&other)
            .status()
            .unwrap()
            .success()
    );
    let moved = awkward(1);
    let out = Command::new("mv")
        .arg(up.join(&moved))
        .arg(other.join("renamed.bin"))
        .output()
        .unwrap();
    assert!(out.status.success(), "mv: {}", text(&out.stderr));
    assert_eq!(
        std::fs::read(other.join("renamed.bin")).unwrap(),
        content(1)
    );
    assert!(!up.join(&moved).exists());
    let ls = env.ok(&["ls", "r:m/other"]);
    assert!(ls.contains("renamed.bin"), "acd ls after mv: {ls}");

    let gone = awkward(2);
    assert!(
        Command::new("rm")
            .arg(up.join(&gone))
            .status()
            .unwrap()
            .success()
    );
    assert!(!up.join(&gone).exists());
    let trash = env.ok(&["trash", "list", "r:"]);
    assert!(
        trash.contains(gone.trim()),
        "the removed file is in the trash: {trash}"
    );

    // Case-insensitive names: a.txt beside A.txt is EEXIST; lookups ignore case.
    std::fs::write(other.join("A.txt"), b"upper").unwrap();
    let clash = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(other.join("a.txt"));
    assert_eq!(clash.unwrap_err().kind(), std::io::ErrorKind::AlreadyExists);
    assert_eq!(std::fs::read(other.join("a.TXT")).unwrap(), b"upper");
    let err = std::fs::create_dir(mnt.point.join("OTHER")).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);

    // rmdir of a non-empty folder fails; of an empty one works.
    let err = std::fs::remove_dir(&other).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(39), "ENOTEMPTY: {err}");
    let empty = mnt.point.join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert!(
        Command::new("rmdir")
            .arg(&empty)
            .status()
            .unwrap()
            .success()
    );
    assert!(!empty.exists());

    // touch on an existing file: accepted, ignored.
    assert!(
        Command::new("touch")
            .arg(other.join("A.txt"))
            .status()
            .unwrap()
            .success()
    );
    mnt.unmount();
}

#[test]
fn the_first_and_last_mib_of_a_12_gib_synthetic_file() {
    let env = Env::new(&[]);
    let size: u64 = 12 << 30;
    admin::seed(
        &env.mock.url,
        &SeedRequest::nodes(vec![SeedNode::folder(
            "big",
            vec![SeedNode::synthetic("huge.bin", size, 7)],
        )]),
    );
    let mnt = env.mount("big", &["--buffer-size", "4M"]);
    let path = mnt.point.join("huge.bin");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), size);
    let mib = 1u64 << 20;
    let file = std::fs::File::open(&path).unwrap();
    for offset in [0, size - mib] {
        let mut got = vec![0u8; mib as usize];
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut got, offset).unwrap();
        let want = env
            .command(&[
                "cat",
                "r:big/huge.bin",
                "--offset",
                &offset.to_string(),
                "--count",
                &mib.to_string(),
            ])
            .output()
            .unwrap()
            .stdout;
        assert_eq!(md5_hex(&got), md5_hex(&want), "bytes at {offset}");
    }
    drop(file);
    mnt.unmount();
}

#[test]
fn reads_and_an_upload_under_realistic_faults() {
    let env = Env::new(&["--faults", "realistic", "--seed", "5"]);
    let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    env.ok(&["mkdir", "r:f"]);
    let mnt = env.mount("f", &[]);
    std::fs::write(mnt.point.join("up.bin"), &bytes).unwrap();
    assert_eq!(
        md5_hex(&std::fs::read(mnt.point.join("up.bin")).unwrap()),
        md5_hex(&bytes)
    );
    let sums = env.ok(&["md5sum", "r:f"]);
    assert!(sums.contains(&md5_hex(&bytes)), "acd md5sum: {sums}");
    mnt.unmount();
}

#[test]
fn a_phantom_upload_on_close_is_recovered() {
    let env = Env::new(&[]);
    env.ok(&["mkdir", "r:p"]);
    // The phantom appears after the client's second lookup, inside its wait: a time-based delay
    // raced the client's short wait for a small file (then its second upload and the phantom
    // both landed, as they could on the service: the README's warning about phantoms).
    env.faults(&json!({
        "id": "phantom",
        "match": {"operation": ["upload"]},
        "action": {"kind": "phantom_upload", "status": 504, "after_lookups": 2},
        "trigger": {"first": 1}
    }));
    let mnt = env.mount("p", &[]);
    let bytes = b"written through the mount, phantomed by the service".repeat(100);
    let mut file = std::fs::File::create(mnt.point.join("ghost.txt")).unwrap();
    file.write_all(&bytes).unwrap();
    drop(file); // close: the upload, its 504, and the wait for the phantom
    let fired = admin::fault(&env.mock.url, "phantom");
    assert_eq!(fired.fired, 1, "the phantom fired: {fired:?}");
    assert_eq!(std::fs::read(mnt.point.join("ghost.txt")).unwrap(), bytes);
    let listed: Vec<Value> = serde_json::from_str(&env.ok(&["lsjson", "r:p"])).unwrap();
    let named: Vec<&Value> = listed
        .iter()
        .filter(|e| e["Name"] == json!("ghost.txt"))
        .collect();
    assert_eq!(named.len(), 1, "one node, no duplicate: {listed:?}");
    mnt.unmount();
}

#[test]
fn sigterm_while_a_write_is_in_flight_loses_nothing() {
    let env = Env::new(&[]);
    env.ok(&["mkdir", "r:w"]);
    let mut mnt = env.mount("w", &[]);
    let path = mnt.point.join("slow.bin");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![7u8; 256 * 1024];
    file.write_all(&chunk).unwrap();
    // The file is open and half written: ask the mount to stop.
    let pid = mnt.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    file.write_all(&chunk).unwrap();
    drop(file);
    mnt.wait_exit_ok();
    let sums = env.ok(&["md5sum", "r:w"]);
    let want = md5_hex(&[chunk.clone(), chunk].concat());
    assert!(
        sums.contains(&format!("{want}  slow.bin")),
        "acd md5sum after unmount: {sums}"
    );
}

#[test]
fn missing_fuse_pieces_and_bad_mountpoints_say_what_to_do() {
    let env = Env::new(&[]);
    env.ok(&["mkdir", "r:x"]);
    let point = env.dir.path().join("point");
    std::fs::create_dir_all(&point).unwrap();
    let target = point.to_str().unwrap();

    let out = env
        .command(&["mount", "r:x", target])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("apt-get install fuse3"),
        "{}",
        text(&out.stderr)
    );

    let out = env
        .command(&["mount", "r:x", target])
        .env("ACD_MOUNT_FUSE_DEVICE", "/nonexistent/fuse")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("modprobe fuse"),
        "{}",
        text(&out.stderr)
    );

    let missing = env.dir.path().join("nowhere");
    let out = env.run(&["mount", "r:x", missing.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("does not exist"),
        "{}",
        text(&out.stderr)
    );

    std::fs::write(point.join("file"), b"x").unwrap();
    let out = env.run(&["mount", "r:x", target]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("not empty"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn read_only_mounts_refuse_writes_with_erofs() {
    let env = Env::new(&[]);
    env.ok(&["mkdir", "r:ro"]);
    let mnt = env.mount("ro", &["--read-only"]);
    let err = std::fs::write(mnt.point.join("no.txt"), b"x").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(30), "EROFS: {err}");
    mnt.unmount();
}

#[test]
fn files_added_elsewhere_appear_after_a_poll_of_the_changes_feed() {
    let env = Env::new(&[]);
    env.ok(&["mkdir", "r:poll"]);
    let mnt = env.mount("poll", &[]);
    assert_eq!(std::fs::read_dir(&mnt.point).unwrap().count(), 0);
    // Another client (the mock's seeding, which this acd process never sees) adds a file.
    let listed: Vec<Value> = serde_json::from_str(&env.ok(&["lsjson", "r:"])).unwrap();
    let folder = listed.iter().find(|e| e["Name"] == json!("poll")).unwrap()["ID"]
        .as_str()
        .unwrap()
        .to_string();
    admin::seed(
        &env.mock.url,
        &SeedRequest {
            parent: Some(folder),
            ..SeedRequest::nodes(vec![SeedNode::synthetic("elsewhere.bin", 4096, 3)])
        },
    );
    let path = mnt.point.join("elsewhere.bin");
    wait_for(
        "the seeded file in the mount",
        Duration::from_secs(15),
        || path.exists(),
    );
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 4096);
    let want = env
        .command(&["cat", "r:poll/elsewhere.bin"])
        .output()
        .unwrap()
        .stdout;
    assert_eq!(std::fs::read(&path).unwrap(), want);
    mnt.unmount();
}

#[test]
fn a_failed_upload_is_reported_by_fsync_and_its_bytes_are_kept() {
    let env = Env::new(&[]);
    env.ok(&["mkdir", "r:fail"]);
    env.faults(&json!({
        "id": "refuse",
        "match": {"operation": ["upload"]},
        "action": {"kind": "status", "status": 403, "message": "refused by the test"}
    }));
    let mnt = env.mount("fail", &[]);
    let bytes = b"these bytes must not be lost".repeat(50);
    let mut file = std::fs::File::create(mnt.point.join("refused.txt")).unwrap();
    file.write_all(&bytes).unwrap();
    let err = file
        .sync_all()
        .expect_err("fsync reports the failed upload");
    assert_eq!(err.raw_os_error(), Some(5), "EIO: {err}");
    drop(file);
    mnt.unmount();
    // What was written is kept beside the spools, named for the file.
    let mut kept = Vec::new();
    let mut stack = vec![env.dir.path().join("home")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("unsent-")
            {
                kept.push(path);
            }
        }
    }
    assert_eq!(kept.len(), 1, "one kept spool: {kept:?}");
    assert!(
        kept[0].to_string_lossy().ends_with("refused.txt"),
        "{kept:?}"
    );
    assert_eq!(std::fs::read(&kept[0]).unwrap(), bytes);
}

#[test]
fn a_write_beyond_the_quota_fails_fsync_with_edquot() {
    // The service refused an upload over quota with 403 and a message naming it (reference §12).
    let env = Env::new(&["--quota", "64KiB"]);
    env.ok(&["mkdir", "r:full"]);
    let mnt = env.mount("full", &[]);
    let mut file = std::fs::File::create(mnt.point.join("too-big.bin")).unwrap();
    file.write_all(&vec![7u8; 256 * 1024]).unwrap();
    let err = file.sync_all().expect_err("fsync reports the quota");
    assert_eq!(err.raw_os_error(), Some(122), "EDQUOT: {err}");
    drop(file);
    // A file that fits still goes up.
    std::fs::write(mnt.point.join("fits.txt"), b"small").unwrap();
    mnt.unmount();
    assert_eq!(env.ok(&["cat", "r:full/fits.txt"]), "small");
    let listed = env.ok(&["ls", "r:full"]);
    assert!(!listed.contains("too-big.bin"), "{listed}");
}

/// Runs a command as the user `nobody`.
fn as_nobody(args: &[&str]) -> Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .args(args)
        .output()
        .expect("setpriv (util-linux) runs a command as another user")
}

#[test]
fn allow_other_lets_another_user_read_the_mount() {
    // Another user reaching the mount needs root (as CI runs) or `user_allow_other`.
    let me = Command::new("id").arg("-u").output().unwrap();
    assert_eq!(
        text(&me.stdout).trim(),
        "0",
        "this test mounts for another user and must run as root (CI does)"
    );
    let env = Env::new(&[]);
    env.ok(&["mkdir", "r:shared"]);
    let local = env.dir.path().join("hello.txt");
    std::fs::write(&local, b"hello, other user").unwrap();
    env.ok(&["copyto", local.to_str().unwrap(), "r:shared/hello.txt"]);
    // `nobody` must be able to walk to the mountpoint.
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();

    let mnt = env.mount("shared", &[]);
    let path = mnt.point.join("hello.txt");
    let path = path.to_str().unwrap();
    let refused = as_nobody(&["cat", path]);
    assert!(
        !refused.status.success(),
        "without --allow-other another user must be refused"
    );
    mnt.unmount();

    let mnt = env.mount("shared", &["--allow-other"]);
    let read = as_nobody(&["cat", path]);
    assert!(
        read.status.success(),
        "nobody reads through --allow-other: {}",
        text(&read.stderr)
    );
    assert_eq!(text(&read.stdout), "hello, other user");
    mnt.unmount();
}
