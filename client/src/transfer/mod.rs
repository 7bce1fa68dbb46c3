//! Streaming transfers with MD5 computed while the bytes flow.
//!
//! - [`upload`]: look up, overwrite or create, verify, recover phantom uploads, resolve 409s.
//! - [`download`]: to a `.partial` file, resumed with `Range`, verified, then renamed; large
//!   files through their tempLink; redirects followed without `Authorization` off-origin.

pub mod download;
pub mod sink;
pub mod stats;
pub mod upload;

use md5::{Digest as _, Md5};

/// The read size for local files and the chunk size of upload bodies.
pub const CHUNK: usize = 256 * 1024;

/// Lowercase hex of an MD5 state.
pub fn hex_md5(hasher: Md5) -> String {
    let digest = hasher.finalize();
    let mut out = String::with_capacity(32);
    for b in digest.iter() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// MD5 and size of a local file, streamed (blocking; run it off the async threads).
pub fn hash_file(path: &std::path::Path) -> std::io::Result<(String, u64)> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex_md5(hasher), size))
}
