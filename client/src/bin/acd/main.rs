//! The `acd` command: argument parsing, logging, and one function per subcommand.

mod cli;
mod configure;
mod output;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, Result, anyhow, bail};
use clap::Parser as _;

use acd_client::config;
use acd_client::ops::list::walk_remote;
use acd_client::ops::sync::{Difference, Mode};
use acd_client::ops::{self, Ctx};
use acd_client::paths::{self, Location, RemotePath};
use acd_client::remote::{Remote, Session};
use acd_client::transfer::download::Downloader;
use acd_client::transfer::stats::Stats;
use cli::{CacheCommand, Cli, Command, Global, ListArgs, MountArgs, Pair, TrashCommand};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    init_logging(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("acd: error: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            let _ = std::io::stdout().flush();
            eprintln!("acd: error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// A command line clap refused: one `acd: error:` line (with clap's tips) and exit 2, like
/// every other acd error; help and version (and help for a missing subcommand) as clap prints
/// them.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if !e.use_stderr() || e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        e.exit();
    }
    let rendered = e.render().to_string();
    // The first paragraph is the error (a list of missing arguments follows on its lines).
    let mut text = rendered
        .lines()
        .map(str::trim)
        .take_while(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .trim_start_matches("error: ")
        .to_string();
    if text.is_empty() {
        text = "invalid command line".into();
    }
    for tip in rendered
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("tip:"))
    {
        text.push_str("; ");
        text.push_str(tip);
    }
    eprintln!("acd: error: {text} (see acd --help)");
    ExitCode::from(2)
}

/// The error and its causes on one line (causes not already in the message).
fn one_line(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
    }
    text.replace('\n', " ")
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ACD_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("acd={level},acd_client={level}"))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let session = session(&cli.global)?;
    let g = &cli.global;
    match cli.command {
        Command::Lsd(a) => listing(&session, g, a, output::Style::Lsd).await,
        Command::Ls(a) => listing(&session, g, a, output::Style::Ls).await,
        Command::Lsl(a) => listing(&session, g, a, output::Style::Lsl).await,
        Command::Lsjson(a) => listing(&session, g, a, output::Style::Json).await,
        Command::Md5sum(a) => listing(&session, g, a, output::Style::Md5sum).await,
        Command::Size(a) => listing(&session, g, a, output::Style::Size).await,
        Command::Tree(a) => listing(&session, g, a, output::Style::Tree).await,
        Command::Mkdir { path } => folder_op(&session, g, &path, Folder::Make).await,
        Command::Rmdir { path } => folder_op(&session, g, &path, Folder::Remove).await,
        Command::Purge { path } => folder_op(&session, g, &path, Folder::Purge).await,
        Command::Delete { path } => delete(&session, g, &path).await,
        Command::Copy(p) => transfer(&session, g, p, Mode::Copy).await,
        Command::Sync(p) => transfer(&session, g, p, Mode::Sync).await,
        Command::Move(p) => transfer(&session, g, p, Mode::Move).await,
        Command::Copyto(p) => copyto(&session, g, p, false).await,
        Command::Moveto(p) => copyto(&session, g, p, true).await,
        Command::Check(p) => check(&session, g, p).await,
        Command::Mount(a) => mount(&session, g, a).await,
        Command::Cat {
            path,
            offset,
            count,
        } => cat(&session, g, &path, offset, count).await,
        Command::About { remote } => about(&session, g, &remote).await,
        Command::Trash(t) => trash(&session, g, t).await,
        Command::Cache(c) => cache(&session, g, c).await,
        Command::Config { action } => configure::config(&session, g, action).await,
        Command::Authorize(args) => configure::authorize(&session, g, &args).await,
    }
}

/// The folder commands.
#[derive(Debug, Clone, Copy)]
enum Folder {
    Make,
    Remove,
    Purge,
}

