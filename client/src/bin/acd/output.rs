//! Listing output in rclone's formats, so scripts written for rclone keep working.

use std::io::Write;

use acd_client::ops::list::RemoteEntry;
use anyhow::Result;

/// Which listing format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// `lsd`: folders.
    Lsd,
    /// `ls`: size and path.
    Ls,
    /// `lsl`: size, time and path.
    Lsl,
    /// `lsjson`.
    Json,
    /// `md5sum`.
    Md5sum,
    /// `size`.
    Size,
    /// `tree`.
    Tree,
}

/// rclone's size display: `0 B`, `12 B`, `1.205 KiB`, `5 GiB`.
pub(crate) fn size_suffix(n: u64) -> String {
    const UNITS: [&str; 6] = ["", "Ki", "Mi", "Gi", "Ti", "Pi"];
    let mut scaled = n as f64;
    let mut unit = 0;
    while scaled >= 1024.0 && unit < UNITS.len() - 1 {
        scaled /= 1024.0;
        unit += 1;
    }
    let number = if scaled.fract() == 0.0 {
        format!("{scaled:.0}")
    } else {
        format!("{scaled:.3}")
    };
    format!("{number} {}B", UNITS[unit])
}

/// rclone's time formats from an RFC 3339 date.
fn time(entry: &RemoteEntry, format: &str) -> String {
    entry
        .node
        .modified_date
        .as_deref()
        .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
        .map(|d| d.with_timezone(&chrono::Local).format(format).to_string())
        .unwrap_or_else(|| "2000-01-01 00:00:00".into())
}

fn json_entry(entry: &RemoteEntry, hash: bool) -> serde_json::Value {
    let name = entry.path.rsplit('/').next().unwrap_or(&entry.path);
    let mut value = serde_json::json!({
        "Path": entry.path,
        "Name": name,
        "Size": if entry.node.is_folder() { -1 } else { entry.node.size() as i64 },
        "MimeType": if entry.node.is_folder() { "inode/directory" } else { entry.node.content_type().unwrap_or("application/octet-stream") },
        "ModTime": entry.node.modified_date.clone().unwrap_or_default(),
        "IsDir": entry.node.is_folder(),
        "ID": entry.node.id,
    });
    if hash && entry.node.is_file() {
        value["Hashes"] = serde_json::json!({"md5": entry.node.md5().unwrap_or("")});
    }
    value
}

/// Print `entries` in `style`; `json` switches the line formats to JSON lines.
pub(crate) fn print(
    out: &mut impl Write,
    style: Style,
    entries: &[RemoteEntry],
    json: bool,
    hash: bool,
) -> Result<()> {
    let files = || entries.iter().filter(|e| e.node.is_file());
    if json && style != Style::Json {
        let chosen: Vec<_> = match style {
            Style::Lsd => entries.iter().filter(|e| e.node.is_folder()).collect(),
            _ => files().collect(),
        };
        if style == Style::Size {
            let bytes: u64 = files().map(|e| e.node.size()).sum();
            writeln!(
                out,
                "{}",
                serde_json::json!({"count": files().count(), "bytes": bytes})
            )?;
            return Ok(());
        }
        let list: Vec<_> = chosen.iter().map(|e| json_entry(e, true)).collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
        return Ok(());
    }
    match style {
        Style::Lsd => {
            for e in entries.iter().filter(|e| e.node.is_folder()) {
                writeln!(
                    out,
                    "{:>12} {:>13} {:>9} {}",
                    -1,
                    time(e, "%Y-%m-%d %H:%M:%S"),
                    -1,
                    e.path
                )?;
            }
        }
        Style::Ls => {
            for e in files() {
                writeln!(out, "{:>9} {}", e.node.size(), e.path)?;
            }
        }
        Style::Lsl => {
            for e in files() {
                writeln!(
                    out,
                    "{:>9} {} {}",
                    e.node.size(),
                    time(e, "%Y-%m-%d %H:%M:%S%.9f"),
                    e.path
                )?;
            }
        }
        Style::Md5sum => {
            for e in files() {
                writeln!(out, "{:>32}  {}", e.node.md5().unwrap_or(""), e.path)?;
            }
        }
        Style::Json => {
            let items: Vec<String> = entries
                .iter()
                .map(|e| serde_json::to_string(&json_entry(e, hash)))
                .collect::<Result<_, _>>()?;
            writeln!(out, "[")?;
            if !items.is_empty() {
                writeln!(out, "{}", items.join(",\n"))?;
            }
            writeln!(out, "]")?;
        }
        Style::Size => {
            let count = files().count();
            let bytes: u64 = files().map(|e| e.node.size()).sum();
            writeln!(out, "Total objects: {count} ({count})")?;
            writeln!(out, "Total size: {} ({bytes} Byte)", size_suffix(bytes))?;
        }
        Style::Tree => tree(out, entries)?,
    }
    Ok(())
}

/// `tree`-style drawing, folders first in path order.
fn tree(out: &mut impl Write, entries: &[RemoteEntry]) -> Result<()> {
    writeln!(out, "/")?;
    let mut sorted: Vec<&RemoteEntry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let depth = |e: &RemoteEntry| e.path.matches('/').count();
    let parent = |e: &RemoteEntry| {
        e.path
            .rsplit_once('/')
            .map(|(p, _)| p.to_string())
            .unwrap_or_default()
    };
    for (i, e) in sorted.iter().enumerate() {
        let my_parent = parent(e);
        let last = !sorted[i + 1..].iter().any(|o| parent(o) == my_parent);
        let mut prefix = String::new();
        // For each ancestor level, draw a bar if that ancestor has later siblings.
        let parts: Vec<&str> = e.path.split('/').collect();
        for level in 0..depth(e) {
            let ancestor = parts[..=level].join("/");
            let ancestor_parent = parts[..level].join("/");
            let more = sorted.iter().any(|o| {
                parent(o) == ancestor_parent
                    && o.path > ancestor
                    && !o.path.starts_with(&format!("{ancestor}/"))
            });
            prefix.push_str(if more { "│   " } else { "    " });
        }
        let name = parts.last().copied().unwrap_or("");
        writeln!(out, "{prefix}{} {name}", if last { "└──" } else { "├──" })?;
    }
    let dirs = entries.iter().filter(|e| e.node.is_folder()).count();
    let files = entries.iter().filter(|e| e.node.is_file()).count();
    writeln!(out, "\n{dirs} directories, {files} files")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::size_suffix;

    #[test]
    fn sizes_read_like_rclone() {
        assert_eq!(size_suffix(0), "0 B");
        assert_eq!(size_suffix(12), "12 B");
        assert_eq!(size_suffix(1234), "1.205 KiB");
        assert_eq!(size_suffix(5 << 30), "5 GiB");
    }
}
