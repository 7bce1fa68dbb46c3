//! HTML escaping for the dashboard.
//!
//! Every name and value the pages show (node names, paths, queries, rule fields, emails) comes
//! from clients of the mock and may hold markup: a node named `<img src=x onerror=alert(1)>`
//! must render as those characters, not as an image. The pages build HTML with `format!`, so
//! each interpolated value goes through [`html`] (text and quoted attribute values) or
//! [`url_component`] (a piece of a URL inside an attribute).

use std::fmt;

/// Escapes text for an HTML element body or a double- or single-quoted attribute value.
pub fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a value for a URL path segment or query value (then safe in an attribute).
pub fn url_component(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A value that is escaped when formatted: `format!("<td>{}</td>", Esc(name))`.
#[derive(Debug, Clone, Copy)]
pub struct Esc<'a>(pub &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&html(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_becomes_text() {
        assert_eq!(
            html("<img src=x onerror=alert(1)>"),
            "&lt;img src=x onerror=alert(1)&gt;"
        );
        assert_eq!(
            html(r#"a"b'c&d"#),
            "a&quot;b&#39;c&amp;d",
            "quotes cannot end an attribute"
        );
        assert_eq!(
            format!("{}", Esc("</td><script>")),
            "&lt;/td&gt;&lt;script&gt;"
        );
        // Already-escaped text is escaped again (shown literally, never decoded).
        assert_eq!(html("&lt;"), "&amp;lt;");
        assert_eq!(html("plain naïve ✓"), "plain naïve ✓");
    }

    #[test]
    fn url_components_cannot_break_out() {
        assert_eq!(url_component("a b&c=d\"'<>/"), "a+b%26c%3Dd%22%27%3C%3E%2F");
    }
}