async fn folder_op(session: &Session, g: &Global, path: &str, op: Folder) -> Result<ExitCode> {
    let path = paths::parse_remote(path)?;
    let remote = open(session, &path).await?;
    if g.dry_run {
        tracing::warn!("{path}: not changing anything (dry run)");
        return Ok(ExitCode::SUCCESS);
    }
    match op {
        Folder::Make => drop(ops::manage::mkdir(&remote, &path).await?),
        Folder::Remove => ops::manage::rmdir(&remote, &path).await?,
        Folder::Purge => ops::manage::purge(&remote, &path).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Everything a remote is opened with, from the global flags.
fn session(g: &Global) -> Result<Session> {
    let config_path = g.config.clone().unwrap_or_else(config::default_path);
    let mut overrides = config::env_overrides();
    let fast_list = g.fast_list.then(|| "true".to_string());
    let flags: [(&str, &Option<String>); 10] = [
        ("client_id", &g.client_id),
        ("client_secret", &g.client_secret),
        ("auth_url", &g.auth_url),
        ("token_url", &g.token_url),
        ("upload_wait_per_gb", &g.upload_wait_per_gb),
        ("templink_threshold", &g.templink_threshold),
        ("encoding", &g.encoding),
        ("endpoint_url", &g.endpoint_url),
        ("consistency_window", &g.consistency_window),
        ("fast_list", &fast_list),
    ];
    for (key, value) in flags {
        if let Some(v) = value {
            overrides.insert(key.to_string(), v.clone());
        }
    }
    let http = acd_client::http::build_client(&acd_client::http::HttpOptions {
        ca_cert: g.ca_cert.clone(),
    })?;
    Ok(Session {
        config_path,
        overrides,
        http,
        pacer: acd_client::pacer::PacerConfig {
            attempts: g.low_level_retries.max(1),
            budget: g.retry_budget,
            ..Default::default()
        },
        cache_dir: g
            .cache_dir
            .clone()
            .or_else(acd_client::api::endpoints::EndpointCache::default_dir),
    })
}

fn options(g: &Global) -> Result<ops::Options> {
    Ok(ops::Options {
        transfers: usize::from(g.transfers.max(1)),
        checkers: usize::from(g.checkers.max(1)),
        dry_run: g.dry_run,
        max_size: g.max_size,
        size_only: g.size_only,
        phantom_poll: g.phantom_poll,
    })
}

async fn open(session: &Session, path: &RemotePath) -> Result<Remote> {
    if !session.config_path.exists() {
        bail!(
            "no remote {:?}: the config file {} does not exist; create the remote with `acd config`, or name your file with --config or ACD_CONFIG",
            path.remote,
            session.config_path.display()
        );
    }
    Ok(session.open(&path.remote).await?)
}

async fn ctx(session: &Session, g: &Global, path: &RemotePath) -> Result<Ctx> {
    Ok(Ctx {
        remote: Arc::new(open(session, path).await?),
        stats: Arc::new(Stats::new(g.progress)),
        options: options(g)?,
    })
}

async fn listing(
    session: &Session,
    g: &Global,
    args: ListArgs,
    style: output::Style,
) -> Result<ExitCode> {
    let path = paths::parse_remote(&args.path)?;
    let remote = open(session, &path).await?;
    let node = ops::manage::require(&remote, &path).await?;
    let options = options(g)?;
    let entries = if node.is_folder() {
        let depth = match style {
            output::Style::Lsd => 1,
            output::Style::Json if !args.recursive => 1,
            _ => 0,
        };
        walk_remote(&remote, &node.id, depth, options.checkers).await?
    } else {
        vec![acd_client::ops::list::RemoteEntry {
            path: remote.dirs.decode(node.name()),
            node,
        }]
    };
    let mut out = std::io::stdout().lock();
    output::print(&mut out, style, &entries, g.json, args.hash)?;
    Ok(ExitCode::SUCCESS)
}

async fn transfer(session: &Session, g: &Global, pair: Pair, mode: Mode) -> Result<ExitCode> {
    let src = paths::parse(&pair.src)?;
    let dst = paths::parse(&pair.dst)?;
    let (report, ctx) = match (src, dst) {
        (Location::Local(src), Location::Remote(dst)) => {
            let ctx = ctx(session, g, &dst).await?;
            (ops::sync::upload_tree(&ctx, &src, &dst, mode).await?, ctx)
        }
        (Location::Remote(src), Location::Local(dst)) => {
            let ctx = ctx(session, g, &src).await?;
            let report = ops::sync::download_tree(&ctx, &src, &dst, mode).await?;
            if mode == Mode::Move && report.failures.is_empty() && !g.dry_run {
                let root = ctx.remote.dirs.folder_id(&src).await?;
                if let Some(id) = root {
                    for entry in walk_remote(&ctx.remote, &id, 1, ctx.options.checkers).await? {
                        ctx.remote.drive.trash(&entry.node.id).await?;
                    }
                }
            }
            (report, ctx)
        }
        (Location::Remote(src), Location::Remote(dst))
            if mode == Mode::Move && src.remote == dst.remote =>
        {
            let remote = open(session, &src).await?;
            ops::manage::move_to(&remote, &src, &dst).await?;
            return Ok(ExitCode::SUCCESS);
        }
        (Location::Remote(_), Location::Remote(_)) => {
            bail!(
                "copying between remote paths is not supported: the API has no server-side copy; copy to a local folder and back, or use `acd move`/`acd moveto` within one remote"
            )
        }
        (Location::Local(_), Location::Local(_)) => {
            bail!("both paths are local; one of them must be remote:path")
        }
    };
    finish(&ctx, &report)
}

fn finish(ctx: &Ctx, report: &ops::sync::Report) -> Result<ExitCode> {
    ctx.stats.finish();
    eprintln!("{}", ctx.stats.summary(ctx.remote.drive.pacer().retries()));
    if report.failures.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let first = &report.failures[0];
    bail!(
        "{} file(s) failed; first: {}: {}",
        report.failures.len(),
        first.0,
        first.1
    )
}

async fn copyto(
    session: &Session,
    g: &Global,
    pair: Pair,
    remove_source: bool,
) -> Result<ExitCode> {
    let src = paths::parse(&pair.src)?;
    let dst = paths::parse(&pair.dst)?;
    match (src, dst) {
        (Location::Local(src), Location::Remote(dst)) => {
            let meta = std::fs::metadata(&src)
                .with_context(|| format!("{} (local file; check the path)", src.display()))?;
            if meta.is_dir() {
                return transfer(
                    session,
                    g,
                    pair,
                    if remove_source {
                        Mode::Move
                    } else {
                        Mode::Copy
                    },
                )
                .await;
            }
            let ctx = ctx(session, g, &dst).await?;
            let (parent, name) = dst
                .split_last()
                .ok_or_else(|| anyhow!("give the destination file name: {}:name", dst.remote))?;
            let existing = ctx.remote.dirs.find(&dst).await?;
            if let Some(node) = &existing
                && node.size() == meta.len()
                && (g.size_only || node.md5() == Some(ops::sync::local_md5(&src).await?.as_str()))
            {
                Stats::bump(&ctx.stats.checks);
            } else if !g.dry_run {
                let parent_id = ctx.remote.dirs.mkdir_all(&parent).await?;
                let uploader = acd_client::transfer::upload::Uploader {
                    drive: ctx.remote.drive.clone(),
                    slots: Arc::new(tokio::sync::Semaphore::new(1)),
                    wait_per_gb: ctx.remote.config.upload_wait_per_gb,
                    poll: ctx.options.phantom_poll,
                    stats: ctx.stats.clone(),
                };
                ctx.stats.expect(meta.len());
                let source = acd_client::transfer::upload::Source {
                    path: &src,
                    size: meta.len(),
                };
                uploader
                    .upload(&parent_id, &ctx.remote.dirs.encode(name), source, existing)
                    .await?;
                Stats::bump(&ctx.stats.files);
            }
            if remove_source && !g.dry_run {
                std::fs::remove_file(&src).with_context(|| format!("remove {}", src.display()))?;
            }
            finish(&ctx, &Default::default())
        }
        (Location::Remote(src), Location::Local(dst)) => {
            let ctx = ctx(session, g, &src).await?;
            let node = ops::manage::require(&ctx.remote, &src).await?;
            if node.is_folder() {
                return transfer(
                    session,
                    g,
                    pair,
                    if remove_source {
                        Mode::Move
                    } else {
                        Mode::Copy
                    },
                )
                .await;
            }
            let downloader = Downloader {
                drive: ctx.remote.drive.clone(),
                templink_threshold: ctx.remote.config.templink_threshold,
                stats: ctx.stats.clone(),
            };
            ops::sync::download_one(&ctx, &downloader, &node, &dst).await?;
            if remove_source && !g.dry_run {
                ctx.remote.drive.trash(&node.id).await?;
            }
            finish(&ctx, &Default::default())
        }
        (Location::Remote(src), Location::Remote(dst))
            if remove_source && src.remote == dst.remote =>
        {
            let remote = open(session, &src).await?;
            if !g.dry_run {
                ops::manage::move_to(&remote, &src, &dst).await?;
            }
            Ok(ExitCode::SUCCESS)
        }
        (Location::Remote(_), Location::Remote(_)) => {
            bail!("copying between remote paths is not supported: the API has no server-side copy")
        }
        (Location::Local(_), Location::Local(_)) => {
            bail!("both paths are local; one of them must be remote:path")
        }
    }
}

async fn delete(session: &Session, g: &Global, path: &str) -> Result<ExitCode> {
    let path = paths::parse_remote(path)?;
    let ctx = ctx(session, g, &path).await?;
    let node = ops::manage::require(&ctx.remote, &path).await?;
    let files = if node.is_folder() {
        walk_remote(&ctx.remote, &node.id, 0, ctx.options.checkers)
            .await?
            .into_iter()
            .filter(|e| e.node.is_file())
            .collect()
    } else {
        vec![acd_client::ops::list::RemoteEntry {
            path: path.path(),
            node,
        }]
    };
    for entry in files {
        if g.dry_run {
            tracing::warn!("{}: not deleting (dry run)", entry.path);
            continue;
        }
        ctx.remote.drive.trash(&entry.node.id).await?;
        Stats::bump(&ctx.stats.deletes);
    }
    Ok(ExitCode::SUCCESS)
}

async fn check(session: &Session, g: &Global, pair: Pair) -> Result<ExitCode> {
    let (local, remote) = match (paths::parse(&pair.src)?, paths::parse(&pair.dst)?) {
        (Location::Local(l), Location::Remote(r)) | (Location::Remote(r), Location::Local(l)) => {
            (l, r)
        }
        _ => bail!("check compares a local folder with a remote folder; give one of each"),
    };
    let ctx = ctx(session, g, &remote).await?;
    let (diffs, matched) = ops::sync::check(&ctx, &local, &remote).await?;
    for d in &diffs {
        match d {
            Difference::MissingOnRemote(p) => eprintln!("ERROR : {p}: file not in {remote}"),
            Difference::MissingLocally(p) => {
                eprintln!("ERROR : {p}: file not in {}", local.display())
            }
            Difference::Size(p) => eprintln!("ERROR : {p}: sizes differ"),
            Difference::Hash(p) => eprintln!("ERROR : {p}: md5 differ"),
        }
    }
    eprintln!("NOTICE: {} differences found", diffs.len());
    eprintln!("NOTICE: {matched} matching files");
    if diffs.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        bail!("{} differences found", diffs.len())
    }
}

async fn cat(
    session: &Session,
    g: &Global,
    path: &str,
    offset: u64,
    count: i64,
) -> Result<ExitCode> {
    let path = paths::parse_remote(path)?;
    let ctx = ctx(session, g, &path).await?;
    let node = ops::manage::require(&ctx.remote, &path).await?;
    if node.is_folder() {
        bail!("{path} is a folder; cat prints files");
    }
    let count = u64::try_from(count).ok();
    let Some((offset, end)) =
        acd_client::transfer::download::byte_range(offset, count, node.size())
    else {
        return Ok(ExitCode::SUCCESS);
    };
    let downloader = Downloader {
        drive: ctx.remote.drive.clone(),
        templink_threshold: ctx.remote.config.templink_threshold,
        stats: ctx.stats.clone(),
    };
    let mut response = downloader.open(&node, offset, end).await?;
    let whole = offset == 0 && end.is_none();
    let mut hasher = <md5::Md5 as md5::Digest>::new();
    let mut stdout = std::io::stdout().lock();
    while let Some(chunk) = response
        .chunk()
        .await
        .context("the download was cut; run the command again")?
    {
        if whole {
            md5::Digest::update(&mut hasher, &chunk);
        }
        stdout.write_all(&chunk).context("write to stdout")?;
    }
    stdout.flush().context("write to stdout")?;
    if whole && let Some(expected) = node.md5() {
        let got = acd_client::transfer::hex_md5(hasher);
        if got != expected {
            bail!("{path}: corrupted on transfer: md5 {got}, the service says {expected}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn mount(session: &Session, g: &Global, args: MountArgs) -> Result<ExitCode> {
    let path = paths::parse_remote(&args.path)?;
    acd_client::mount::preflight(&args.mountpoint)?;
    let Some(cache_dir) = session.cache_dir.clone() else {
        bail!(
            "acd mount needs a cache directory for its metadata cache and write spools; give --cache-dir"
        );
    };
    let remote = Arc::new(open(session, &path).await?);
    let root = ops::manage::require(&remote, &path).await?;
    if !root.is_folder() {
        bail!("{path} is a file; mount a folder");
    }
    let options = acd_client::mount::MountOptions {
        root_id: root.id.clone(),
        source: args.path.clone(),
        mountpoint: args.mountpoint.clone(),
        read_only: args.read_only,
        allow_other: args.allow_other,
        spool_dir: cache_dir.join("mount-spool"),
        poll_interval: args.poll_interval,
        buffer_size: args.buffer_size,
        dir_cache_time: args.dir_cache_time,
        transfers: usize::from(g.transfers.max(1)),
        phantom_poll: g.phantom_poll,
    };
    acd_client::mount::run(remote, options).await?;
    Ok(ExitCode::SUCCESS)
}

async fn about(session: &Session, g: &Global, remote: &str) -> Result<ExitCode> {
    let path = paths::parse_remote(remote)?;
    let remote = open(session, &path).await?;
    let quota = remote.drive.quota().await?;
    let usage = remote.drive.usage().await?;
    let used = usage.total();
    let mut out = std::io::stdout().lock();
    if g.json {
        let value = serde_json::json!({
            "total": quota.quota,
            "used": quota.quota.saturating_sub(quota.available),
            "free": quota.available,
            "objects": used.count,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
    } else {
        writeln!(out, "Total:   {}", output::size_suffix(quota.quota))?;
        writeln!(
            out,
            "Used:    {}",
            output::size_suffix(quota.quota.saturating_sub(quota.available))
        )?;
        writeln!(out, "Free:    {}", output::size_suffix(quota.available))?;
        writeln!(out, "Objects: {}", used.count)?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn trash(session: &Session, g: &Global, command: TrashCommand) -> Result<ExitCode> {
    match command {
        TrashCommand::List { remote } => {
            let path = paths::parse_remote(&remote)?;
            let remote = open(session, &path).await?;
            let nodes = remote.drive.trash_list().await?;
            let mut out = std::io::stdout().lock();
            if g.json {
                writeln!(out, "{}", serde_json::to_string_pretty(&nodes)?)?;
            } else {
                for n in nodes {
                    writeln!(
                        out,
                        "{} {:>9} {:<6} {}",
                        n.id,
                        n.size(),
                        n.kind,
                        remote.dirs.decode(n.name())
                    )?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        TrashCommand::Restore { remote, ids } => {
            // Ids may start with `-`, so everything after the remote is an id: a flag there is a
            // mistake. Check them all before restoring any.
            for id in &ids {
                if id.starts_with("--") {
                    bail!(
                        "{id:?} is not a node id; put flags before `trash restore` (everything after the remote is taken as an id)"
                    );
                }
                ops::manage::validate_id(id)?;
            }
            let path = paths::parse_remote(&remote)?;
            let remote = open(session, &path).await?;
            for id in &ids {
                let node = remote.drive.restore(id).await.with_context(|| {
                    format!("cannot restore {id}; `acd trash list` shows what the trash holds")
                })?;
                eprintln!("restored {} ({})", remote.dirs.decode(node.name()), node.id);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The remotes a `cache` command is about: the one given, or every remote of the config.
fn cache_remotes(session: &Session, remote: Option<&str>) -> Result<Vec<RemotePath>> {
    match remote {
        Some(r) => Ok(vec![paths::parse_remote(r)?]),
        None => Ok(config::ConfigFile::load(&session.config_path)?
            .remotes()
            .into_iter()
            .map(|name| RemotePath {
                remote: name,
                parts: Vec::new(),
            })
            .collect()),
    }
}

fn print_cache_info(
    out: &mut impl std::io::Write,
    g: &Global,
    remote: &str,
    info: &acd_client::cache::Info,
) -> Result<()> {
    let last_sync = info
        .last_sync_ms
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.to_rfc3339());
    if g.json {
        let value = serde_json::json!({
            "remote": remote,
            "path": info.path,
            "account": info.account,
            "nodes": info.nodes,
            "checkpoint": info.checkpoint,
            "lastSync": last_sync,
            "sizeOnDisk": info.size_on_disk,
        });
        writeln!(out, "{value}")?;
    } else {
        writeln!(out, "{remote}:")?;
        writeln!(out, "  Cache file:   {}", info.path.display())?;
        writeln!(out, "  Account:      {}", info.account)?;
        writeln!(out, "  Nodes:        {}", info.nodes)?;
        writeln!(
            out,
            "  Checkpoint:   {}",
            info.checkpoint.as_deref().unwrap_or("none (never synced)")
        )?;
        writeln!(
            out,
            "  Last sync:    {}",
            last_sync.as_deref().unwrap_or("never")
        )?;
        writeln!(
            out,
            "  Size on disk: {}",
            output::size_suffix(info.size_on_disk)
        )?;
    }
    Ok(())
}

async fn cache(session: &Session, g: &Global, command: CacheCommand) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match command {
        CacheCommand::Sync { remote } => {
            for path in cache_remotes(session, remote.as_deref())? {
                let remote = open(session, &path).await?;
                let Some(cache) = &remote.cache else {
                    bail!(
                        "{}: no usable metadata cache (see the warning above; set --cache-dir or ACD_CACHE_DIR to a writable folder)",
                        path.remote
                    );
                };
                let stats = acd_client::cache::sync::sync(&remote.drive, cache, true).await?;
                eprintln!(
                    "{}: {} node changes applied from the changes feed",
                    path.remote, stats.nodes
                );
                print_cache_info(&mut out, g, &path.remote, &cache.info()?)?;
            }
        }
        CacheCommand::Info { remote: Some(r) } => {
            let path = paths::parse_remote(&r)?;
            let remote = open(session, &path).await?;
            let Some(cache) = &remote.cache else {
                bail!(
                    "{}: no usable metadata cache (see the warning above)",
                    path.remote
                );
            };
            print_cache_info(&mut out, g, &path.remote, &cache.info()?)?;
        }
        CacheCommand::Info { remote: None } => {
            let Some(dir) = session
                .cache_dir
                .as_deref()
                .map(acd_client::cache::metadata_dir)
            else {
                bail!("no cache directory; give one with --cache-dir");
            };
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e.flatten().collect::<Vec<_>>(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(e).with_context(|| format!("list {}", dir.display())),
            };
            let mut files: Vec<_> = entries
                .into_iter()
                .filter(|e| e.path().extension().is_some_and(|x| x == "sqlite"))
                .collect();
            files.sort_by_key(|e| e.path());
            for entry in &files {
                let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                writeln!(
                    out,
                    "{} {}",
                    output::size_suffix(size),
                    entry.path().display()
                )?;
            }
            if files.is_empty() {
                eprintln!("no metadata caches in {}", dir.display());
            }
        }
        CacheCommand::Clear { remote: Some(r) } => {
            let path = paths::parse_remote(&r)?;
            if !session.config_path.exists() {
                return open(session, &path).await.map(|_| ExitCode::SUCCESS);
            }
            match session.clear_cache(&path.remote).await? {
                Some(file) => eprintln!("removed {}", file.display()),
                None => eprintln!("{}: no metadata cache to remove", path.remote),
            }
        }
        CacheCommand::Clear { remote: None } => {
            let Some(dir) = session
                .cache_dir
                .as_deref()
                .map(acd_client::cache::metadata_dir)
            else {
                bail!("no cache directory; give one with --cache-dir");
            };
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => eprintln!("removed {}", dir.display()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    eprintln!("no metadata caches in {}", dir.display())
                }
                Err(e) => return Err(e).with_context(|| format!("remove {}", dir.display())),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Overrides as a map (for `config create`).
pub fn pairs(items: &[String]) -> Result<BTreeMap<String, String>> {
    items
        .iter()
        .map(|item| {
            item.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .ok_or_else(|| anyhow!("{item:?} is not key=value"))
        })
        .collect()
}
