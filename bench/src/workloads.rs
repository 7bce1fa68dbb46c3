//! The workloads: each section seeds what it needs, runs the tools alternately, and returns its
//! figures. A failed run is recorded in its sample and the section goes on.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::data::{count_files, md5_secs, read_all, sparse_file, write_random_file};
use crate::procs::{Run, check_interrupted};
use crate::report::Figure;
use crate::tools::{Binaries, REMOTE, Session};

/// The service's pacing: one call start per 20 ms (acd's `PacerConfig::min_sleep`, rclone's
/// `acd` backend's `minSleep`).
const PACING: std::time::Duration = std::time::Duration::from_millis(20);

/// Sizes and repetitions for one run of the bench.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// `--quick`.
    pub quick: bool,
    /// Repetitions of each alternating pair.
    pub reps: usize,
    /// Size of the large file.
    pub large: u64,
    /// Number of small files.
    pub small: usize,
    /// Entries in the flat folder.
    pub flat: usize,
    /// Nodes wanted in the tree.
    pub tree: usize,
    /// Size of the peak-RSS transfers.
    pub rss: u64,
}

impl Plan {
    /// The full plan or the `--quick` one (smaller sizes); `reps` overrides the default of 3
    /// repetitions, which both plans use so that every figure is a median of alternating runs.
    pub(crate) fn new(quick: bool, reps: Option<usize>) -> Self {
        const MIB: u64 = 1 << 20;
        Self {
            quick,
            reps: reps.unwrap_or(3),
            large: if quick { 128 * MIB } else { 1024 * MIB },
            small: if quick { 200 } else { 2_000 },
            flat: if quick { 2_000 } else { 20_000 },
            tree: if quick { 5_000 } else { 50_000 },
            rss: 4096 * MIB,
        }
    }
}

/// What one run measured.
#[derive(Debug, Default)]
pub(crate) struct Measured {
    pub(crate) secs: f64,
    pub(crate) rss_kib: Option<u64>,
    pub(crate) retries: Option<u64>,
    pub(crate) faults: Option<u64>,
}

impl From<&Run> for Measured {
    fn from(run: &Run) -> Self {
        Self {
            secs: run.secs,
            rss_kib: run.peak_rss_kib,
            ..Self::default()
        }
    }
}

/// Adds one run's outcome to `fig` and prints a progress line; an interrupt is passed on.
pub(crate) fn record(
    fig: &mut Figure,
    tool: &str,
    rep: usize,
    outcome: Result<Measured>,
) -> Result<()> {
    let title = fig.title.clone();
    let sample = fig.sample(tool);
    match outcome {
        Ok(m) => {
            let rss = m.rss_kib.map_or(String::new(), |k| {
                format!(", peak RSS {:.1} MiB", k as f64 / 1024.0)
            });
            let retries = m
                .retries
                .map_or(String::new(), |r| format!(", {r} retries"));
            eprintln!(
                "  {:<48} {tool:<7} #{}: {:>8.2} s{rss}{retries}",
                title,
                rep + 1,
                m.secs
            );
            sample.secs.push(m.secs);
            sample.rss_kib.extend(m.rss_kib);
            sample.retries.extend(m.retries);
            sample.faults.extend(m.faults);
        }
        Err(error) => {
            check_interrupted()?;
            eprintln!("  {:<48} {tool:<7} #{}: FAILED: {error:#}", title, rep + 1);
            sample.errors.push(format!("{error:#}"));
        }
    }
    Ok(())
}

/// The tools in an order that rotates with the repetition, so none always goes first.
pub(crate) fn order<'t>(tools: &[&'t str], rep: usize) -> Vec<&'t str> {
    let mut v = tools.to_vec();
    let n = v.len();
    v.rotate_left(rep % n);
    v
}

/// Runs a command and fails unless it exits 0.
pub(crate) fn run_ok(s: &Session, what: &str, mut cmd: Command) -> Result<Run> {
    let run = s.run(what, &mut cmd)?;
    run.ensure_success(what)?;
    Ok(run)
}

/// `acd ARGS` or `rclone ARGS` by tool name.
fn tool_cmd(s: &Session, tool: &str, args: &[&str]) -> Command {
    if tool == "acd" {
        s.acd(args)
    } else {
        s.rclone(args)
    }
}

