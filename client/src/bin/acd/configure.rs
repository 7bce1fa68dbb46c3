//! `acd config` and `acd authorize`: creating remotes and signing in.

use std::collections::BTreeMap;
use std::io::{BufRead as _, Write as _};
use std::process::ExitCode;

use anyhow::{Context as _, Result, anyhow, bail};

use acd_client::auth::Token;
use acd_client::auth::oauth::{self, OAuthSettings};
use acd_client::auth::webserver::RedirectServer;
use acd_client::config::{self, BACKEND_TYPE, ConfigFile, OPTION_NAMES, RemoteConfig};
use acd_client::remote::Session;

use crate::cli::{AuthorizeArgs, ConfigCommand, Global};

const BROWSER_QUESTION: &str = "Use a web browser to sign in automatically?
 * Say Y if the machine running acd has a web browser you can use (a window opens,
   you sign in to Amazon, and acd receives the token on 127.0.0.1:53682).
 * Say N if this machine has no browser (a server over SSH): you will run
   `acd authorize` on a computer that has one and paste what it prints here.
If not sure, try Y; if Y fails, try N.";

/// Run `acd config [...]`.
pub(crate) async fn config(
    session: &Session,
    g: &Global,
    action: Option<ConfigCommand>,
) -> Result<ExitCode> {
    match action {
        None => interactive(session, g).await,
        Some(ConfigCommand::File) => {
            println!("{}", session.config_path.display());
            Ok(ExitCode::SUCCESS)
        }
        Some(ConfigCommand::Show { name }) => show(session, name.as_deref()),
        Some(ConfigCommand::Delete { name }) => {
            let mut file = ConfigFile::load(&session.config_path)?;
            if file.section(&name).is_none() {
                bail!("no remote {name:?} in {}", session.config_path.display());
            }
            file.delete(&name);
            file.save()?;
            Ok(ExitCode::SUCCESS)
        }
        Some(ConfigCommand::Create { name, pairs }) => {
            let pairs = crate::pairs(&pairs)?;
            create(session, &name, &pairs)?;
            eprintln!("remote {name:?} saved in {}", session.config_path.display());
            if !pairs.contains_key("token") {
                eprintln!(
                    "it has no token yet: run `acd config reconnect {name}` (or paste one with token=...)"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(ConfigCommand::Reconnect { name, auth }) => {
            let remote = session.remote_config(&name)?;
            let token = browser_flow(session, &OAuthSettings::from_remote(&remote), &auth).await?;
            save_token(session, &name, &token)?;
            eprintln!("remote {name:?} is signed in");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Validate and write a remote section.
fn create(session: &Session, name: &str, pairs: &BTreeMap<String, String>) -> Result<()> {
    if name.is_empty() || name.contains([':', '/', '[', ']']) {
        bail!("{name:?} cannot be a remote name: use letters, digits, - and _");
    }
    for key in pairs.keys() {
        if !OPTION_NAMES.contains(&key.as_str()) && key != "type" {
            bail!(
                "unknown option {key:?}; the options are: {}",
                OPTION_NAMES.join(", ")
            );
        }
    }
    let mut section = pairs.clone();
    section.insert("type".into(), BACKEND_TYPE.into());
    RemoteConfig::from_section(name, &section, &BTreeMap::new())?;
    let mut file = ConfigFile::load(&session.config_path)?;
    file.set(name, "type", BACKEND_TYPE);
    for (k, v) in pairs {
        if k != "type" {
            file.set(name, k, v);
        }
    }
    file.save()?;
    Ok(())
}

fn save_token(session: &Session, name: &str, token: &Token) -> Result<()> {
    let mut file = ConfigFile::load(&session.config_path)?;
    file.set(name, "token", &token.to_json());
    file.save()?;
    Ok(())
}

fn show(session: &Session, only: Option<&str>) -> Result<ExitCode> {
    let file = ConfigFile::load(&session.config_path)?;
    let names = file.remotes();
    if names.is_empty() {
        eprintln!(
            "{} has no remotes; create one with `acd config`",
            session.config_path.display()
        );
    }
    for name in names
        .iter()
        .filter(|n| only.is_none_or(|o| o == n.as_str()))
    {
        println!("[{name}]");
        for (k, v) in file.section(name).unwrap_or_default() {
            let shown = if k == "client_secret" || k == "token" {
                "<hidden>".to_string()
            } else {
                v
            };
            println!("{k} = {shown}");
        }
        println!();
    }
    Ok(ExitCode::SUCCESS)
}

fn ask(question: &str, default: Option<&str>) -> Result<String> {
    let mut err = std::io::stderr();
    match default {
        Some(d) if !d.is_empty() => write!(err, "{question} [{d}]> ")?,
        _ => write!(err, "{question}> ")?,
    }
    err.flush()?;
    let mut line = String::new();
    let n = std::io::stdin().lock().read_line(&mut line)?;
    if n == 0 {
        bail!("no answer (stdin closed); use `acd config create NAME key=value...` for scripts");
    }
    let answer = line.trim().to_string();
    Ok(if answer.is_empty() {
        default.unwrap_or_default().to_string()
    } else {
        answer
    })
}

fn yes(question: &str, default: bool) -> Result<bool> {
    loop {
        let answer = ask(
            &format!("{question}\ny/n"),
            Some(if default { "y" } else { "n" }),
        )?;
        match answer.to_ascii_lowercase().as_str() {
            "y" | "yes" => return Ok(true),
            "n" | "no" => return Ok(false),
            _ => eprintln!("please answer y or n"),
        }
    }
}

async fn interactive(session: &Session, _g: &Global) -> Result<ExitCode> {
    eprintln!("Creating a remote in {}", session.config_path.display());
    let name = ask("name (e.g. acd)", Some("acd"))?;
    let mut pairs = BTreeMap::new();
    pairs.insert(
        "client_id".to_string(),
        ask(
            "client_id (your app's Login with Amazon security profile)",
            None,
        )?,
    );
    pairs.insert("client_secret".to_string(), ask("client_secret", None)?);
    if yes(
        "Edit advanced settings (auth_url, token_url, endpoint_url for a local acd-mock)?",
        false,
    )? {
        for key in ["auth_url", "token_url", "endpoint_url"] {
            let default = match key {
                "auth_url" => config::DEFAULT_AUTH_URL,
                "token_url" => config::DEFAULT_TOKEN_URL,
                _ => config::DEFAULT_ENDPOINT_URL,
            };
            let v = ask(key, Some(default))?;
            if v != default {
                pairs.insert(key.to_string(), v);
            }
        }
    }
    pairs.retain(|_, v| !v.is_empty());
    create(session, &name, &pairs)?;
    let remote = session.remote_config(&name)?;
    let settings = OAuthSettings::from_remote(&remote);
    let token = if yes(BROWSER_QUESTION, true)? {
        let args = AuthorizeArgs {
            auth_no_open_browser: false,
            auth_addr: acd_client::auth::webserver::DEFAULT_ADDR.parse()?,
            auth_timeout: std::time::Duration::from_secs(600),
        };
        browser_flow(session, &settings, &args).await?
    } else {
        eprintln!("On a computer with a browser, run:\n");
        eprintln!(
            "    acd authorize --client-id '{}' --client-secret '<your secret>'{}{}\n",
            settings.client_id,
            if remote.auth_url != config::DEFAULT_AUTH_URL {
                format!(" --auth-url '{}'", remote.auth_url)
            } else {
                String::new()
            },
            if remote.token_url != config::DEFAULT_TOKEN_URL {
                format!(" --token-url '{}'", remote.token_url)
            } else {
                String::new()
            }
        );
        eprintln!("then paste the token it prints (the line between the arrows) here.");
        let pasted = ask("token", None)?;
        Token::from_json(pasted.trim())
            .map_err(|e| anyhow!("that is not the token acd authorize prints: {e}"))?
    };
    save_token(session, &name, &token)?;
    eprintln!("remote {name:?} saved; try `acd lsd {name}:`");
    Ok(ExitCode::SUCCESS)
}

/// `acd authorize`: settings from flags (or the environment).
pub(crate) async fn authorize(
    session: &Session,
    g: &Global,
    args: &AuthorizeArgs,
) -> Result<ExitCode> {
    let get = |key: &str| session.overrides.get(key).cloned();
    let client_id = get("client_id").or_else(|| g.client_id.clone()).ok_or_else(|| {
        anyhow!("give the app's --client-id and --client-secret (the same as on the headless machine)")
    })?;
    let settings = OAuthSettings {
        remote: "authorize".into(),
        client_id,
        client_secret: get("client_secret").unwrap_or_default().into(),
        auth_url: get("auth_url").unwrap_or_else(|| config::DEFAULT_AUTH_URL.into()),
        token_url: get("token_url").unwrap_or_else(|| config::DEFAULT_TOKEN_URL.into()),
    };
    let token = browser_flow(session, &settings, args).await?;
    println!("Paste the following into your remote machine --->");
    println!("{}", token.to_json());
    println!("<---End paste");
    Ok(ExitCode::SUCCESS)
}

/// rclone's local-webserver flow: listen, open the browser, wait for the code, exchange it.
async fn browser_flow(
    session: &Session,
    settings: &OAuthSettings,
    args: &AuthorizeArgs,
) -> Result<Token> {
    let state = oauth::new_state();
    // The redirect URI names the port, and the authorization URL names the redirect URI, so a
    // port of 0 (any free port) is resolved first. A plain std listener closes as soon as it is
    // dropped; a `RedirectServer` closes its socket later, in its task, so binding one as a probe
    // and then the real one on the same port fails with "Address already in use".
    let addr = if args.auth_addr.port() == 0 {
        std::net::TcpListener::bind(args.auth_addr)
            .and_then(|probe| probe.local_addr())
            .with_context(|| {
                format!(
                    "could not find a free port on {} for the OAuth redirect; give one with --auth-addr",
                    args.auth_addr.ip()
                )
            })?
    } else {
        args.auth_addr
    };
    let redirect_uri = url::Url::parse(&format!("http://{addr}/")).context("redirect URI")?;
    let auth_url = oauth::authorize_url(settings, &state, redirect_uri.as_str())?;
    let server = RedirectServer::start(addr, state, auth_url).await?;
    debug_assert_eq!(server.redirect_uri(), redirect_uri);
    let start = server.start_url();
    eprintln!("If your browser does not open, go to this link:\n{start}");
    eprintln!(
        "Make sure the app's allowed return URL is {}",
        server.redirect_uri()
    );
    if !args.auth_no_open_browser
        && let Err(e) = webbrowser::open(start.as_str())
    {
        eprintln!("could not open a browser ({e}); open the link yourself");
    }
    eprintln!("Waiting for the sign-in...");
    let code = tokio::time::timeout(args.auth_timeout, server.wait_for_code())
        .await
        .map_err(|_| {
            anyhow!(
                "no sign-in within {}; run the command again",
                humantime::format_duration(args.auth_timeout)
            )
        })??;
    let token = oauth::exchange_code(settings, &session.http, &code, redirect_uri.as_str()).await?;
    eprintln!("Signed in.");
    Ok(token)
}
