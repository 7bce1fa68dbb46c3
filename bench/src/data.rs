//! Local test data: incompressible files, a folder of small files, a sparse file, and the md-5
//! hashing baseline.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use md5::{Digest, Md5};

use crate::procs::check_interrupted;

/// A small xorshift64* generator: fast, deterministic, good enough to defeat compression.
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (any value; 0 is remapped).
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// Fills a buffer with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// Writes `size` random bytes to `path`, 1 MiB at a time.
pub fn write_random_file(path: &Path, size: u64, seed: u64) -> Result<()> {
    let mut rng = Rng::new(seed);
    let mut out = BufWriter::new(File::create(path).context("cannot create a data file")?);
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        check_interrupted()?;
        let n = left.min(buf.len() as u64) as usize;
        rng.fill(&mut buf[..n]);
        out.write_all(&buf[..n])?;
        left -= n as u64;
    }
    out.flush()?;
    Ok(())
}

/// Writes `count` files of 4-64 KiB of random bytes into `dir`; returns their total size.
pub fn write_small_files(dir: &Path, count: usize, seed: u64) -> Result<u64> {
    std::fs::create_dir_all(dir)?;
    let mut rng = Rng::new(seed);
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0;
    for i in 0..count {
        check_interrupted()?;
        let size = rng.range(4 * 1024, 64 * 1024) as usize;
        rng.fill(&mut buf[..size]);
        std::fs::write(dir.join(format!("file-{i:05}.bin")), &buf[..size])?;
        total += size as u64;
    }
    Ok(total)
}

/// Creates a sparse file of `size` bytes (zeros, no disk blocks).
pub fn sparse_file(path: &Path, size: u64) -> Result<()> {
    File::create(path)?.set_len(size)?;
    Ok(())
}

/// Reads a whole file into memory (for the hashing baseline).
pub fn read_all(path: &Path) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Seconds the md-5 crate takes to hash `bytes` on this thread (one core).
pub fn md5_secs(bytes: &[u8]) -> f64 {
    let started = Instant::now();
    let mut hasher = Md5::new();
    for chunk in bytes.chunks(1 << 20) {
        hasher.update(chunk);
    }
    std::hint::black_box(hasher.finalize());
    started.elapsed().as_secs_f64()
}

/// Number of files (not folders) below `dir` and their total size.
pub fn count_files(dir: &Path) -> Result<(u64, u64)> {
    let mut files = 0;
    let mut bytes = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                files += 1;
                bytes += meta.len();
            }
        }
    }
    Ok((files, bytes))
}
