//! The HTTP transport: one reqwest client per process, rustls with the ring provider.
//!
//! Redirects are never followed automatically: the download code follows them itself so that
//! `Authorization` is dropped on any redirect to another host or to a presigned S3 URL (one with
//! `X-Amz-Algorithm` in its query), which S3 rejects with "Only one auth mechanism allowed".

use std::path::Path;
use std::time::Duration;

use crate::error::{Error, Result};

/// The User-Agent sent on every request.
pub const USER_AGENT: &str = concat!("acd/", env!("CARGO_PKG_VERSION"));

/// Options for the transport.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// An extra PEM CA certificate to trust (for an intercepting mock).
    pub ca_cert: Option<std::path::PathBuf>,
}

/// Build the process's HTTP client.
pub fn build_client(options: &HttpOptions) -> Result<reqwest::Client> {
    // reqwest is built without a crypto provider so that only ring is linked.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(60))
        .read_timeout(Duration::from_secs(300))
        .pool_idle_timeout(Duration::from_secs(90));
    if let Some(path) = &options.ca_cert {
        builder = builder.add_root_certificate(read_certificate(path)?);
    }
    builder
        .build()
        .map_err(|e| Error::Config(format!("cannot set up HTTPS: {}", e.without_url())))
}

fn read_certificate(path: &Path) -> Result<reqwest::Certificate> {
    let pem = std::fs::read(path).map_err(|e| Error::io(format!("read {}", path.display()), e))?;
    reqwest::Certificate::from_pem(&pem)
        .map_err(|e| Error::Config(format!("{} is not a PEM certificate: {e}", path.display())))
}

/// True when a redirect to `to` must not carry the bearer token: another host, or a presigned
/// URL that carries its own signature.
pub fn redirect_drops_auth(from: &url::Url, to: &url::Url) -> bool {
    let presigned = to
        .query_pairs()
        .any(|(k, _)| k.eq_ignore_ascii_case("X-Amz-Algorithm"));
    presigned
        || from.host_str() != to.host_str()
        || from.port_or_known_default() != to.port_or_known_default()
        || from.scheme() != to.scheme()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn authorization_stays_only_on_the_same_origin() {
        let from = url::Url::parse("http://127.0.0.1:8780/cdproxy/nodes/x/content").unwrap();
        let same = url::Url::parse("http://127.0.0.1:8780/cdproxy/other").unwrap();
        let s3 =
            url::Url::parse("http://127.0.0.1:8780/s3/t?X-Amz-Algorithm=AWS4-HMAC-SHA256").unwrap();
        let other = url::Url::parse("http://127.0.0.2:8780/cdproxy/other").unwrap();
        assert!(!redirect_drops_auth(&from, &same));
        assert!(redirect_drops_auth(&from, &s3));
        assert!(redirect_drops_auth(&from, &other));
    }
}
