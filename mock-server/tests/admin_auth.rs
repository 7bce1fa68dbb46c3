//! The admin-token rules over HTTP: without a token everything under `/_mock/` stays open on
//! loopback (every existing test relies on it); with one, `/_mock/*` and the dashboard need it
//! as a Bearer token or the dashboard's session cookie, and answer 401 in the API's error
//! shape otherwise; cookie-signed posts need the CSRF token; a non-loopback listen address is
//! refused without a token, by the library and by the binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;

use acd_mock::{MockServer, StartError};
use common::{assert_error_body, json_of};
use reqwest::header::{AUTHORIZATION, COOKIE, SET_COOKIE, WWW_AUTHENTICATE};
use reqwest::{Client, StatusCode};

const TOKEN: &str = "correct horse battery staple";

fn client() -> Client {
    Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The CSRF token a dashboard page carries in its forms.
fn csrf_of(page: &str) -> String {
    let re = regex::Regex::new(r#"name="csrf" value="([^"]+)""#).unwrap();
    re.captures(page)
        .unwrap_or_else(|| panic!("no CSRF field in {page}"))[1]
        .to_string()
}

#[tokio::test]
async fn without_a_token_the_admin_api_and_dashboard_are_open_on_loopback() {
    let server = MockServer::builder().start().await.unwrap();
    let http = client();
    let base = server.url();
    let health = http
        .get(format!("{base}/_mock/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let minted = http
        .post(format!("{base}/_mock/tokens"))
        .send()
        .await
        .unwrap();
    assert_eq!(minted.status(), StatusCode::OK);
    let page = http.get(format!("{base}/_mock/ui")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("<table id=\"requests\""));
    assert!(
        !html.contains("Sign out"),
        "no sign-out without a token to sign in with"
    );

    // Dashboard posts still need the CSRF token: another site's page could post to loopback.
    let clear = format!("{base}/_mock/ui/faults/clear");
    let forged = http
        .post(&clear)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let wrong = http
        .post(&clear)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("csrf=guess")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let faults = http
        .get(format!("{base}/_mock/ui/faults"))
        .send()
        .await
        .unwrap();
    let csrf = csrf_of(&faults.text().await.unwrap());
    let right = http
        .post(&clear)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}"))
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), StatusCode::SEE_OTHER);
    assert_eq!(right.headers()["location"], "/_mock/ui/faults");
}

#[tokio::test]
async fn with_a_token_everything_under_mock_needs_it() {
    let server = MockServer::builder()
        .admin_token(TOKEN)
        .start()
        .await
        .unwrap();
    let http = client();
    let base = server.url();
    for path in [
        "/_mock/health",
        "/_mock/journal",
        "/_mock/faults",
        "/_mock/accounts",
        "/_mock/no-such-route",
        "/_mock/events",
    ] {
        for auth in [None, Some("Bearer wrong"), Some("Basic Zm9vOmJhcg==")] {
            let mut request = http.get(format!("{base}{path}"));
            if let Some(auth) = auth {
                request = request.header(AUTHORIZATION, auth);
            }
            let response = request.send().await.unwrap();
            assert!(response.headers().contains_key(WWW_AUTHENTICATE));
            let (status, body) = json_of(response).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} with {auth:?}");
            assert_error_body(&body);
            assert!(
                body["message"].as_str().unwrap().contains("admin token"),
                "{body}"
            );
            assert!(!body.to_string().contains(TOKEN));
        }
    }
    for method in [reqwest::Method::POST, reqwest::Method::DELETE] {
        let response = http
            .request(method.clone(), format!("{base}/_mock/reset"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{method}");
    }

    // The right Bearer token opens the admin API: the typed admin calls work as before.
    let (status, token) = json_of(
        http.post(format!("{base}/_mock/tokens"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let access = token["access_token"].as_str().unwrap();
    let (status, _) = json_of(
        http.get(format!("{base}/_mock/health"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // The Amazon Drive API itself is untouched: its own tokens, no admin token.
    let endpoint = http
        .get(server.endpoint_url())
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(endpoint.status(), StatusCode::OK);
    let endpoint = http
        .get(server.endpoint_url())
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        endpoint.status(),
        StatusCode::UNAUTHORIZED,
        "the admin token is no API token"
    );
}

#[tokio::test]
async fn the_dashboard_signs_in_with_a_cookie_and_checks_csrf() {
    let server = MockServer::builder()
        .admin_token(TOKEN)
        .start()
        .await
        .unwrap();
    let http = client();
    let base = server.url();

    // A page without credentials is the login form, with a 401.
    let page = http
        .get(format!("{base}/_mock/ui/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::UNAUTHORIZED);
    let html = page.text().await.unwrap();
    assert!(html.contains("id=\"admin-token\""), "{html}");
    assert!(html.contains("value=\"/_mock/ui/faults\""), "{html}");
    // Its style sheet loads without credentials (it holds no data).
    let css = http
        .get(format!("{base}/_mock/ui/assets/style.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), StatusCode::OK);

    let login = format!("{base}/_mock/ui/login");
    let wrong = http
        .post(&login)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("token=nope&next=%2F_mock%2Fui%2Ffaults")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(!wrong.headers().contains_key(SET_COOKIE));
    assert!(wrong.text().await.unwrap().contains("login-error"));

    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("token", TOKEN)
        .append_pair("next", "/_mock/ui/faults")
        .finish();
    let ok = http
        .post(&login)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    assert_eq!(ok.headers()["location"], "/_mock/ui/faults");
    let set = ok.headers()[SET_COOKIE].to_str().unwrap().to_string();
    let flags: Vec<&str> = set.split("; ").collect();
    assert!(flags.contains(&"HttpOnly"), "{set}");
    assert!(flags.contains(&"SameSite=Strict"), "{set}");
    assert!(flags.contains(&"Path=/_mock"), "{set}");
    assert!(!set.contains(TOKEN), "the cookie is not the admin token");
    let cookie = flags[0].to_string();

    // Signed in: pages and the JSON API open with the cookie.
    let page = http
        .get(format!("{base}/_mock/ui/faults"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("Sign out"));
    let csrf = csrf_of(&html);
    let journal = http
        .get(format!("{base}/_mock/journal"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(journal.status(), StatusCode::OK);

    // A cookie-signed post of the JSON API needs the CSRF header.
    let reset = format!("{base}/_mock/reset");
    let forged = http
        .post(&reset)
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(forged).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_error_body(&body);
    let with_csrf = http
        .post(&reset)
        .header(COOKIE, &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(with_csrf.status(), StatusCode::OK);

    // A forged session cookie gets nothing.
    let forged = http
        .get(format!("{base}/_mock/journal"))
        .header(COOKIE, "acd_mock_admin=forged")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);

    // Signing out clears the cookie.
    let out = http
        .post(format!("{base}/_mock/ui/logout"))
        .header(COOKIE, &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(
        out.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
}

#[tokio::test]
async fn a_non_loopback_address_without_a_token_is_refused_at_start() {
    // Refused before binding anything (so this test listens nowhere).
    let everywhere: SocketAddr = "0.0.0.0:0".parse().unwrap();
    let error = MockServer::builder()
        .listen(everywhere)
        .start()
        .await
        .expect_err("refused");
    assert!(
        matches!(error, StartError::AdminTokenRequired { .. }),
        "{error}"
    );
    let message = error.to_string();
    assert!(message.contains("--admin-token"), "{message}");
    assert!(message.contains("ACD_MOCK_ADMIN_TOKEN"), "{message}");
    let empty = MockServer::builder()
        .admin_token("  ")
        .start()
        .await
        .expect_err("an empty token is refused");
    assert!(matches!(empty, StartError::EmptyAdminToken), "{empty}");
}

#[test]
fn the_binary_refuses_a_non_loopback_address_without_a_token() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_acd-mock"))
        .args(["--listen", "0.0.0.0:0"])
        .env_remove("ACD_MOCK_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--admin-token") && stderr.contains("ACD_MOCK_ADMIN_TOKEN"),
        "{stderr}"
    );
    // And --help lists the flag with its variable, without showing a value.
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_acd-mock"))
        .arg("--help")
        .env("ACD_MOCK_ADMIN_TOKEN", "do-not-print-me")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--admin-token"), "{help}");
    assert!(help.contains("ACD_MOCK_ADMIN_TOKEN"), "{help}");
    assert!(!help.contains("do-not-print-me"), "{help}");
}
