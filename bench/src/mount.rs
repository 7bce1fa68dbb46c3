//! `acd mount` against `acd` itself on the same mock: a sequential read through the mount
//! against `acd cat`, `cp` into the mount against `acd copyto`, `find` over 10,000 files
//! against `acd ls`, and the mount's peak RSS while 4 GiB are read through it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::data::write_random_file;
use crate::procs::{check_interrupted, peak_rss_kib};
use crate::report::Figure;
use crate::tools::{REMOTE, Session};
use crate::workloads::{Measured, Plan, check_size, order, p, record, run_ok};

/// Files in the tree `find` walks.
const FIND_FILES: usize = 10_000;

/// A running `acd mount`, unmounted (`fusermount3 -u`) when dropped.
struct Mounted {
    child: Child,
    point: PathBuf,
}

impl Mounted {
    /// `acd mount REMOTE:folder POINT`, waiting up to 60 s for the kernel to list it.
    fn start(s: &Session, folder: &str, point: &Path) -> Result<Self> {
        std::fs::create_dir_all(point)?;
        let log = std::fs::File::create(s.logs.join(format!("mount-{folder}.err")))?;
        let child = s
            .acd(&["mount", &format!("{REMOTE}:{folder}"), &p(point)])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("cannot start acd mount")?;
        let mut mounted = Self {
            child,
            point: point.to_path_buf(),
        };
        let started = Instant::now();
        while !is_mounted(point) {
            check_interrupted()?;
            if let Some(status) = mounted.child.try_wait()? {
                bail!(
                    "acd mount exited with {status} (see {}; it needs /dev/fuse and fusermount3 from Debian's fuse3)",
                    s.logs.join(format!("mount-{folder}.err")).display()
                );
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("acd mount did not mount {} within 60 s", point.display());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(mounted)
    }

    /// The mount process's peak RSS so far (KiB).
    fn peak_rss_kib(&self) -> Option<u64> {
        peak_rss_kib(self.child.id())
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("fusermount3")
            .arg("-u")
            .arg(&self.point)
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `path` is a mountpoint now.
fn is_mounted(path: &Path) -> bool {
    let path = path.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(path.as_str()))
}

/// `sh -c SCRIPT` with `$1` = `arg`.
fn sh(script: &str, arg: &Path) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script).arg("sh").arg(arg);
    cmd
}

/// The mount's figures.
pub(crate) fn mount(s: &Session, plan: &Plan, work: &Path) -> Result<Vec<Figure>> {
    let mib = plan.large >> 20;
    let folder = s.seed_folder("mnt")?;
    s.seed(
        Some(&folder),
        vec![json!({"name": "read.bin", "kind": "FILE", "size": plan.large, "seed": 11})],
    )?;
    let tree: Vec<_> = (0..FIND_FILES / 1_000)
        .map(|d| {
            json!({"name": format!("d{d}"), "kind": "FOLDER", "children": (0..1_000)
                .map(|f| json!({"name": format!("f{f}.txt"), "content": "x"}))
                .collect::<Vec<_>>()})
        })
        .collect();
    s.seed(
        Some(&folder),
        vec![json!({"name": "tree", "kind": "FOLDER", "children": tree})],
    )?;
    let point = work.join("mountpoint");
    let mounted = Mounted::start(s, "mnt", &point)?;

    let mut read = Figure::new(
        "mount_read",
        format!("read 1 file of {mib} MiB"),
        plan.large,
        1,
    );
    let src = format!("{REMOTE}:mnt/read.bin");
    for rep in 0..plan.reps {
        for tool in order(&["acd", "acd cat"], rep) {
            let cmd = if tool == "acd" {
                sh("cat \"$1\"", &point.join("read.bin"))
            } else {
                s.acd(&["cat", &src])
            };
            let outcome =
                run_ok(s, &format!("{}-read", tool.replace(' ', "-")), cmd).and_then(|run| {
                    check_size(&run.stdout, plan.large)?;
                    let _ = std::fs::remove_file(&run.stdout);
                    Ok(Measured::from(&run))
                });
            record(&mut read, tool, rep, outcome)?;
        }
    }

    let local = work.join("mount-write.bin");
    write_random_file(&local, plan.large, 5)?;
    let mut write = Figure::new(
        "mount_write",
        format!("write 1 file of {mib} MiB"),
        plan.large,
        1,
    );
    for rep in 0..plan.reps {
        for tool in order(&["acd", "acd copyto"], rep) {
            let cmd = if tool == "acd" {
                let mut cmd = Command::new("cp");
                cmd.arg(&local).arg(point.join(format!("cp-{rep}.bin")));
                cmd
            } else {
                s.acd(&[
                    "copyto",
                    &p(&local),
                    &format!("{REMOTE}:mnt/copyto-{rep}.bin"),
                ])
            };
            let outcome = run_ok(s, &format!("{}-write", tool.replace(' ', "-")), cmd)
                .map(|run| Measured::from(&run));
            record(&mut write, tool, rep, outcome)?;
        }
    }
    let _ = std::fs::remove_file(&local);

    let mut find = Figure::new(
        "mount_find",
        format!("list {FIND_FILES} files in 10 folders"),
        0,
        FIND_FILES as u64,
    );
    for rep in 0..plan.reps {
        for tool in order(&["acd", "acd ls"], rep) {
            let cmd = if tool == "acd" {
                sh("find \"$1\" -type f", &point.join("tree"))
            } else {
                s.acd(&["ls", &format!("{REMOTE}:mnt/tree")])
            };
            let outcome =
                run_ok(s, &format!("{}-find", tool.replace(' ', "-")), cmd).and_then(|run| {
                    let lines = run.stdout_text().lines().count();
                    if lines != FIND_FILES {
                        bail!("{tool} listed {lines} files, expected {FIND_FILES}");
                    }
                    Ok(Measured::from(&run))
                });
            record(&mut find, tool, rep, outcome)?;
        }
    }
    drop(mounted);

    // Peak RSS: a fresh mount reads plan.rss bytes once.
    let rss_mib = plan.rss >> 20;
    s.seed(
        Some(&folder),
        vec![json!({"name": "huge.bin", "kind": "FILE", "size": plan.rss, "seed": 13})],
    )?;
    let fresh = Mounted::start(s, "mnt", &point)?;
    let mut rss = Figure::new(
        "rss_mount",
        format!("acd mount peak RSS, read of {rss_mib} MiB"),
        plan.rss,
        1,
    );
    let outcome = run_ok(
        s,
        "mount-rss",
        sh("cat \"$1\" > /dev/null", &point.join("huge.bin")),
    )
    .map(|run| Measured {
        secs: run.secs,
        rss_kib: fresh.peak_rss_kib(),
        ..Measured::default()
    });
    record(&mut rss, "acd", 0, outcome)?;
    drop(fresh);
    Ok(vec![read, write, find, rss])
}
