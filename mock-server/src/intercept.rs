//! Interception for clients that hard-code the real hosts (rclone's backend, acd_cli).
//!
//! With `--intercept`, the mock also acts as an HTTPS proxy on its own port, for the service's
//! hosts only: `CONNECT drive.amazonaws.com:443` (and the content, metadata, token and sign-in
//! hosts) is answered `200`, the tunnel is wrapped server-side in TLS with a certificate for those
//! hosts signed by the mock's own CA, and the API is served inside it by the same router, with
//! the same journal and fault layer as direct requests. `CONNECT` to any other host is 403: the
//! mock is never an open proxy. This module holds the TLS side and the host check; the serving
//! loop ([`crate::server`]) answers `CONNECT` and serves the tunnels.
//!
//! The CA (certificate and key, PEM) is written once and reused across restarts: to `--ca-out
//! FILE` (key in `FILE.key`), else `<data-dir>/ca.pem`, else a temporary directory. Clients
//! trust it with e.g. `rclone --ca-cert ca.pem` or `SSL_CERT_FILE`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::server::TlsStream;

/// The hosts the mock impersonates, as certificate names (a `*.` name covers one label).
pub const HOSTS: [&str; 8] = [
    "drive.amazonaws.com",
    "*.drive.amazonaws.com",
    "cdws.us-east-1.amazonaws.com",
    "cdws.eu-west-1.amazonaws.com",
    "api.amazon.com",
    "www.amazon.com",
    "amazon.com",
    "www.amazon.co.uk",
];

/// Why interception could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum InterceptError {
    /// Reading or writing the CA files failed.
    #[error("CA file {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Making or parsing a certificate failed.
    #[error("certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    /// The TLS configuration was refused.
    #[error("TLS setup: {0}")]
    Tls(#[from] tokio_rustls::rustls::Error),
}

/// The TLS side of interception: the CA and a server configuration for the impersonated hosts.
pub struct Interceptor {
    acceptor: TlsAcceptor,
    ca_path: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for Interceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interceptor")
            .field("ca_path", &self.ca_path)
            .finish_non_exhaustive()
    }
}

fn ca_params() -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "acd-mock interception CA");
    dn.push(DnType::OrganizationName, "acd-kit");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
}

fn write_file(path: &Path, text: &str, private: bool) -> Result<(), InterceptError> {
    let io = |source| InterceptError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    use std::io::Write as _;
    let mut file = options.open(path).map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

impl Interceptor {
    /// Loads the CA at `ca_path` (key at `<ca_path>.key`), creating both if missing, and makes
    /// the certificate for the impersonated hosts. `None`: a new CA in a temporary directory.
    pub fn new(ca_path: Option<&Path>) -> Result<Self, InterceptError> {
        let (ca_path, temp) = match ca_path {
            Some(path) => (path.to_path_buf(), None),
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("acd-mock-ca")
                    .tempdir()
                    .map_err(|source| InterceptError::Io {
                        path: std::env::temp_dir(),
                        source,
                    })?;
                (temp.path().join("ca.pem"), Some(temp))
            }
        };
        let mut key_path = ca_path.clone().into_os_string();
        key_path.push(".key");
        let key_path = PathBuf::from(key_path);
        let read = |path: &Path| std::fs::read_to_string(path);
        let (ca_pem, ca_key) = match (read(&ca_path), read(&key_path)) {
            (Ok(pem), Ok(key)) => (pem, KeyPair::from_pem(&key)?),
            _ => {
                let key = KeyPair::generate()?;
                let cert = ca_params()?.self_signed(&key)?;
                write_file(&key_path, &key.serialize_pem(), true)?;
                write_file(&ca_path, &cert.pem(), false)?;
                (cert.pem(), key)
            }
        };
        // The leaf's issuer name and key identifier come from the CA's name and key, so a
        // leaf signed by an issuer rebuilt from the saved key chains to the saved certificate.
        let issuer = Issuer::new(ca_params()?, ca_key);
        let leaf_key = KeyPair::generate()?;
        let mut leaf =
            CertificateParams::new(HOSTS.iter().map(|h| h.to_string()).collect::<Vec<_>>())?;
        leaf.distinguished_name
            .push(DnType::CommonName, "drive.amazonaws.com");
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        leaf.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer)?;
        let ca_der = pem_to_der(&ca_pem).ok_or_else(|| InterceptError::Io {
            path: ca_path.clone(),
            source: std::io::Error::other("not a PEM certificate"),
        })?;
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf_cert.der().clone(), CertificateDer::from(ca_der)],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
            )?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            ca_path,
            _temp: temp,
        })
    }

    /// Wraps a tunnel's stream in TLS as the impersonated hosts (the server side of the
    /// handshake).
    pub async fn accept<IO>(&self, io: IO) -> std::io::Result<TlsStream<IO>>
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        self.acceptor.accept(io).await
    }

    /// Where the CA certificate (PEM) is.
    pub fn ca_path(&self) -> &Path {
        &self.ca_path
    }
}

/// The DER bytes of the first certificate in a PEM text.
fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// Is `authority` (`host:port`) one the mock impersonates?
pub fn host_allowed(authority: &str) -> bool {
    let Some((host, port)) = authority.rsplit_once(':') else {
        return false;
    };
    let host = host.to_ascii_lowercase();
    port == "443"
        && HOSTS
            .iter()
            .any(|pattern| match pattern.strip_prefix("*.") {
                Some(suffix) => host
                    .strip_suffix(suffix)
                    .and_then(|label| label.strip_suffix('.'))
                    .is_some_and(|label| !label.is_empty() && !label.contains('.')),
                None => host == *pattern,
            })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_service_hosts_are_tunnelled() {
        for ok in [
            "drive.amazonaws.com:443",
            "content-na.drive.amazonaws.com:443",
            "content-eu.drive.amazonaws.com:443",
            "api.amazon.com:443",
            "www.amazon.com:443",
            "DRIVE.amazonaws.com:443",
        ] {
            assert!(host_allowed(ok), "{ok}");
        }
        for bad in [
            "drive.amazonaws.com:80",
            "example.com:443",
            "a.b.drive.amazonaws.com:443",
            ".drive.amazonaws.com:443",
            "evil-drive.amazonaws.com:443",
            "drive.amazonaws.com.evil.com:443",
            "127.0.0.1:443",
            "drive.amazonaws.com",
        ] {
            assert!(!host_allowed(bad), "{bad}");
        }
    }

    #[test]
    fn the_ca_is_reused_across_restarts() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("ca.pem");
        let first = Interceptor::new(Some(&path)).map(|_| std::fs::read_to_string(&path));
        let second = Interceptor::new(Some(&path)).map(|_| std::fs::read_to_string(&path));
        assert!(
            matches!((&first, &second), (Ok(Ok(a)), Ok(Ok(b))) if a == b && a.contains("BEGIN CERTIFICATE"))
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join("ca.pem.key"))
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or(0);
            assert_eq!(mode, 0o600);
        }
    }
}
