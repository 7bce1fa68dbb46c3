//! Where a download's bytes go: one thread hashes them (MD5) and another writes them, each fed
//! through a queue, so receiving never waits for the hash or the disk while there is room; the
//! queues share a byte budget (`BUDGET`), so memory stays bounded whatever the chunk sizes and
//! however far the hashing falls behind the network.
//!
//! The writer asks the kernel to start writing back every `WRITEBACK_EVERY` bytes (an
//! `fdatasync` on a third thread, while writing goes on), so the `fsync` that ends the file has
//! little left: without it a 1 GiB download spent most of its time in that last `fsync`, which
//! is why a large download was slower, relative to curl, than a small one (issue 14).

use std::fs::File;
use std::io::Write as _;

use std::sync::Arc;

use bytes::Bytes;
use md5::{Digest as _, Md5};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinHandle;

use super::CHUNK;

/// Chunks queued for each thread at most (the byte budget is the real bound).
const QUEUE: usize = 1024;

/// Bytes received and not yet both hashed and written.
const BUDGET: usize = 16 << 20;

/// One chunk and its share of the budget, given back when both threads are done with it.
#[derive(Debug, Clone)]
struct Paid {
    bytes: Bytes,
    _budget: Arc<OwnedSemaphorePermit>,
}

/// Bytes written between two early write-backs.
const WRITEBACK_EVERY: u64 = 64 << 20;

/// The hashing and writing threads of one download pass.
#[derive(Debug)]
pub struct Sink {
    budget: Arc<Semaphore>,
    to_hash: mpsc::Sender<Paid>,
    to_write: mpsc::Sender<Paid>,
    hasher: JoinHandle<Md5>,
    writer: JoinHandle<std::io::Result<()>>,
}

impl Sink {
    /// Threads that go on from `hasher` (the bytes already in the file) and append to `file`.
    pub fn start(hasher: Md5, file: File) -> Self {
        let (to_hash, from_net) = mpsc::channel::<Paid>(QUEUE);
        let (to_write, to_disk) = mpsc::channel::<Paid>(QUEUE);
        Self {
            budget: Arc::new(Semaphore::new(BUDGET)),
            to_hash,
            to_write,
            hasher: tokio::task::spawn_blocking(move || hash(hasher, from_net)),
            writer: tokio::task::spawn_blocking(move || write(file, to_disk)),
        }
    }

    /// Queue one chunk; waits while `BUDGET` bytes are queued. `Err` when the writer stopped
    /// (its error comes from [`Sink::finish`]).
    pub async fn push(&self, bytes: Bytes) -> Result<(), Stopped> {
        // A chunk larger than the whole budget is paid for up to it (it still fits in memory:
        // it has been received already).
        let cost = u32::try_from(bytes.len().min(BUDGET)).unwrap_or(u32::MAX);
        let permit = self
            .budget
            .clone()
            .acquire_many_owned(cost)
            .await
            .map_err(|_| Stopped)?;
        let paid = Paid {
            bytes,
            _budget: Arc::new(permit),
        };
        self.to_hash.send(paid.clone()).await.map_err(|_| Stopped)?;
        self.to_write.send(paid).await.map_err(|_| Stopped)
    }

    /// Wait for both threads: what was queued is written, flushed and `fsync`ed. The hash of
    /// everything, or the writer's error.
    pub async fn finish(self) -> std::io::Result<Md5> {
        drop(self.to_hash);
        drop(self.to_write);
        let written = self.writer.await.map_err(std::io::Error::other)?;
        let hasher = self.hasher.await.map_err(std::io::Error::other)?;
        written.map(|()| hasher)
    }
}

/// A thread of the sink stopped before the bytes ended.
#[derive(Debug, Clone, Copy)]
pub struct Stopped;

fn hash(mut hasher: Md5, mut rx: mpsc::Receiver<Paid>) -> Md5 {
    while let Some(chunk) = rx.blocking_recv() {
        hasher.update(&chunk.bytes);
    }
    hasher
}

fn write(file: File, mut rx: mpsc::Receiver<Paid>) -> std::io::Result<()> {
    let early = file.try_clone()?;
    let (kick, kicked) = std::sync::mpsc::sync_channel::<()>(1);
    let writeback = std::thread::spawn(move || -> std::io::Result<()> {
        while kicked.recv().is_ok() {
            early.sync_data()?;
        }
        Ok(())
    });
    let mut out = std::io::BufWriter::with_capacity(CHUNK, file);
    let mut since = 0u64;
    let mut result = Ok(());
    while let Some(chunk) = rx.blocking_recv() {
        if let Err(e) = out.write_all(&chunk.bytes) {
            result = Err(e);
            break;
        }
        since += chunk.bytes.len() as u64;
        if since >= WRITEBACK_EVERY {
            since = 0;
            // A write-back already running covers this one too.
            let _ = kick.try_send(());
        }
    }
    drop(rx);
    drop(kick);
    let early = writeback
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("the write-back thread panicked")));
    result?;
    early?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()
}
