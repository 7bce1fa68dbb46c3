//! Sizes and durations from the command line, parsed with checked arithmetic so that no value
//! (`1e300`, `-1`, `2^64`, `NaN`, `inf`, empty) can panic.
//!
//! `--max-bytes` has its own rule here: a bare number is bytes. (acd-client's `parse_size`
//! reads a bare number as KiB, as rclone does; its config options need that rule.)

/// Why a value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?}: {why}")]
pub struct UnitError {
    /// The value given.
    pub value: String,
    /// What is wrong with it.
    pub why: &'static str,
}

fn refuse(value: &str, why: &'static str) -> UnitError {
    UnitError {
        value: value.to_string(),
        why,
    }
}

/// Split `12.5GiB` into `("12.5", "GiB")`.
fn split_number(text: &str) -> (&str, &str) {
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    text.split_at(end)
}

/// `number × unit` as a whole count, refusing what does not fit a `u64`.
fn scaled(text: &str, number: &str, unit: u64, what: &'static str) -> Result<u64, UnitError> {
    if number.is_empty() {
        return Err(refuse(text, what));
    }
    if let Ok(whole) = number.parse::<u64>() {
        return whole
            .checked_mul(unit)
            .ok_or_else(|| refuse(text, "too large"));
    }
    let value: f64 = number.parse().map_err(|_| refuse(text, what))?;
    let total = value * unit as f64;
    // 2^64 as f64; anything at or above it does not fit.
    if !total.is_finite() || total >= 18_446_744_073_709_551_616.0 {
        return Err(refuse(text, "too large"));
    }
    // In range and non-negative (no sign is accepted), so the cast is exact enough.
    Ok(total.round() as u64)
}

const SIZE_HELP: &str =
    "use a number of bytes, optionally with a unit k, M, G or T (KiB, MiB, GiB, TiB)";

/// A size in bytes: a bare number is bytes; `k`/`K`/`KiB`/`KB`, `M`…, `G`…, `T`… are powers
/// of 1024; `B` is bytes.
pub fn parse_size(text: &str) -> Result<u64, UnitError> {
    let trimmed = text.trim();
    let (number, unit) = split_number(trimmed);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(refuse(text, SIZE_HELP)),
    };
    scaled(text, number, 1u64 << shift, SIZE_HELP)
}

const DURATION_HELP: &str = "use a number of seconds, optionally with a unit ms, s, m or h";

/// A duration: a bare number is seconds; units `ms`, `s`, `m`, `h`. At most about 584 years.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, UnitError> {
    let trimmed = text.trim();
    let (number, unit) = split_number(trimmed);
    let millis_per_unit = match unit.trim() {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(refuse(text, DURATION_HELP)),
    };
    let millis = scaled(text, number, millis_per_unit, DURATION_HELP)?;
    Ok(std::time::Duration::from_millis(millis))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bare_size_is_bytes_and_units_are_powers_of_1024() {
        assert_eq!(parse_size("1000").unwrap(), 1000);
        assert_eq!(parse_size("1000B").unwrap(), 1000);
        assert_eq!(parse_size("10k").unwrap(), 10 * 1024);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("1.5M").unwrap(), 3 << 19);
        assert_eq!(parse_size(" 2 T ").unwrap(), 2 << 40);
        assert_eq!(parse_size("18446744073709551615").unwrap(), u64::MAX);
    }

    #[test]
    fn durations_default_to_seconds() {
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5m").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
    }

    #[test]
    fn hostile_values_are_refused_not_panicked_on() {
        for bad in [
            "",
            " ",
            "-1",
            "1e300",
            "NaN",
            "nan",
            "inf",
            "-inf",
            "18446744073709551616",
            "18446744073709551615T",
            "99999999999999999999999999999",
            "1..2",
            ".",
            "k",
            "1 x",
            "٣",
            "1e3",
            "0x10",
        ] {
            assert!(parse_size(bad).is_err(), "size {bad:?}");
            assert!(parse_duration(bad).is_err(), "duration {bad:?}");
        }
        assert!(parse_duration("18446744073709551615h").is_err());
    }
}