/// Fails unless curl's `-w %{http_code}` output is a 2xx.
fn curl_status(run: &Run) -> Result<()> {
    let code = run.stdout_text();
    if !code.trim().starts_with('2') {
        bail!("curl got HTTP {}", code.trim());
    }
    Ok(())
}

/// Fails unless `path` is a file of `size` bytes.
pub(crate) fn check_size(path: &Path, size: u64) -> Result<()> {
    let got = std::fs::metadata(path)
        .with_context(|| format!("{} was not written", path.display()))?
        .len();
    if got != size {
        bail!("{} has {got} bytes, expected {size}", path.display());
    }
    Ok(())
}

/// Path text for a command line.
pub(crate) fn p(path: &Path) -> String {
    path.display().to_string()
}

/// Large file up and down: acd, rclone, curl, and md-5 hashing of the same bytes.
pub(crate) fn large(s: &Session, plan: &Plan, work: &Path) -> Result<Vec<Figure>> {
    let file = work.join("large.bin");
    let mib = plan.large >> 20;
    eprintln!("large file: writing {mib} MiB of random bytes");
    write_random_file(&file, plan.large, 1)?;
    let bytes = read_all(&file)?;
    let big = s.seed_folder("big")?;
    let mut up = Figure::new(
        "large_upload",
        format!("upload 1 file of {mib} MiB"),
        plan.large,
        1,
    );
    let mut curl_id = None;
    for rep in 0..plan.reps {
        for tool in order(&["acd", "rclone", "curl", "md5"], rep) {
            let name = format!("{tool}-r{rep}.bin");
            let dst = format!("{REMOTE}:big/{name}");
            let outcome = match tool {
                "md5" => Ok(Measured {
                    secs: md5_secs(&bytes),
                    ..Measured::default()
                }),
                "curl" => {
                    let reply = s.logs.join(format!("curl-reply-{rep}.json"));
                    let cmd = s.curl_upload(&file, &name, &big, &reply);
                    run_ok(s, "curl-upload", cmd).and_then(|run| {
                        curl_status(&run)?;
                        let node: Value = serde_json::from_slice(&std::fs::read(&reply)?)?;
                        let id = node["id"]
                            .as_str()
                            .context("curl's upload reply has no id")?;
                        curl_id.get_or_insert_with(|| (name.clone(), id.to_string()));
                        Ok(Measured::from(&run))
                    })
                }
                _ => run_ok(
                    s,
                    &format!("{tool}-upload"),
                    tool_cmd(s, tool, &["copyto", &p(&file), &dst]),
                )
                .map(|r| Measured::from(&r)),
            };
            record(&mut up, tool, rep, outcome)?;
        }
    }
    // Everyone downloads the same node: curl's upload if it worked, else acd's.
    let (source, id) = match curl_id {
        Some((name, id)) => (name, Some(id)),
        None => ("acd-r0.bin".to_string(), None),
    };
    let src = format!("{REMOTE}:big/{source}");
    let mut down = Figure::new(
        "large_download",
        format!("download 1 file of {mib} MiB"),
        plan.large,
        1,
    );
    let out = work.join("download.bin");
    for rep in 0..plan.reps {
        for tool in order(&["acd", "rclone", "curl", "md5"], rep) {
            let _ = std::fs::remove_file(&out);
            let outcome = match (tool, &id) {
                ("md5", _) => Ok(Measured {
                    secs: md5_secs(&bytes),
                    ..Measured::default()
                }),
                ("curl", None) => continue,
                ("curl", Some(id)) => run_ok(s, "curl-download", s.curl_download(id, &out))
                    .and_then(|run| {
                        curl_status(&run)?;
                        check_size(&out, plan.large)?;
                        Ok(Measured::from(&run))
                    }),
                _ => run_ok(
                    s,
                    &format!("{tool}-download"),
                    tool_cmd(s, tool, &["copyto", &src, &p(&out)]),
                )
                .and_then(|run| {
                    check_size(&out, plan.large)?;
                    Ok(Measured::from(&run))
                }),
            };
            let _ = std::fs::remove_file(&out);
            record(&mut down, tool, rep, outcome)?;
        }
    }
    drop(bytes);
    let _ = std::fs::remove_file(&file);
    Ok(vec![up, down])
}

