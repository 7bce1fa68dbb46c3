//! The search filter grammar's escaping (reference 5.4).

/// Characters that must be escaped with a backslash inside a filter value.
const SPECIAL: &[char] = &[
    '+', '-', '&', '|', '!', '(', ')', '{', '}', '[', ']', '^', '\'', '"', '~', '*', '?', ':',
    '\\', ' ',
];

/// Escape a value for a filter: a backslash before every special character and space.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        if SPECIAL.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The filter that finds a child of `parent` by name (quoted and escaped, as go-acd sends it).
pub fn child_named(parent: &str, name: &str) -> String {
    format!("parents:\"{parent}\" AND name:\"{}\"", escape(name))
}

/// The filter that lists a folder (the id bare, as rclone sends it).
pub fn children_of(parent: &str) -> String {
    format!("parents:{parent}")
}

/// The filter that finds the root.
pub const ROOT: &str = "kind:FOLDER AND isRoot:true";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_the_full_set() {
        assert_eq!(
            escape("sp ace & (x)+[y]'q'.txt"),
            r"sp\ ace\ \&\ \(x\)\+\[y\]\'q\'.txt"
        );
        assert_eq!(
            escape(r#"a\b"c:d*e?f~g^h|i!j{k}l-m"#),
            r#"a\\b\"c\:d\*e\?f\~g\^h\|i\!j\{k\}l\-m"#
        );
        assert_eq!(escape("plain.txt"), "plain.txt");
    }
}
