#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `--intercept`: CONNECT to the service's hosts is tunnelled into TLS with a certificate the
//! mock's CA signed, and the API answers inside; CONNECT anywhere else is 403; without
//! `--intercept`, CONNECT is 403 too.

use std::sync::Arc;

use acd_mock::MockServer;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// Sends `CONNECT authority` and returns the status code and the still-open stream.
async fn connect(server: &MockServer, authority: &str) -> (u16, BufReader<TcpStream>) {
    let addr = server.url().trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).await.unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
    }
    (status, reader)
}

fn tls_config(ca_pem: &str) -> Arc<ClientConfig> {
    use base64::Engine as _;
    let body: String = ca_pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from(der)).unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    Arc::new(
        ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

#[tokio::test]
async fn the_service_hosts_are_served_inside_a_verified_tls_tunnel() {
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.pem");
    let server = MockServer::builder()
        .intercept(true)
        .ca_out(&ca_path)
        .start()
        .await
        .unwrap();
    assert_eq!(server.ca_cert_path(), Some(ca_path.as_path()));
    let token = server.mint_token(None).unwrap();
    let config = tls_config(&std::fs::read_to_string(&ca_path).unwrap());

    for host in [
        "drive.amazonaws.com",
        "content-na.drive.amazonaws.com",
        "api.amazon.com",
    ] {
        let (status, stream) = connect(&server, &format!("{host}:443")).await;
        assert_eq!(status, 200, "CONNECT {host}");
        let name = ServerName::try_from(host.to_string()).unwrap();
        let mut tls = TlsConnector::from(config.clone())
            .connect(name, stream.into_inner())
            .await
            .unwrap_or_else(|e| panic!("TLS to {host} must verify against the mock's CA: {e}"));
        let request = format!(
            "GET /drive/v1/account/endpoint HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
            token.access_token
        );
        tls.write_all(request.as_bytes()).await.unwrap();
        let mut reply = String::new();
        tls.read_to_string(&mut reply).await.unwrap_or_default();
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
        assert!(
            reply.contains(&format!("\"metadataUrl\":\"{}/drive/v1/\"", server.url())),
            "discovery inside the tunnel must point at the mock: {reply}"
        );
    }

    // Requests inside the tunnel are journaled like any other.
    let endpoint_calls = server
        .state()
        .journal
        .entries(100, Some(acd_mock::operation::Operation::Endpoint));
    assert_eq!(endpoint_calls.len(), 3);
}

#[tokio::test]
async fn other_hosts_are_refused_so_the_mock_is_never_an_open_proxy() {
    let server = MockServer::builder().intercept(true).start().await.unwrap();
    for authority in [
        "example.com:443",
        "drive.amazonaws.com:80",
        "evil.drive.amazonaws.com.example.com:443",
        "127.0.0.1:22",
    ] {
        let (status, _) = connect(&server, authority).await;
        assert_eq!(status, 403, "CONNECT {authority}");
    }
}

#[tokio::test]
async fn without_intercept_connect_is_refused() {
    let server = MockServer::builder().start().await.unwrap();
    assert_eq!(server.ca_cert_path(), None);
    let (status, _) = connect(&server, "drive.amazonaws.com:443").await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn requests_inside_a_tunnel_pass_the_fault_layer() {
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.pem");
    let plan = acd_mock::faults::profiles::parse(
        "test",
        "[[rules]]\nid = \"tunnel-429\"\nmatch = { operation = \"endpoint\" }\n\
         action = { kind = \"error\", error = \"rate_exceeded_bare\" }\ntrigger = { first = 1 }\n",
    )
    .unwrap();
    let server = MockServer::builder()
        .intercept(true)
        .ca_out(&ca_path)
        .faults(plan)
        .start()
        .await
        .unwrap();
    let token = server.mint_token(None).unwrap();
    let config = tls_config(&std::fs::read_to_string(&ca_path).unwrap());
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let (status, stream) = connect(&server, "drive.amazonaws.com:443").await;
        assert_eq!(status, 200);
        let name = ServerName::try_from("drive.amazonaws.com").unwrap();
        let mut tls = TlsConnector::from(config.clone())
            .connect(name, stream.into_inner())
            .await
            .unwrap();
        let request = format!(
            "GET /drive/v1/account/endpoint HTTP/1.1\r\nHost: drive.amazonaws.com\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
            token.access_token
        );
        tls.write_all(request.as_bytes()).await.unwrap();
        let mut reply = String::new();
        tls.read_to_string(&mut reply).await.unwrap_or_default();
        statuses.push(reply.split(' ').nth(1).unwrap_or("").to_string());
        if statuses.len() == 1 {
            assert!(reply.contains("{\"message\":\"Rate exceeded\"}"), "{reply}");
        }
    }
    assert_eq!(statuses, ["429", "200"]);
    let rule = server
        .state()
        .faults
        .rules()
        .into_iter()
        .find(|r| r.rule.id == "tunnel-429")
        .unwrap();
    assert_eq!(rule.fired.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(rule.matches.load(std::sync::atomic::Ordering::SeqCst), 2);
}
