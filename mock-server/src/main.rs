//! `acd-mock`: run the emulated Amazon Drive service.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use acd_mock::{MockConfig, NameMatch};
use clap::Parser;

/// A faithful, fault-injecting mock of the Amazon Drive REST API v1.
///
/// Serves the metadata API under /drive/v1/, the content API under /cdproxy/, OAuth at
/// /ap/oa and /auth/o2/token, and its own admin API under /_mock/.
#[derive(Debug, Parser)]
#[command(name = "acd-mock", version)]
struct Cli {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "ACD_MOCK_LISTEN", default_value = "127.0.0.1:8780")]
    listen: SocketAddr,
    /// Keep metadata and blobs here across restarts (default: in memory and a temporary directory).
    #[arg(long, env = "ACD_MOCK_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Base URL advertised to clients (default: http://<listen address>).
    #[arg(long, env = "ACD_MOCK_PUBLIC_URL")]
    public_url: Option<String>,
    /// Default listing page size.
    #[arg(long, env = "ACD_MOCK_PAGE_SIZE", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    page_size: u32,
    /// Access token lifetime, e.g. 1h, 90s.
    #[arg(long, env = "ACD_MOCK_TOKEN_LIFETIME", default_value = "1h", value_parser = parse_lifetime)]
    token_lifetime: std::time::Duration,
    /// How long trashed nodes stay in the trash before they are purged, e.g. 30d, 1h.
    #[arg(long, env = "ACD_MOCK_TRASH_RETENTION", default_value = "30d", value_parser = parse_lifetime)]
    trash_retention: std::time::Duration,
    /// Quota of each account, e.g. 5GiB, 100MB.
    #[arg(long, env = "ACD_MOCK_QUOTA", default_value = "5GiB", value_parser = parse_quota)]
    quota: u64,
    /// Accept only this OAuth client, as ID:SECRET (repeatable; default: accept any client).
    #[arg(long = "client", env = "ACD_MOCK_CLIENT", value_delimiter = ',', value_parser = parse_client)]
    clients: Vec<(String, String)>,
    /// Allowed return URL of the sign-in page (repeatable; default: any http(s) URL).
    #[arg(
        long = "redirect-uri",
        env = "ACD_MOCK_REDIRECT_URI",
        value_delimiter = ','
    )]
    redirect_uris: Vec<String>,
    /// The default account's email.
    #[arg(long, env = "ACD_MOCK_EMAIL", default_value = "user@example.com")]
    email: String,
    /// The default account's password.
    #[arg(long, env = "ACD_MOCK_PASSWORD", default_value = "password")]
    password: String,
    /// Make `name:` filters ignore case (the service matched them exactly).
    #[arg(long, env = "ACD_MOCK_CASE_INSENSITIVE_LOOKUPS")]
    case_insensitive_lookups: bool,
    /// Also be an HTTPS proxy (CONNECT) for the service's hosts, serving the API inside TLS
    /// tunnels, for clients that hard-code drive.amazonaws.com (use with HTTPS_PROXY).
    #[arg(long, env = "ACD_MOCK_INTERCEPT")]
    intercept: bool,
    /// Where to write the interception CA certificate (PEM; key in FILE.key). Default:
    /// <data-dir>/ca.pem, else a temporary file. Reused across restarts.
    #[arg(long, env = "ACD_MOCK_CA_OUT")]
    ca_out: Option<PathBuf>,
    /// Fault profile (none, realistic, chaos) or a TOML file of rules and switches.
    #[arg(long, env = "ACD_MOCK_FAULTS", default_value = "none")]
    faults: String,
    /// Seed of every random choice the fault layer makes (same seed + same requests = same faults).
    #[arg(long, env = "ACD_MOCK_SEED")]
    seed: Option<u64>,
    /// Require this token for the admin API (/_mock/*) and the dashboard (/_mock/ui):
    /// `Authorization: Bearer TOKEN`, or the dashboard's login form. Required to listen on
    /// anything but a loopback address.
    #[arg(long, env = "ACD_MOCK_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Log level or filter (error, warn, info, debug, trace, or a tracing filter).
    #[arg(long, env = "ACD_MOCK_LOG_LEVEL", default_value = "info")]
    log_level: String,
}

fn parse_client(text: &str) -> Result<(String, String), String> {
    match text.split_once(':') {
        Some((id, secret)) if !id.is_empty() => Ok((id.to_string(), secret.to_string())),
        _ => Err("expected ID:SECRET".to_string()),
    }
}

