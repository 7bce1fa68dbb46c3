#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The sign-in pages in a real browser: headless Chromium driven over WebDriver (Debian's
//! `chromium` and `chromium-driver`, installed by `.ci/run`). A user signs in, sees the app and
//! its scopes, and allows; the browser lands on a local redirect target that receives the code;
//! the test exchanges it and uses the token. The deny path, a wrong password and an unknown
//! client id are checked too.

use std::net::{SocketAddr, TcpListener as StdListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use acd_mock::MockServer;
use axum::extract::RawQuery;
use fantoccini::{Client, ClientBuilder, Locator};
use tokio::sync::mpsc;

const CLIENT_ID: &str = "browser-test-app";
const CLIENT_SECRET: &str = "browser-test-secret";

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
        std::path::Path::new(path).exists() && std::path::Path::new("/usr/bin/chromium").exists(),
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

async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-quic", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync"],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("open a WebDriver session")
}

/// A local redirect target (like rclone's 127.0.0.1:53682) that hands each query it receives to
/// the test.
async fn redirect_target() -> (String, mpsc::UnboundedReceiver<Vec<(String, String)>>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move |RawQuery(query): RawQuery| {
            let tx = tx.clone();
            async move {
                let pairs = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                    .into_owned()
                    .collect();
                let _ = tx.send(pairs);
                axum::response::Html("<h1 id=\"done\">Success!</h1>")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/"), rx)
}

fn auth_url(server: &MockServer, client_id: &str, redirect: &str, state: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect)
        .append_pair("response_type", "code")
        .append_pair("scope", "clouddrive:read_all clouddrive:write")
        .append_pair("state", state)
        .append_pair("access_type", "offline")
        .finish();
    format!("{}/ap/oa?{query}", server.url())
}

fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

async fn sign_in(client: &Client, email: &str, password: &str) {
    client
        .find(Locator::Id("email"))
        .await
        .unwrap()
        .send_keys(email)
        .await
        .unwrap();
    client
        .find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    client
        .find(Locator::Id("signInSubmit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn next_redirect(
    rx: &mut mpsc::UnboundedReceiver<Vec<(String, String)>>,
) -> Vec<(String, String)> {
    tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("the browser never reached the redirect target")
        .expect("redirect target closed")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_signs_in_in_a_real_browser() {
    let driver = start_driver();
    let server = MockServer::builder()
        .client(CLIENT_ID, CLIENT_SECRET)
        .start()
        .await
        .unwrap();
    let (redirect, mut codes) = redirect_target().await;
    let client = browser(&driver).await;

    // Allow: the code arrives at the redirect target with the same state, and works once.
    client
        .goto(&auth_url(&server, CLIENT_ID, &redirect, "state-allow"))
        .await
        .unwrap();
    sign_in(&client, "user@example.com", "password").await;
    client
        .wait()
        .for_element(Locator::Id("allow"))
        .await
        .unwrap();
    let app = client
        .find(Locator::Id("app-name"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(app, CLIENT_ID);
    let scopes = client
        .find(Locator::Id("scopes"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        scopes.contains("clouddrive:read_all") && scopes.contains("clouddrive:write"),
        "{scopes}"
    );
    client
        .find(Locator::Id("allow"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let query = next_redirect(&mut codes).await;
    assert_eq!(param(&query, "state"), Some("state-allow"));
    let code = param(&query, "code").expect("a code").to_string();
    client
        .wait()
        .for_element(Locator::Id("done"))
        .await
        .unwrap();

    let http = reqwest::Client::new();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect.as_str()),
    ];
    let reply = http
        .post(server.token_url())
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status().as_u16(), 200);
    let token: serde_json::Value = reply.json().await.unwrap();
    let access = token["access_token"].as_str().unwrap();
    assert!(access.starts_with("Atza|"));
    assert!(
        token["refresh_token"]
            .as_str()
            .unwrap()
            .starts_with("Atzr|")
    );
    let endpoint = http
        .get(server.endpoint_url())
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(endpoint.status().as_u16(), 200);
    // A code works once.
    let again = http
        .post(server.token_url())
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 400);
    let body: serde_json::Value = again.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");

    // Deny: error=access_denied and the same state.
    client
        .goto(&auth_url(&server, CLIENT_ID, &redirect, "state-deny"))
        .await
        .unwrap();
    sign_in(&client, "user@example.com", "password").await;
    client
        .wait()
        .for_element(Locator::Id("deny"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let query = next_redirect(&mut codes).await;
    assert_eq!(param(&query, "error"), Some("access_denied"));
    assert_eq!(param(&query, "state"), Some("state-deny"));
    assert_eq!(param(&query, "code"), None);

    // A wrong password shows an error on the sign-in page and redirects nowhere.
    client
        .goto(&auth_url(&server, CLIENT_ID, &redirect, "state-wrong"))
        .await
        .unwrap();
    sign_in(&client, "user@example.com", "not-the-password").await;
    let error = client
        .wait()
        .for_element(Locator::Id("auth-error"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(error.contains("incorrect"), "{error}");
    assert!(client.find(Locator::Id("allow")).await.is_err());

    // An unknown client id gets an error page instead of a redirect.
    client
        .goto(&auth_url(&server, "someone-else", &redirect, "state-bad"))
        .await
        .unwrap();
    let error = client
        .find(Locator::Id("error-detail"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(error.contains("Unknown client_id"), "{error}");
    let url = client.current_url().await.unwrap();
    assert!(
        url.as_str().starts_with(server.url()),
        "stayed on the mock: {url}"
    );
    assert!(
        codes.try_recv().is_err(),
        "nothing may reach the redirect target"
    );

    client.close().await.unwrap();
}
