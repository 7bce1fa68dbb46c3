#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The dashboard in a real browser: headless Chromium driven over WebDriver (Debian's
//! `chromium` and `chromium-driver`, installed by `.ci/run`). Against a mock with an admin
//! token: sign in through the login form; requests made by a client appear on the Requests page
//! live (no reload); a rule added from the Faults page fires and its count updates live;
//! browsing the tree to a file downloads it; a node named `<img src=x onerror=alert(1)>` shows
//! as text; a token minted from the page works. A screenshot of each page is saved under
//! `target/dashboard-screenshots/` for a reviewer.

use std::net::{SocketAddr, TcpListener as StdListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use acd_mock::MockServer;
use acd_mock::admin_client::{SeedNode, SeedRequest};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

const ADMIN_TOKEN: &str = "browser-admin-token";
const EVIL: &str = "<img src=x onerror=alert(1)>";

/// A chromedriver process, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_driver() -> Driver {
    let path = "/usr/bin/chromedriver";
    assert!(
        Path::new(path).exists() && Path::new("/usr/bin/chromium").exists(),
        "headless Chromium is missing: install Debian's packages (apt-get install chromium chromium-driver); .ci/run does"
    );
    let port = StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not start listening on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver {
        child,
        url: format!("http://{addr}"),
    }
}

async fn browser(driver: &Driver, downloads: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-quic", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--window-size=1280,900"],
            "prefs": {
                "download.default_directory": downloads.to_string_lossy(),
                "download.prompt_for_download": false,
                "safebrowsing.enabled": false,
            },
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("open a WebDriver session")
}

fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("dashboard-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
}

/// The text of the first element matching `css`, if any.
async fn text_of(client: &Client, css: &str) -> Option<String> {
    match client.find(Locator::Css(css)).await {
        Ok(element) => element.text().await.ok(),
        Err(_) => None,
    }
}

