//! Settings of one mock server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::store::filter::NameMatch;

/// Everything that shapes one mock server. Built by [`crate::MockServer::builder`] or the CLI.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Address to bind (default `127.0.0.1:0` in the library, `127.0.0.1:8780` in the binary).
    pub listen: SocketAddr,
    /// Where metadata and blobs persist; `None`: in memory and a temporary directory.
    pub data_dir: Option<PathBuf>,
    /// The base URL that `account/endpoint` and tempLinks point at (default: the bound address).
    pub public_url: Option<String>,
    /// Default page size of listings (the service's was 200).
    pub page_size: u32,
    /// Lifetime of access tokens (the service's was 1 h).
    pub token_lifetime: Duration,
    /// Quota of each new account in bytes (default 5 GiB).
    pub quota: u64,
    /// Accepted OAuth clients as `(id, secret)`; empty: any client is accepted.
    pub clients: Vec<(String, String)>,
    /// Allowed return URLs of the sign-in page (compared without the query); empty: any
    /// absolute http(s) URL.
    pub redirect_uris: Vec<String>,
    /// The default account's sign-in email.
    pub default_email: String,
    /// The default account's sign-in password.
    pub default_password: String,
    /// How `name:` filters compare names (default: case-sensitively; see reference §5.4).
    pub name_match: NameMatch,
    /// Lifetime of tempLinks (the service's was 48 h).
    pub templink_lifetime: Duration,
    /// How long a trashed node stays in the trash before it is purged (the service: 30 days).
    pub trash_retention: Duration,
    /// Age after which a tempLink request gets a new link instead of the existing one (24 h).
    pub templink_refresh: Duration,
    /// Answer `CONNECT` for the service's hosts and serve the API inside TLS tunnels.
    pub intercept: bool,
    /// Where to keep the interception CA (default: `<data-dir>/ca.pem`, else a temporary file).
    pub ca_out: Option<PathBuf>,
    /// Fault rules and switches to start with (a profile or a file; default: none).
    pub faults: crate::faults::FaultPlan,
    /// Seed of every random choice the fault layer makes (default: the plan's, else random).
    pub seed: Option<u64>,
    /// Largest JSON or form body accepted.
    pub max_json_body: usize,
    /// The token `/_mock/*` and the dashboard require (`None`: open, loopback only).
    pub admin_token: Option<crate::admin_access::AdminToken>,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: None,
            public_url: None,
            page_size: 200,
            token_lifetime: Duration::from_secs(3600),
            quota: 5 * 1024 * 1024 * 1024,
            clients: Vec::new(),
            redirect_uris: Vec::new(),
            default_email: "user@example.com".into(),
            default_password: "password".into(),
            name_match: NameMatch::CaseSensitive,
            templink_lifetime: Duration::from_secs(48 * 3600),
            trash_retention: Duration::from_secs(30 * 86_400),
            templink_refresh: Duration::from_secs(24 * 3600),
            intercept: false,
            ca_out: None,
            faults: crate::faults::FaultPlan::default(),
            seed: None,
            max_json_body: 1024 * 1024,
            admin_token: None,
        }
    }
}
