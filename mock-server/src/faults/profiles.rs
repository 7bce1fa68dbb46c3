//! Fault profiles: `none`, `realistic` and `chaos` ship with the crate (files in
//! `mock-server/profiles/`, to copy and edit); `--faults FILE.toml` loads any other.

use std::path::Path;

use crate::faults::FaultPlan;

/// The built-in profiles, by name.
pub const BUILT_IN: [(&str, &str); 3] = [
    ("none", include_str!("../../profiles/none.toml")),
    ("realistic", include_str!("../../profiles/realistic.toml")),
    ("chaos", include_str!("../../profiles/chaos.toml")),
];

/// Why a profile could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// Not a built-in name and not a readable file.
    #[error("--faults {spec}: not one of none, realistic, chaos, and not a readable file")]
    Unreadable {
        /// What was given.
        spec: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The TOML is malformed or a field is wrong (the message names it).
    #[error("--faults {spec}: {message}")]
    Invalid {
        /// What was given.
        spec: String,
        /// What is wrong.
        message: String,
    },
}

/// Loads a built-in profile by name or a TOML file by path.
pub fn load(spec: &str) -> Result<FaultPlan, ProfileError> {
    let text = match BUILT_IN.iter().find(|(name, _)| *name == spec) {
        Some((_, text)) => (*text).to_string(),
        None => {
            std::fs::read_to_string(Path::new(spec)).map_err(|source| ProfileError::Unreadable {
                spec: spec.to_string(),
                source,
            })?
        }
    };
    parse(spec, &text)
}

/// Parses and validates a plan.
pub fn parse(spec: &str, text: &str) -> Result<FaultPlan, ProfileError> {
    let invalid = |message: String| ProfileError::Invalid {
        spec: spec.to_string(),
        message,
    };
    let plan: FaultPlan = toml::from_str(text).map_err(|e| invalid(one_line(text, &e)))?;
    for rule in &plan.rules {
        rule.validate().map_err(|e| invalid(e.to_string()))?;
    }
    Ok(plan)
}

/// A TOML error on one line (`line 3, column 5: invalid type ...`): toml's own rendering quotes
/// the offending line over several lines, which does not fit a command's one-line error.
fn one_line(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().replace('\n', " ");
    match error.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("TOML error at line {line}, column {column}: {message}")
        }
        None => format!("TOML error: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_profiles_load() {
        for (name, _) in BUILT_IN {
            assert!(load(name).is_ok(), "{name}: {:?}", load(name).err());
        }
        let realistic = load("realistic").unwrap_or_default();
        assert!(realistic.settings.rate_limit.is_some());
        assert!(!realistic.rules.is_empty());
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let bad = [
            (
                "[[rules]]\naction = { kind = \"error\", error = \"teapot\" }",
                "teapot",
            ),
            (
                "[[rules]]\naction = { kind = \"reset\" }\ntrigger = { probability = 2.0 }",
                "trigger.probability",
            ),
            ("[settings]\nrate_limit = { per_second = 1 }", "burst"),
            ("[[rules]\n", "TOML"),
        ];
        for (text, needle) in bad {
            let message = parse("x.toml", text)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                message.contains(needle) || needle == "TOML" && !message.is_empty(),
                "{text}: {message}"
            );
            assert!(!message.contains('\n'), "{text}: {message}");
        }
        assert!(matches!(
            load("/nonexistent/profile.toml"),
            Err(ProfileError::Unreadable { .. })
        ));
    }
}
