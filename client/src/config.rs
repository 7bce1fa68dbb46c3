//! The configuration file: rclone-compatible INI sections, one per remote.
//!
//! A section written by rclone for its `amazon cloud drive` backend works unchanged:
//!
//! ```ini
//! [acd]
//! type = amazon cloud drive
//! client_id = ...
//! client_secret = ...
//! token = {"access_token":"...","token_type":"bearer","refresh_token":"...","expiry":"..."}
//! ```
//!
//! Every option can also come from the environment (`ACD_<NAME>`, e.g. `ACD_TEMPLINK_THRESHOLD`)
//! or a command-line flag; flags beat the environment, which beats the file. The file is written
//! atomically (a temporary file renamed over it) with mode 0600. Secrets never appear in
//! `Debug` output.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};

use crate::auth::Token;
use crate::encoding::Encoding;
use crate::error::{Error, Result};

/// The `type` value rclone writes for this backend.
pub const BACKEND_TYPE: &str = "amazon cloud drive";
/// The real service's endpoint-discovery URL.
pub const DEFAULT_ENDPOINT_URL: &str = "https://drive.amazonaws.com/drive/v1/account/endpoint";
/// The real service's authorization URL.
pub const DEFAULT_AUTH_URL: &str = "https://www.amazon.com/ap/oa";
/// The real service's token URL.
pub const DEFAULT_TOKEN_URL: &str = "https://api.amazon.com/auth/o2/token";
/// Files at or above this size download through a tempLink (rclone's default, 9 GiB).
pub const DEFAULT_TEMPLINK_THRESHOLD: u64 = 9 << 30;
/// How long own writes correct lagging listings, unless `consistency_window` says.
pub const DEFAULT_CONSISTENCY_WINDOW: Duration = Duration::from_secs(300);
/// How long to wait for a phantom upload, per GiB of file (rclone's default, 3 minutes).
pub const DEFAULT_UPLOAD_WAIT_PER_GB: Duration = Duration::from_secs(180);

/// The option names a remote section understands (rclone's, plus `endpoint_url`).
pub const OPTION_NAMES: &[&str] = &[
    "client_id",
    "client_secret",
    "auth_url",
    "token_url",
    "token",
    "checkpoint",
    "upload_wait_per_gb",
    "templink_threshold",
    "encoding",
    "endpoint_url",
    "consistency_window",
    "fast_list",
];

/// Where the configuration file lives when neither `--config` nor `ACD_CONFIG` says.
pub fn default_path() -> PathBuf {
    directories::ProjectDirs::from("", "", "acd")
        .map(|d| d.config_dir().join("acd.conf"))
        .unwrap_or_else(|| PathBuf::from("acd.conf"))
}

/// rclone reads values raw: no quotes, no escapes (a secret with a backslash stays intact).
const RCLONE_PARSE: ini::ParseOption = ini::ParseOption {
    enabled_quote: false,
    enabled_escape: false,
    enabled_indented_mutiline_value: false,
    enabled_preserve_key_leading_whitespace: false,
};

/// rclone writes `key = value` with nothing escaped.
fn rclone_write() -> ini::WriteOption {
    ini::WriteOption {
        escape_policy: ini::EscapePolicy::Nothing,
        line_separator: ini::LineSeparator::SystemDefault,
        kv_separator: " = ",
    }
}

/// The whole configuration file, as read from disk.
pub struct ConfigFile {
    path: PathBuf,
    ini: ini::Ini,
}

impl fmt::Debug for ConfigFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigFile")
            .field("path", &self.path)
            .field("remotes", &self.remotes())
            .finish()
    }
}