/// The small files up and down, acd against rclone, at default transfers and at 16.
pub(crate) fn small(
    s: &Session,
    plan: &Plan,
    work: &Path,
    dir: &Path,
    total: u64,
) -> Result<Vec<Figure>> {
    s.seed_folder("small")?;
    let n = plan.small;
    let mut figures = Vec::new();
    let settings: [(&str, &'static str, &'static str, Option<&str>); 2] = [
        ("default", "small_up_default", "small_down_default", None),
        ("16", "small_up_16", "small_down_16", Some("16")),
    ];
    for (label, up_key, down_key, transfers) in settings {
        let flags: Vec<&str> = transfers.map_or(Vec::new(), |t| vec!["--transfers", t]);
        let mut up = Figure::new(
            up_key,
            format!("upload {n} files of 4-64 KiB, transfers {label}"),
            total,
            n as u64,
        );
        for rep in 0..plan.reps {
            for tool in order(&["acd", "rclone"], rep) {
                let dst = format!("{REMOTE}:small/{tool}-t{label}-r{rep}");
                let mut args = vec!["copy", dir.to_str().context("non-UTF-8 temp path")?, &dst];
                args.extend(&flags);
                let outcome = run_ok(s, &format!("{tool}-small-up"), tool_cmd(s, tool, &args))
                    .map(|r| Measured::from(&r));
                record(&mut up, tool, rep, outcome)?;
            }
        }
        // Both download the same folder, one that uploaded without errors.
        let from = if up.get("acd").is_some_and(|s| s.errors.is_empty()) {
            "acd"
        } else {
            "rclone"
        };
        let src = format!("{REMOTE}:small/{from}-t{label}-r0");
        let mut down = Figure::new(
            down_key,
            format!("download {n} files of 4-64 KiB, transfers {label}"),
            total,
            n as u64,
        );
        let out = work.join("small-download");
        for rep in 0..plan.reps {
            for tool in order(&["acd", "rclone"], rep) {
                let _ = std::fs::remove_dir_all(&out);
                let mut args = vec!["copy", &src, out.to_str().context("non-UTF-8 temp path")?];
                args.extend(&flags);
                let outcome = run_ok(s, &format!("{tool}-small-down"), tool_cmd(s, tool, &args))
                    .and_then(|run| {
                        let (files, bytes) = count_files(&out)?;
                        if files != n as u64 || bytes != total {
                            bail!(
                                "downloaded {files} files / {bytes} bytes, expected {n} / {total}"
                            );
                        }
                        Ok(Measured::from(&run))
                    });
                let _ = std::fs::remove_dir_all(&out);
                record(&mut down, tool, rep, outcome)?;
            }
        }
        // The pacing floor: every content GET is a paced call, and call starts are at least
        // 20 ms apart across all transfers (the pacer is shared), so N files take N x 20 ms
        // whatever `--transfers` says.
        down.sample("floor")
            .secs
            .push(n as f64 * PACING.as_secs_f64());
        figures.push(up);
        figures.push(down);
    }
    Ok(figures)
}

/// A synthetic file for seeding (no bytes stored; its MD5 is given, so nothing is hashed).
fn synthetic(name: String, i: usize) -> Value {
    json!({"name": name, "kind": "FILE", "size": 1024 + (i % 4096), "seed": i, "md5": format!("{:032x}", i)})
}

/// Seeds a folder of `n` synthetic files in requests of 5,000.
fn seed_flat(s: &Session, n: usize) -> Result<()> {
    let id = s.seed_folder("flat")?;
    let all: Vec<usize> = (0..n).collect();
    for chunk in all.chunks(5_000) {
        let nodes = chunk
            .iter()
            .map(|i| synthetic(format!("f{i:06}.dat"), *i))
            .collect();
        s.seed(Some(&id), nodes)?;
    }
    Ok(())
}

/// Seeds a tree of about `n` nodes: 10 folders of 10 folders of files. Returns the node count.
fn seed_tree(s: &Session, n: usize) -> Result<u64> {
    let id = s.seed_folder("tree")?;
    let per_leaf = n.saturating_sub(110) / 100;
    for a in 0..10 {
        let subfolders: Vec<Value> = (0..10)
            .map(|b| {
                let files: Vec<Value> = (0..per_leaf)
                    .map(|i| synthetic(format!("t{a}{b}-{i:05}.dat"), (a * 10 + b) * per_leaf + i))
                    .collect();
                json!({"name": format!("s{b}"), "kind": "FOLDER", "children": files})
            })
            .collect();
        s.seed(
            Some(&id),
            vec![json!({"name": format!("d{a}"), "kind": "FOLDER", "children": subfolders})],
        )?;
    }
    Ok(110 + 100 * per_leaf as u64)
}