/// A token lifetime: a humantime duration whose expiry time fits the store's millisecond
/// timestamps (about 292 million years), so no expiry arithmetic can overflow.
fn parse_lifetime(text: &str) -> Result<std::time::Duration, String> {
    let lifetime = humantime::parse_duration(text).map_err(|e| format!("{e} (try 1h or 90s)"))?;
    if i64::try_from(lifetime.as_millis()).is_err() {
        return Err("too long (at most about 292 million years)".into());
    }
    Ok(lifetime)
}

/// A quota in bytes (`5GiB`, `100MB`). bytesize clamps sizes beyond 16 EiB to `u64::MAX`;
/// those are refused instead of silently becoming another number.
fn parse_quota(text: &str) -> Result<u64, String> {
    let size = text
        .trim()
        .parse::<bytesize::ByteSize>()
        .map_err(|e| format!("{e} (try 5GiB or 100MB)"))?;
    if size.as_u64() == u64::MAX {
        return Err("too large (at most 16 EiB)".into());
    }
    Ok(size.as_u64())
}

/// A bad flag value found after clap's parsing: one line on stderr, exit 2 as for clap's own
/// usage errors.
fn usage_error(message: impl std::fmt::Display) -> ExitCode {
    eprintln!(
        "acd-mock: error: {}",
        message.to_string().replace('\n', " ")
    );
    ExitCode::from(2)
}

/// A command line clap refused: one `acd-mock: error:` line (with clap's tips), exit 2; help
/// and version as clap prints them.
fn clap_error(e: clap::Error) -> ExitCode {
    if !e.use_stderr()
        || e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    {
        e.exit();
    }
    let rendered = e.render().to_string();
    let mut text = rendered
        .lines()
        .map(str::trim)
        .take_while(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .trim_start_matches("error: ")
        .to_string();
    for tip in rendered
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("tip:"))
    {
        text.push_str("; ");
        text.push_str(tip);
    }
    usage_error(format_args!("{text} (see acd-mock --help)"))
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_error(e),
    };
    // Flag values clap cannot check: a bad one is a usage error, before anything starts.
    let filter = match tracing_subscriber::EnvFilter::try_new(&cli.log_level) {
        Ok(filter) => filter,
        Err(e) => return usage_error(format_args!("invalid --log-level {:?}: {e}", cli.log_level)),
    };
    let faults = match acd_mock::faults::profiles::load(&cli.faults) {
        Ok(plan) => plan,
        Err(e) => return usage_error(e),
    };
    match run(cli, filter, faults) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("acd-mock: {error:#}");
            ExitCode::FAILURE
        }
    }
}

#[tokio::main]
async fn run(
    cli: Cli,
    filter: tracing_subscriber::EnvFilter,
    faults: acd_mock::faults::FaultPlan,
) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let config = MockConfig {
        listen: cli.listen,
        data_dir: cli.data_dir,
        public_url: cli.public_url,
        page_size: cli.page_size,
        token_lifetime: cli.token_lifetime,
        trash_retention: cli.trash_retention,
        quota: cli.quota,
        clients: cli.clients,
        redirect_uris: cli.redirect_uris,
        default_email: cli.email.clone(),
        default_password: cli.password.clone(),
        name_match: if cli.case_insensitive_lookups {
            NameMatch::CaseInsensitive
        } else {
            NameMatch::CaseSensitive
        },
        faults,
        seed: cli.seed,
        intercept: cli.intercept,
        ca_out: cli.ca_out,
        admin_token: cli.admin_token.map(acd_mock::ui::auth::AdminToken::new),
        ..MockConfig::default()
    };
    let (listener, state) = acd_mock::prepare(config).await?;
    let addr = listener.local_addr()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "acd-mock listening on http://{addr}")?;
    writeln!(out, "endpoint: {}account/endpoint", state.metadata_url())?;
    writeln!(out, "account: {} password: {}", cli.email, cli.password)?;
    if state.admin.required() {
        writeln!(
            out,
            "token: curl -s -X POST -H \"Authorization: Bearer $ACD_MOCK_ADMIN_TOKEN\" http://{addr}/_mock/tokens"
        )?;
        writeln!(
            out,
            "dashboard: http://{addr}/_mock/ui (sign in with the admin token)"
        )?;
    } else {
        writeln!(out, "token: curl -s -X POST http://{addr}/_mock/tokens")?;
        writeln!(out, "dashboard: http://{addr}/_mock/ui")?;
    }
    if cli.faults != "none" {
        writeln!(out, "faults: {} (seed {})", cli.faults, state.faults.seed())?;
    }
    if let Some(interceptor) = &state.interceptor {
        writeln!(
            out,
            "intercept: HTTPS_PROXY=http://{addr} with CA certificate {}",
            interceptor.ca_path().display()
        )?;
    }
    out.flush()?;
    drop(out);
    acd_mock::serve(listener, state, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