impl ConfigFile {
    /// Read `path`; a file that does not exist is an empty configuration.
    pub fn load(path: &Path) -> Result<Self> {
        let ini = match std::fs::read_to_string(path) {
            Ok(text) => ini::Ini::load_from_str_opt(&text, RCLONE_PARSE).map_err(|e| {
                Error::Config(format!(
                    "{}: not a valid configuration file: {e}; fix the line or move the file away",
                    path.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ini::Ini::new(),
            Err(e) => return Err(Error::io(format!("read {}", path.display()), e)),
        };
        Ok(Self {
            path: path.to_path_buf(),
            ini,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file existed (or has been given a remote).
    pub fn is_empty(&self) -> bool {
        self.remotes().is_empty()
    }

    /// The names of the remotes in the file, in file order.
    pub fn remotes(&self) -> Vec<String> {
        self.ini.sections().flatten().map(str::to_string).collect()
    }

    /// The raw key/value pairs of a remote's section.
    pub fn section(&self, name: &str) -> Option<BTreeMap<String, String>> {
        self.ini.section(Some(name)).map(|s| {
            s.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
    }

    /// Set (or replace) one key of a remote's section.
    pub fn set(&mut self, name: &str, key: &str, value: &str) {
        self.ini.with_section(Some(name)).set(key, value);
    }

    /// Remove a remote's section.
    pub fn delete(&mut self, name: &str) {
        self.ini.delete(Some(name));
    }

    /// Write the file atomically with mode 0600, creating its directory if needed.
    pub fn save(&self) -> Result<()> {
        let mut text = Vec::new();
        self.ini
            .write_to_opt(&mut text, rclone_write())
            .map_err(|e| Error::io(format!("format {}", self.path.display()), e))?;
        write_private_atomically(&self.path, &text)
    }
}

/// Write `bytes` to `path` through a temporary file in the same directory, mode 0600.
pub fn write_private_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "acd.conf".into());
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(format!("write {}", path.display()), e)
    })
}

/// One remote's settings, parsed and with defaults applied.
#[derive(Clone)]
pub struct RemoteConfig {
    /// The section name.
    pub name: String,
    /// The OAuth client id (the app's security profile).
    pub client_id: String,
    /// The OAuth client secret.
    pub client_secret: SecretString,
    /// The authorization URL of the sign-in page.
    pub auth_url: String,
    /// The token URL.
    pub token_url: String,
    /// The saved token, if the remote has been authorized.
    pub token: Option<Token>,
    /// The last changes-feed checkpoint.
    pub checkpoint: Option<String>,
    /// How long to wait for a phantom upload, per GiB.
    pub upload_wait_per_gb: Duration,
    /// Files at or above this size download through their tempLink.
    pub templink_threshold: u64,
    /// How local names map to remote names.
    pub encoding: Encoding,
    /// The URL of the `account/endpoint` call.
    pub endpoint_url: url::Url,
    /// How long the client's own writes correct lagging listings (default 5m; 0 turns it off).
    pub consistency_window: Duration,
    /// Answer recursive listings and path lookups from the metadata cache after a sync.
    pub fast_list: bool,
}

impl fmt::Debug for RemoteConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteConfig")
            .field("name", &self.name)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("auth_url", &self.auth_url)
            .field("token_url", &self.token_url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("checkpoint", &self.checkpoint)
            .field("upload_wait_per_gb", &self.upload_wait_per_gb)
            .field("templink_threshold", &self.templink_threshold)
            .field("encoding", &self.encoding)
            .field("endpoint_url", &self.endpoint_url)
            .field("consistency_window", &self.consistency_window)
            .field("fast_list", &self.fast_list)
            .finish()
    }
}

impl RemoteConfig {
    /// Parse a remote from its section, after applying `overrides` (environment and flags,
    /// already merged by the caller, keyed by option name).
    pub fn from_section(
        name: &str,
        section: &BTreeMap<String, String>,
        overrides: &BTreeMap<String, String>,
    ) -> Result<Self> {
        let get = |key: &str| -> Option<String> {
            overrides
                .get(key)
                .or_else(|| section.get(key))
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        if let Some(kind) = section.get("type")
            && kind != BACKEND_TYPE
        {
            return Err(Error::Config(format!(
                "remote {name:?} has type {kind:?}; acd works only with type = {BACKEND_TYPE}"
            )));
        }
        let bad = |key: &str, value: &str, why: String| {
            Error::Config(format!(
                "remote {name:?}: option {key} = {value:?} is not valid: {why}"
            ))
        };
        let token = match get("token") {
            Some(json) => Some(Token::from_json(&json).map_err(|e| {
                Error::Config(format!(
                    "remote {name:?}: the saved token does not parse ({e}); run `acd config reconnect {name}`"
                ))
            })?),
            None => None,
        };
        let upload_wait_per_gb = match get("upload_wait_per_gb") {
            Some(v) => parse_duration(&v).map_err(|e| bad("upload_wait_per_gb", &v, e))?,
            None => DEFAULT_UPLOAD_WAIT_PER_GB,
        };
        let templink_threshold = match get("templink_threshold") {
            Some(v) => parse_size(&v).map_err(|e| bad("templink_threshold", &v, e))?,
            None => DEFAULT_TEMPLINK_THRESHOLD,
        };
        let encoding = match get("encoding") {
            Some(v) => v
                .parse::<Encoding>()
                .map_err(|e| bad("encoding", &v, e.to_string()))?,
            None => Encoding::default(),
        };
        let consistency_window = match get("consistency_window") {
            Some(v) => parse_duration(&v).map_err(|e| bad("consistency_window", &v, e))?,
            None => DEFAULT_CONSISTENCY_WINDOW,
        };
        let fast_list = match get("fast_list") {
            Some(v) => parse_bool(&v).map_err(|e| bad("fast_list", &v, e))?,
            None => false,
        };
        let endpoint = get("endpoint_url").unwrap_or_else(|| DEFAULT_ENDPOINT_URL.into());
        let endpoint_url = url::Url::parse(&endpoint)
            .map_err(|e| bad("endpoint_url", &endpoint, e.to_string()))?;
        Ok(Self {
            name: name.to_string(),
            client_id: get("client_id").unwrap_or_default(),
            client_secret: SecretString::from(get("client_secret").unwrap_or_default()),
            auth_url: get("auth_url").unwrap_or_else(|| DEFAULT_AUTH_URL.into()),
            token_url: get("token_url").unwrap_or_else(|| DEFAULT_TOKEN_URL.into()),
            token,
            checkpoint: get("checkpoint"),
            upload_wait_per_gb,
            templink_threshold,
            encoding,
            endpoint_url,
            consistency_window,
            fast_list,
        })
    }

    /// The client secret, for the token endpoint only.
    pub fn client_secret(&self) -> &str {
        self.client_secret.expose_secret()
    }
}

/// Options from the environment: `ACD_<NAME>` for every option in [`OPTION_NAMES`].
pub fn env_overrides() -> BTreeMap<String, String> {
    OPTION_NAMES
        .iter()
        .filter_map(|name| {
            let var = format!("ACD_{}", name.to_ascii_uppercase());
            std::env::var(var).ok().map(|v| (name.to_string(), v))
        })
        .collect()
}

/// Parse a yes/no option: `true`/`false`, `yes`/`no`, `1`/`0`, `on`/`off`.
pub fn parse_bool(text: &str) -> std::result::Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "on" => Ok(true),
        "false" | "no" | "0" | "off" | "" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

/// Parse a duration as rclone does: `3m`, `180s`, `1h30m`, or a bare number of seconds.
///
/// Any text gives a value or a one-line reason, never a panic: negative, NaN, infinite and
/// out-of-range numbers are refused (a [`Duration`] holds at most about 5.8e11 years).
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty; give a duration such as 3m or 180s".into());
    }
    if let Ok(secs) = text.parse::<f64>() {
        if secs.is_nan() {
            return Err("not a number; give a duration such as 3m or 180s".into());
        }
        if secs < 0.0 {
            return Err("must not be negative".into());
        }
        if secs.is_infinite() {
            return Err("must be finite; give a duration such as 3m or 180s".into());
        }
        return Duration::try_from_secs_f64(secs)
            .map_err(|_| format!("{text} seconds is too long (at most about 1.8e19)"));
    }
    humantime::parse_duration(text).map_err(|e| format!("{e} (try 3m or 180s)"))
}

/// Parse a size as rclone does: `9G` and `9Gi` mean 9 GiB, `100k` 100 KiB, `12B` 12 bytes,
/// `off` no limit ([`u64::MAX`]). A bare number means KiB, rclone's default unit: `100` is
/// 100 KiB, not 100 bytes. Sizes above [`u64::MAX`] bytes are refused, not clamped.
pub fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let text = text.trim();
    if text == "off" {
        return Ok(u64::MAX);
    }
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| "expected a size such as 9G, 500M or 0".to_string())?;
    let suffix = suffix.trim().trim_end_matches(['i', 'B', 'b']);
    let multiplier: u64 = match suffix.to_ascii_lowercase().as_str() {
        "" if text.chars().all(|c| c.is_ascii_digit() || c == '.') => 1 << 10,
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        "p" => 1 << 50,
        other => {
            return Err(format!(
                "unknown size suffix {other:?}; use K, M, G, T or P"
            ));
        }
    };
    let bytes = number * multiplier as f64;
    // `u64::MAX as f64` rounds up to 2^64, so `<` keeps every accepted value in range.
    if bytes >= u64::MAX as f64 {
        return Err(format!("{text} is too large (at most 16E, or off)"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const RCLONE_SECTION: &str = "[acd]\ntype = amazon cloud drive\nclient_id = cid\nclient_secret = very-secret\nauth_url = http://127.0.0.1:8780/ap/oa\ntoken_url = http://127.0.0.1:8780/auth/o2/token\ntoken = {\"access_token\":\"Atza|abc\",\"token_type\":\"bearer\",\"refresh_token\":\"Atzr|def\",\"expiry\":\"2099-01-01T00:00:00+01:00\"}\n";

    fn load(text: &str) -> (tempfile::TempDir, ConfigFile) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("acd.conf");
        std::fs::write(&path, text).unwrap();
        let file = ConfigFile::load(&path).unwrap();
        (dir, file)
    }

    #[test]
    fn an_rclone_section_works_unchanged() {
        let (_dir, file) = load(RCLONE_SECTION);
        let section = file.section("acd").unwrap();
        let remote = RemoteConfig::from_section("acd", &section, &BTreeMap::new()).unwrap();
        assert_eq!(remote.client_id, "cid");
        assert_eq!(remote.client_secret(), "very-secret");
        assert_eq!(remote.token_url, "http://127.0.0.1:8780/auth/o2/token");
        assert_eq!(remote.templink_threshold, 9 << 30);
        assert_eq!(remote.upload_wait_per_gb, Duration::from_secs(180));
        assert_eq!(remote.endpoint_url.as_str(), DEFAULT_ENDPOINT_URL);
        assert!(remote.token.is_some());
    }

    #[test]
    fn debug_output_hides_secrets() {
        let (_dir, file) = load(RCLONE_SECTION);
        let section = file.section("acd").unwrap();
        let remote = RemoteConfig::from_section("acd", &section, &BTreeMap::new()).unwrap();
        let debug = format!("{remote:?}");
        assert!(!debug.contains("very-secret"), "{debug}");
        assert!(!debug.contains("Atza|abc"), "{debug}");
        assert!(!debug.contains("Atzr|def"), "{debug}");
    }

    #[test]
    fn overrides_beat_the_file() {
        let (_dir, file) = load(RCLONE_SECTION);
        let section = file.section("acd").unwrap();
        let overrides = BTreeMap::from([("templink_threshold".to_string(), "0".to_string())]);
        let remote = RemoteConfig::from_section("acd", &section, &overrides).unwrap();
        assert_eq!(remote.templink_threshold, 0);
    }

    #[test]
    fn saving_is_private_and_round_trips() {
        let (dir, mut file) = load(RCLONE_SECTION);
        file.set("acd", "checkpoint", "cp1");
        file.save().unwrap();
        let again = ConfigFile::load(&dir.path().join("acd.conf")).unwrap();
        assert_eq!(again.section("acd").unwrap()["checkpoint"], "cp1");
        assert_eq!(
            again.section("acd").unwrap()["client_secret"],
            "very-secret"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join("acd.conf"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn values_are_raw_like_rclone() {
        let (dir, mut file) = load("[r]\ntype = amazon cloud drive\nclient_secret = a\\b\"c\n");
        assert_eq!(file.section("r").unwrap()["client_secret"], "a\\b\"c");
        file.set("r", "client_id", "x");
        file.save().unwrap();
        let text = std::fs::read_to_string(dir.path().join("acd.conf")).unwrap();
        assert!(text.contains("client_secret = a\\b\"c"), "{text}");
        assert!(text.contains("client_id = x"), "{text}");
    }

    #[test]
    fn cache_options_parse_with_defaults() {
        let remote = RemoteConfig::from_section("r", &BTreeMap::new(), &BTreeMap::new()).unwrap();
        assert_eq!(remote.consistency_window, Duration::from_secs(300));
        assert!(!remote.fast_list);
        let section = BTreeMap::from([
            ("consistency_window".to_string(), "30s".to_string()),
            ("fast_list".to_string(), "true".to_string()),
        ]);
        let remote = RemoteConfig::from_section("r", &section, &BTreeMap::new()).unwrap();
        assert_eq!(remote.consistency_window, Duration::from_secs(30));
        assert!(remote.fast_list);
        let section = BTreeMap::from([("fast_list".to_string(), "perhaps".to_string())]);
        let err = RemoteConfig::from_section("r", &section, &BTreeMap::new()).unwrap_err();
        assert!(err.to_string().contains("fast_list"), "{err}");
    }

    #[test]
    fn bad_values_name_the_option() {
        let section = BTreeMap::from([("templink_threshold".to_string(), "9 bananas".to_string())]);
        let err = RemoteConfig::from_section("r", &section, &BTreeMap::new()).unwrap_err();
        assert!(err.to_string().contains("templink_threshold"), "{err}");
        let section = BTreeMap::from([("type".to_string(), "drive".to_string())]);
        let err = RemoteConfig::from_section("r", &section, &BTreeMap::new()).unwrap_err();
        assert!(err.to_string().contains("amazon cloud drive"), "{err}");
    }

    #[test]
    fn sizes_and_durations_parse_like_rclone() {
        assert_eq!(parse_size("9G").unwrap(), 9 << 30);
        assert_eq!(parse_size("9Gi").unwrap(), 9 << 30);
        assert_eq!(parse_size("500M").unwrap(), 500 << 20);
        assert_eq!(parse_size("0").unwrap(), 0);
        assert_eq!(parse_size("100").unwrap(), 100 << 10);
        assert_eq!(parse_size("12B").unwrap(), 12);
        assert_eq!(parse_duration("3m").unwrap(), Duration::from_secs(180));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert!(parse_size("x").is_err());
    }

    #[test]
    fn hostile_numbers_are_refused_not_panicked_on() {
        for text in [
            "1e300",
            "-1",
            "NaN",
            "inf",
            "-inf",
            "",
            "  ",
            "18446744073709551616",
            "1e20",
            "99999999999999999999999h",
        ] {
            let e = parse_duration(text).err();
            assert!(
                e.as_ref().is_some_and(|e| !e.contains('\n')),
                "{text:?}: {e:?}"
            );
        }
        assert!(parse_duration("inf").is_err_and(|e| e.contains("finite")));
        assert!(parse_duration("-1").is_err_and(|e| e.contains("negative")));
        assert_eq!(
            parse_duration("1e18").unwrap(),
            Duration::from_secs(10u64.pow(18))
        );
        for text in [
            "1e300",
            "-1",
            "NaN",
            "inf",
            "",
            "99999999999P",
            "18446744073709551616B",
        ] {
            assert!(
                parse_size(text).is_err(),
                "{text:?}: {:?}",
                parse_size(text)
            );
        }
        assert_eq!(parse_size("off").unwrap(), u64::MAX);
        assert_eq!(parse_size("15P").unwrap(), 15 << 50);
    }
}
