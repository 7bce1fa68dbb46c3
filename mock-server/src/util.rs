//! Small helpers shared by the whole server: ids, timestamps, random tokens.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng as _;

/// A new node id: 16 random bytes as unpadded base64url, i.e. 22 characters of `[A-Za-z0-9_-]`.
pub fn node_id() -> String {
    random_base64(16)
}

/// `n` random bytes encoded as unpadded base64url.
pub fn random_base64(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A request reference in the UUID form the service used for `logref`.
pub fn logref() -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    let mut out = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    out
}

/// A short opaque string like the service's `eTagResponse` (11 characters).
pub fn etag() -> String {
    random_base64(8)
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// Formats epoch milliseconds as the service did: ISO-8601 UTC with milliseconds,
/// e.g. `2015-08-30T12:53:49.238Z`.
pub fn format_ms(ms: i64) -> String {
    let time = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(time).to_string()
}

/// Is `s` a syntactically valid node id (22 characters of `[A-Za-z0-9_-]`)?
pub fn is_node_id(s: &str) -> bool {
    s.len() == 22
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_service_shape() {
        for _ in 0..100 {
            assert!(is_node_id(&node_id()));
        }
    }

    #[test]
    fn timestamps_have_milliseconds_and_z() {
        assert_eq!(format_ms(1_440_939_229_238), "2015-08-30T12:53:49.238Z");
        assert_eq!(format_ms(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn logref_is_uuid_shaped() {
        let r = logref();
        let groups: Vec<usize> = r.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12], "{r}");
        assert!(
            r.chars()
                .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
            "{r}"
        );
        assert_ne!(r, logref());
    }
}