/// Number of entries in an `lsjson` answer.
fn count_entries(text: &str) -> Result<u64> {
    let value: Value = serde_json::from_str(text).context("lsjson did not print JSON")?;
    Ok(value
        .as_array()
        .context("lsjson did not print a JSON array")?
        .len() as u64)
}

/// `lsjson -R` of a flat folder and of a tree, acd against rclone.
pub(crate) fn listing(s: &Session, plan: &Plan) -> Result<Vec<Figure>> {
    eprintln!(
        "listings: seeding {} + {} synthetic nodes",
        plan.flat, plan.tree
    );
    seed_flat(s, plan.flat)?;
    let tree_nodes = seed_tree(s, plan.tree)?;
    let flat_title = format!("folder of {} files", plan.flat);
    let tree_title = format!("tree of {tree_nodes} nodes");
    // Each listing twice for acd: paging the API, and `--fast-list` (from the metadata cache
    // after an incremental sync; the first repetition also makes the cache: its first sync).
    // rclone's runs count for both figures.
    let mut figures = vec![
        (
            Figure::new(
                "list_flat",
                format!("lsjson -R, {flat_title}"),
                0,
                plan.flat as u64,
            ),
            Figure::new(
                "list_flat_fast",
                format!("lsjson -R --fast-list, {flat_title}"),
                0,
                plan.flat as u64,
            ),
            "flat",
        ),
        (
            Figure::new(
                "list_tree",
                format!("lsjson -R, {tree_title}"),
                0,
                tree_nodes,
            ),
            Figure::new(
                "list_tree_fast",
                format!("lsjson -R --fast-list, {tree_title}"),
                0,
                tree_nodes,
            ),
            "tree",
        ),
    ];
    for (fig, fast, path) in &mut figures {
        let target = format!("{REMOTE}:{path}");
        let expected = fig.items;
        for rep in 0..plan.reps {
            for tool in order(&["acd", "acd --fast-list", "rclone"], rep) {
                let cmd = match tool {
                    "acd --fast-list" => s.acd(&["lsjson", "-R", "--fast-list", &target]),
                    _ => tool_cmd(s, tool, &["lsjson", "-R", &target]),
                };
                let outcome = run_ok(s, &format!("{}-lsjson", tool.replace(' ', "")), cmd)
                    .and_then(|run| {
                        let got = count_entries(&run.stdout_text())?;
                        if got != expected {
                            bail!("listed {got} entries, expected {expected}");
                        }
                        Ok(Measured::from(&run))
                    });
                match tool {
                    "acd --fast-list" => record(fast, "acd", rep, outcome)?,
                    _ => record(fig, tool, rep, outcome)?,
                }
            }
        }
        if let Some(rclone) = fig.get("rclone") {
            let (secs, errors) = (rclone.secs.clone(), rclone.errors.clone());
            let copy = fast.sample("rclone");
            copy.secs = secs;
            copy.errors = errors;
        }
    }
    // An incremental sync of the cache after 100 changes (new files).
    let folder = s.seed_folder("changed")?;
    let mut sync = Figure::new("cache_sync_100", "cache sync after 100 changes", 0, 100);
    for rep in 0..plan.reps {
        s.seed(
            Some(&folder),
            (0..100)
                .map(|i| synthetic(format!("r{rep}-{i}.bin"), i))
                .collect(),
        )?;
        let outcome = run_ok(
            s,
            "acd-cache-sync",
            s.acd(&["cache", "sync", &format!("{REMOTE}:")]),
        )
        .map(|run| Measured::from(&run));
        record(&mut sync, "acd", rep, outcome)?;
    }
    let mut out: Vec<Figure> = figures
        .into_iter()
        .flat_map(|(fig, fast, _)| [fig, fast])
        .collect();
    out.push(sync);
    Ok(out)
}

