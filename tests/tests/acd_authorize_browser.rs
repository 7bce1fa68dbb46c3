#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `acd authorize` with a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`, driven over WebDriver) opens the URL `acd authorize` prints, signs in to an
//! `acd-mock` process and allows; `acd` receives the code on its local port, exchanges it and
//! prints the token between rclone's paste markers. That token then works in a remote made with
//! `acd config create`.

use std::io::{BufRead as _, BufReader, Read as _};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use acd_e2e::process::{MockProcess, binary};
use fantoccini::{Client, ClientBuilder, Locator};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const STEP: Duration = Duration::from_secs(30);

/// A child process, killed on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts chromedriver on a free port and waits (up to a deadline) until it listens.
fn start_driver() -> (Killed, String) {
    assert!(
        Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists(),
        "headless Chromium is missing ({CHROMEDRIVER} or {CHROMIUM}): install the Debian packages \
         `chromium chromium-driver` (apt-get install chromium chromium-driver); .ci/run does"
    );
    let port = StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver (install the Debian packages `chromium chromium-driver`)");
    let child = Killed(child);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + STEP;
    while TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not start listening on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, format!("http://{addr}"))
}

async fn browser(driver_url: &str) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-quic", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync"],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(driver_url)
        .await
        .expect("open a WebDriver session with headless Chromium")
}

/// `acd` with a clean environment and a private HOME.
fn acd(acd: &Path, home: &Path) -> Command {
    let mut cmd = Command::new(acd);
    for (key, _) in std::env::vars() {
        if key.starts_with("ACD_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("http_proxy")
        .env_remove("https_proxy");
    cmd
}

fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run acd");
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn acd_authorize_signs_in_with_a_real_browser() {
    let (_driver, driver_url) = start_driver();
    let mock = MockProcess::start(&[]).unwrap();
    let acd_path = binary("acd-client", "acd").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let url = mock.url.clone();

    let mut child = acd(&acd_path, &home)
        .args([
            "authorize",
            "--client-id",
            "x",
            "--client-secret",
            "y",
            "--auth-url",
            &format!("{url}/ap/oa"),
            "--token-url",
            &format!("{url}/auth/o2/token"),
            "--auth-no-open-browser",
            "--auth-addr",
            "127.0.0.1:0",
            "--auth-timeout",
            "2m",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start acd authorize");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut child = Killed(child);

    // stderr line by line (the URL comes first), stdout whole (it is printed at the end).
    let (lines_tx, lines_rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let (out_tx, out_rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = BufReader::new(stdout).read_to_string(&mut text);
        let _ = out_tx.send(text);
    });

    let deadline = Instant::now() + STEP;
    let mut seen = Vec::new();
    let start_url = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines_rx.recv_timeout(left).unwrap_or_else(|_| {
            panic!("acd authorize printed no http://127.0.0.1:PORT/auth?state=... URL:\n{seen:#?}")
        });
        let trimmed = line.trim();
        if trimmed.starts_with("http://127.0.0.1:") && trimmed.contains("/auth?state=") {
            break trimmed.to_string();
        }
        seen.push(line);
    };
    assert!(
        !start_url.contains(":0/"),
        "the URL must name the bound port: {start_url}"
    );

    let client = browser(&driver_url).await;
    client.goto(&start_url).await.unwrap();
    // acd's local page sends the browser on to the mock's sign-in page.
    let email = client
        .wait()
        .at_most(STEP)
        .for_element(Locator::Id("email"))
        .await
        .expect("the mock's sign-in page");
    let landed = client.current_url().await.unwrap();
    assert!(
        landed.as_str().starts_with(&url),
        "on the mock's page: {landed}"
    );
    email.send_keys("user@example.com").await.unwrap();
    client
        .find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("password")
        .await
        .unwrap();
    client
        .find(Locator::Id("signInSubmit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let app = client
        .wait()
        .at_most(STEP)
        .for_element(Locator::Id("app-name"))
        .await
        .expect("the consent page")
        .text()
        .await
        .unwrap();
    assert_eq!(app, "x");
    client
        .find(Locator::Id("allow"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    // acd gets the code, exchanges it, prints the token and exits 0.
    let stdout = out_rx
        .recv_timeout(STEP)
        .expect("acd authorize did not finish after the browser allowed");
    let deadline = Instant::now() + STEP;
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "acd authorize did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    let rest: Vec<String> = lines_rx.try_iter().collect();
    assert!(
        status.success(),
        "acd authorize: {status}\n{rest:#?}\n{stdout}"
    );
    let page = client.source().await.unwrap_or_default();
    client.close().await.unwrap();

    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "stdout is the paste block only:\n{stdout}");
    assert_eq!(
        lines[0],
        "Paste the following into your remote machine --->"
    );
    assert_eq!(lines[2], "<---End paste");
    let token_json = lines[1];
    let token: serde_json::Value = serde_json::from_str(token_json).expect("token JSON");
    assert!(
        token["access_token"].as_str().unwrap().starts_with("Atza|"),
        "{token}"
    );
    assert!(
        token["refresh_token"]
            .as_str()
            .unwrap()
            .starts_with("Atzr|"),
        "{token}"
    );
    assert!(token["expiry"].is_string(), "{token}");
    assert!(
        !page.contains(token["access_token"].as_str().unwrap()),
        "the browser page must not show the token"
    );

    // The token works in a remote.
    let config = dir.path().join("acd.conf");
    ok(acd(&acd_path, &home).arg("--config").arg(&config).args([
        "config",
        "create",
        "r",
        &format!("endpoint_url={url}/drive/v1/account/endpoint"),
        &format!("token_url={url}/auth/o2/token"),
        "client_id=x",
        "client_secret=y",
        &format!("token={token_json}"),
    ]));
    ok(acd(&acd_path, &home)
        .arg("--config")
        .arg(&config)
        .args(["mkdir", "r:signed-in-with-a-browser"]));
    let listing = ok(acd(&acd_path, &home)
        .arg("--config")
        .arg(&config)
        .args(["lsd", "r:"]));
    assert!(
        listing
            .lines()
            .any(|l| l.ends_with(" signed-in-with-a-browser")),
        "{listing}"
    );
    let about = ok(acd(&acd_path, &home)
        .arg("--config")
        .arg(&config)
        .args(["about", "r:"]));
    assert!(about.contains("Objects:"), "{about}");
}
