//! Local test data: incompressible files, a folder of small files, a sparse file, and the md-5
//! hashing baseline.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use md5::{Digest, Md5};
use rand::rngs::StdRng;
use rand::{Rng as _, RngExt as _, SeedableRng as _};

use crate::procs::check_interrupted;

/// A seeded generator: deterministic, and random enough to defeat compression.
fn seeded(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// Writes `size` random bytes to `path`, 1 MiB at a time.
pub(crate) fn write_random_file(path: &Path, size: u64, seed: u64) -> Result<()> {
    let mut rng = seeded(seed);
    let mut out = BufWriter::new(File::create(path).context("cannot create a data file")?);
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        check_interrupted()?;
        let n = left.min(buf.len() as u64) as usize;
        rng.fill_bytes(&mut buf[..n]);
        out.write_all(&buf[..n])?;
        left -= n as u64;
    }
    out.flush()?;
    Ok(())
}

/// Writes `count` files of 4-64 KiB of random bytes into `dir`; returns their total size.
pub(crate) fn write_small_files(dir: &Path, count: usize, seed: u64) -> Result<u64> {
    std::fs::create_dir_all(dir)?;
    let mut rng = seeded(seed);
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0;
    for i in 0..count {
        check_interrupted()?;
        let size = rng.random_range(4 * 1024..=64 * 1024);
        rng.fill_bytes(&mut buf[..size]);
        std::fs::write(dir.join(format!("file-{i:05}.bin")), &buf[..size])?;
        total += size as u64;
    }
    Ok(total)
}

/// Creates a sparse file of `size` bytes (zeros, no disk blocks).
pub(crate) fn sparse_file(path: &Path, size: u64) -> Result<()> {
    File::create(path)?.set_len(size)?;
    Ok(())
}

/// Reads a whole file into memory (for the hashing baseline).
pub(crate) fn read_all(path: &Path) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Seconds the md-5 crate takes to hash `bytes` on this thread (one core).
pub(crate) fn md5_secs(bytes: &[u8]) -> f64 {
    let started = Instant::now();
    let mut hasher = Md5::new();
    for chunk in bytes.chunks(1 << 20) {
        hasher.update(chunk);
    }
    std::hint::black_box(hasher.finalize());
    started.elapsed().as_secs_f64()
}

/// Number of files (not folders) below `dir` and their total size.
pub(crate) fn count_files(dir: &Path) -> Result<(u64, u64)> {
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