/// Polls (with a deadline) until the element's text satisfies `want`.
async fn wait_text(client: &Client, css: &str, what: &str, want: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(text) = text_of(client, css).await
            && want(&text)
        {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what} ({css}: {:?})",
            text_of(client, css).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_works_in_a_real_browser() {
    let driver = start_driver();
    let server = MockServer::builder()
        .admin_token(ADMIN_TOKEN)
        .start()
        .await
        .unwrap();
    let base = server.url().to_string();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let access = server.mint_token(None).unwrap().access_token;
    let admin = acd_mock::admin::Client::new(base.clone())
        .unwrap()
        .with_token(Some(ADMIN_TOKEN.into()));
    let seeded = admin
        .seed(&SeedRequest::nodes(vec![SeedNode::folder(
            "docs",
            vec![
                SeedNode::text(EVIL, "markup in a name"),
                SeedNode::text("hello.txt", "hello from the mock\n"),
            ],
        )]))
        .await
        .unwrap();
    assert_eq!(seeded.len(), 3, "{seeded:?}");
    let downloads = tempfile::tempdir().unwrap();
    let client = browser(&driver, downloads.path()).await;

    // Sign in: the dashboard answers with its login form, the token opens it.
    client.goto(&format!("{base}/_mock/ui")).await.unwrap();
    client
        .wait()
        .for_element(Locator::Id("admin-token"))
        .await
        .unwrap();
    screenshot(&client, "login").await;
    client
        .find(Locator::Id("admin-token"))
        .await
        .unwrap()
        .send_keys(ADMIN_TOKEN)
        .await
        .unwrap();
    click(&client, "#sign-in").await;
    client
        .wait()
        .for_element(Locator::Id("requests"))
        .await
        .unwrap();

    // Requests made by a client appear live, newest first.
    wait_text(&client, "#live", "the event stream to open", |t| {
        t == "live"
    })
    .await;
    for path in ["account/endpoint", "account/quota"] {
        let reply = http
            .get(format!("{}{path}", server.metadata_url()))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status().as_u16(), 200);
    }
    let missing = http
        .get(format!("{}nodes/not-a-node", server.metadata_url()))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    wait_text(
        &client,
        "#requests tbody tr:first-child td.path",
        "the newest request to show up live",
        |t| t.contains("nodes/not-a-node"),
    )
    .await;
    let mut paths = Vec::new();
    for cell in client
        .find_all(Locator::Css("#requests tbody td.path"))
        .await
        .unwrap()
    {
        paths.push(cell.text().await.unwrap());
    }
    assert_eq!(paths.len(), 3, "only the client's requests: {paths:?}");
    for path in ["account/endpoint", "account/quota", "nodes/not-a-node"] {
        assert_eq!(
            paths.iter().filter(|p| p.ends_with(path)).count(),
            1,
            "{path} shows once: {paths:?}"
        );
    }
    let status = text_of(&client, "#requests tbody tr:first-child td:nth-child(8)").await;
    assert_eq!(status.as_deref(), Some("404"));
    let account = text_of(&client, "#requests tbody tr:first-child td:nth-child(6)").await;
    assert_eq!(
        account.as_deref(),
        Some("user@example.com"),
        "the live row names the account"
    );
    screenshot(&client, "requests").await;
    // A row opens the request's details.
    click(&client, "#requests tbody tr:first-child a.open").await;
    let detail = wait_text(&client, "#entry-json", "the request's details", |t| {
        t.contains("not-a-node")
    })
    .await;
    assert!(detail.contains("\"status\": 404"), "{detail}");
    assert!(!detail.contains(&access), "no token in the details");
    screenshot(&client, "request-detail").await;

    // Add a rule from the Faults page; a request fires it; the count updates live.
    click(&client, "#nav-faults").await;
    let text = client.find(Locator::Id("rule-text")).await.unwrap();
    text.send_keys(
        "id = \"browser-503\"\nscope = \"browser\"\nmatch = { operation = \"endpoint\" }\n\
         action = { kind = \"status\", status = 503 }\ntrigger = { first = 1 }",
    )
    .await
    .unwrap();
    click(&client, "#add-rule-submit").await;
    let fired_css = "#rules tr[data-rule=\"browser-503\"] td.fired";
    wait_text(&client, fired_css, "the new rule", |t| t == "0").await;
    wait_text(&client, "#live", "the event stream to open", |t| {
        t == "counts update live"
    })
    .await;
    let reply = http
        .get(server.endpoint_url())
        .bearer_auth(&access)
        .header("x-acd-mock-scope", "browser")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status().as_u16(), 503, "the rule fired");
    wait_text(&client, fired_css, "the fired count to update live", |t| {
        t == "1"
    })
    .await;
    screenshot(&client, "faults").await;

    // Accounts: browse to the folder; the markup name is text; download a file.
    click(&client, "#nav-accounts").await;
    client
        .wait()
        .for_element(Locator::Id("accounts"))
        .await
        .unwrap();
    screenshot(&client, "accounts").await;
    click(&client, "#accounts a[href$=\"/tree\"]").await;
    client
        .wait()
        .for_element(Locator::LinkText("docs"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(&client, "#crumbs", "the docs folder", |t| {
        t.contains("docs")
    })
    .await;
    let names: Vec<String> = {
        let mut names = Vec::new();
        for cell in client.find_all(Locator::Css("td.name")).await.unwrap() {
            names.push(cell.text().await.unwrap());
        }
        names
    };
    assert!(names.iter().any(|n| n == EVIL), "shown as text: {names:?}");
    assert!(
        client
            .find_all(Locator::Css("main img"))
            .await
            .unwrap()
            .is_empty(),
        "no image element was made from the name"
    );
    assert!(
        client.get_alert_text().await.is_err(),
        "no alert ran from the name"
    );
    screenshot(&client, "tree").await;

    let hello = client
        .find(Locator::XPath(
            "//tr[td[@class='name']/a[text()='hello.txt']]//a[@class='download']",
        ))
        .await
        .unwrap();
    hello.click().await.unwrap();
    let saved = downloads.path().join("hello.txt");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read(&saved).ok().as_deref() != Some(b"hello from the mock\n".as_slice()) {
        assert!(
            Instant::now() < deadline,
            "the download never completed: {:?}",
            std::fs::read_dir(downloads.path()).map(|d| d
                .filter_map(Result::ok)
                .map(|e| e.file_name())
                .collect::<Vec<_>>())
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The file's page shows its JSON (the name escaped in it too).
    client
        .find(Locator::LinkText(EVIL))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let node = wait_text(&client, "#node-json", "the node's JSON", |t| {
        t.contains("\"kind\": \"FILE\"")
    })
    .await;
    assert!(node.contains(EVIL), "{node}");
    screenshot(&client, "node").await;

    // Mint a token from the page: shown once, and it works.
    click(&client, "#nav-accounts").await;
    click(&client, "#accounts button[type=submit]").await;
    let minted = wait_text(&client, "#minted-token", "a minted token", |t| {
        t.starts_with("Atza|")
    })
    .await;
    screenshot(&client, "token").await;
    let works = http
        .get(server.endpoint_url())
        .bearer_auth(&minted)
        .send()
        .await
        .unwrap();
    assert_eq!(works.status().as_u16(), 200);

    client.close().await.unwrap();
}