/// acd's peak RSS downloading a synthetic file and uploading a sparse one, once each.
pub(crate) fn rss(s: &Session, plan: &Plan, work: &Path) -> Result<Vec<Figure>> {
    let mib = plan.rss >> 20;
    let folder = s.seed_folder("rss")?;
    eprintln!("peak RSS: seeding a {mib} MiB synthetic file (the mock hashes it once)");
    s.seed(
        Some(&folder),
        vec![json!({"name": "synthetic.bin", "kind": "FILE", "size": plan.rss, "seed": 7})],
    )?;
    let mut down = Figure::new(
        "rss_download",
        format!("acd peak RSS, download of {mib} MiB"),
        plan.rss,
        1,
    );
    let out = work.join("rss-download.bin");
    let src = format!("{REMOTE}:rss/synthetic.bin");
    let outcome = run_ok(s, "acd-rss-down", s.acd(&["copyto", &src, &p(&out)])).and_then(|run| {
        check_size(&out, plan.rss)?;
        Ok(Measured::from(&run))
    });
    let _ = std::fs::remove_file(&out);
    record(&mut down, "acd", 0, outcome)?;
    let mut up = Figure::new(
        "rss_upload",
        format!("acd peak RSS, upload of {mib} MiB"),
        plan.rss,
        1,
    );
    let sparse = work.join("sparse.bin");
    sparse_file(&sparse, plan.rss)?;
    let dst = format!("{REMOTE}:rss/uploaded.bin");
    let outcome =
        run_ok(s, "acd-rss-up", s.acd(&["copyto", &p(&sparse), &dst])).map(|r| Measured::from(&r));
    let _ = std::fs::remove_file(&sparse);
    record(&mut up, "acd", 0, outcome)?;
    Ok(vec![down, up])
}

/// The `Retries:` count of acd's summary on stderr.
fn acd_retries(stderr: &str) -> Option<u64> {
    stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Retries:"))
        .and_then(|v| v.trim().parse().ok())
}

/// rclone's retries, counted from its `-vv` log: low-level retries and failed attempts.
fn rclone_retries(log: &str) -> u64 {
    log.lines()
        .filter(|l| {
            l.contains("low level retry") || (l.contains("Attempt ") && l.contains(" failed"))
        })
        .count() as u64
}

/// The small-file upload under `--faults realistic --seed 1`, acd against rclone.
///
/// Like against like: every run gets a fresh mock (the same seed, so the same fault stream and
/// a full rate-limit bucket, instead of the second tool inheriting what the first left), both
/// tools log at debug level to a file (acd `-vv` to its stderr file, rclone `-vv --log-file`),
/// and the order alternates with the repetition.
pub(crate) fn faults(
    bins: &Binaries,
    plan: &Plan,
    dir: &Path,
    small: &Path,
    total: u64,
    timeout: std::time::Duration,
) -> Result<Vec<Figure>> {
    eprintln!("faults: a fresh acd-mock with --faults realistic --seed 1 for every run");
    let n = plan.small;
    let mut fig = Figure::new(
        "faults_small_up",
        format!("upload {n} files, realistic faults"),
        total,
        n as u64,
    );
    let src = small.to_str().context("non-UTF-8 temp path")?;
    for rep in 0..plan.reps {
        for tool in order(&["acd", "rclone"], rep) {
            check_interrupted()?;
            let s = Session::start(
                bins,
                &dir.join(format!("{tool}-r{rep}")),
                &["--faults", "realistic", "--seed", "1"],
                timeout,
            )?;
            s.seed_folder("faults")?;
            let before = s.faults_fired().ok();
            let dst = format!("{REMOTE}:faults/{tool}-r{rep}");
            let log = s.logs.join(format!("rclone-faults-{rep}.log"));
            let log_text = p(&log);
            let outcome = if tool == "acd" {
                run_ok(&s, "acd-faults", s.acd(&["-vv", "copy", src, &dst])).map(|run| Measured {
                    retries: acd_retries(&run.stderr_text()),
                    ..Measured::from(&run)
                })
            } else {
                let cmd = s.rclone(&["-vv", "--log-file", &log_text, "copy", src, &dst]);
                run_ok(&s, "rclone-faults", cmd).map(|run| Measured {
                    retries: Some(rclone_retries(
                        &std::fs::read_to_string(&log).unwrap_or_default(),
                    )),
                    ..Measured::from(&run)
                })
            };
            let after = s.faults_fired().ok();
            let outcome = outcome.map(|m| Measured {
                faults: before.zip(after).map(|(b, a)| a.saturating_sub(b)),
                ..m
            });
            record(&mut fig, tool, rep, outcome)?;
        }
    }
    Ok(vec![fig])
}
