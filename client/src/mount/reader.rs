//! Reads of one open file: a background task streams a ranged GET from the read offset into
//! a queue bounded by a byte budget. The budget (the read-ahead) starts small and doubles on
//! each sequential read up to `--buffer-size`; a jump elsewhere restarts the stream there. A
//! stream cut or reset midway is reopened at the offset it reached.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{Semaphore, mpsc};

use crate::api::model::Node;
use crate::error::{Error, Result};
use crate::transfer::download::Downloader;

/// The first read-ahead window.
const FIRST_WINDOW: u64 = 256 * 1024;

/// A jump forward shorter than this is read through rather than reopened.
const SKIP_LIMIT: u64 = 1 << 20;

/// The reading state of one open file.
#[derive(Debug)]
pub struct Reader {
    downloader: Downloader,
    node: Node,
    buffer_size: u64,
    stream: Option<Stream>,
}

/// One running ranged GET.
#[derive(Debug)]
struct Stream {
    /// The file offset of the first byte in `pending`.
    pos: u64,
    pending: VecDeque<Bytes>,
    rx: mpsc::UnboundedReceiver<Result<Bytes>>,
    budget: Arc<Semaphore>,
    window: u64,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Reader {
    /// A reader of `node`; nothing is fetched before the first read.
    pub fn new(downloader: Downloader, node: Node, buffer_size: u64) -> Self {
        Self {
            downloader,
            node,
            buffer_size: buffer_size.max(FIRST_WINDOW),
            stream: None,
        }
    }

    /// Up to `size` bytes at `offset` (fewer only at the end of the file).
    pub async fn read(&mut self, offset: u64, size: u32) -> Result<Vec<u8>> {
        let total = self.node.size();
        if offset >= total || size == 0 {
            return Ok(Vec::new());
        }
        let want = u64::from(size).min(total - offset);
        let reuse = self
            .stream
            .as_ref()
            .is_some_and(|s| offset >= s.pos && offset - s.pos <= SKIP_LIMIT.max(s.window));
        if !reuse {
            self.stream = Some(self.start(offset));
        }
        let buffer_size = self.buffer_size;
        let Some(stream) = self.stream.as_mut() else {
            return Ok(Vec::new());
        };
        // Sequential: let the read-ahead grow.
        if stream.window < buffer_size {
            let grow = stream.window.min(buffer_size - stream.window);
            stream
                .budget
                .add_permits(usize::try_from(grow).unwrap_or(0));
            stream.window += grow;
        }
        let mut out = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
        let end = offset + want;
        while stream.pos < end {
            let Some(mut chunk) = stream.pending.pop_front() else {
                match stream.rx.recv().await {
                    Some(Ok(chunk)) => {
                        stream.pending.push_back(chunk);
                        continue;
                    }
                    Some(Err(e)) => {
                        self.stream = None;
                        return Err(e);
                    }
                    None => break,
                }
            };
            let len = chunk.len() as u64;
            if stream.pos + len <= offset {
                // Entirely before the offset: skip it.
                stream.pos += len;
                stream.budget.add_permits(chunk.len());
                continue;
            }
            if stream.pos < offset {
                let skip = usize::try_from(offset - stream.pos).unwrap_or(0);
                let _ = chunk.split_to(skip);
                stream.pos = offset;
                stream.budget.add_permits(skip);
            }
            let take = usize::try_from((end - stream.pos).min(chunk.len() as u64)).unwrap_or(0);
            out.extend_from_slice(&chunk[..take]);
            stream.pos += take as u64;
            stream.budget.add_permits(take);
            if take < chunk.len() {
                stream.pending.push_front(chunk.slice(take..));
            }
        }
        Ok(out)
    }

    /// Start streaming from `offset`.
    fn start(&self, offset: u64) -> Stream {
        let (tx, rx) = mpsc::unbounded_channel();
        let budget = Arc::new(Semaphore::new(
            usize::try_from(FIRST_WINDOW).unwrap_or(usize::MAX),
        ));
        let task = tokio::spawn(fetch(
            self.downloader.clone(),
            self.node.clone(),
            offset,
            budget.clone(),
            tx,
        ));
        Stream {
            pos: offset,
            pending: VecDeque::new(),
            rx,
            budget,
            window: FIRST_WINDOW,
            task,
        }
    }
}

/// Stream the file from `offset` into `tx`, each chunk paid for from `budget` before it is
/// queued; a cut stream is reopened where it stopped.
async fn fetch(
    downloader: Downloader,
    node: Node,
    offset: u64,
    budget: Arc<Semaphore>,
    tx: mpsc::UnboundedSender<Result<Bytes>>,
) {
    let size = node.size();
    let attempts = downloader.drive.pacer().config().attempts.max(1);
    let mut at = offset;
    let mut failures = 0u32;
    while at < size {
        let mut response = match downloader.open(&node, at, None).await {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        loop {
            match response.chunk().await {
                Ok(Some(mut chunk)) => {
                    // Each piece is paid for in full before it is queued, so the queue never
                    // holds more than the window; a piece is at most the first window (so a
                    // payment can always be met).
                    while !chunk.is_empty() {
                        let piece = chunk.split_to(chunk.len().min(FIRST_WINDOW as usize));
                        let n = u32::try_from(piece.len()).unwrap_or(u32::MAX);
                        match budget.acquire_many(n).await {
                            Ok(permit) => permit.forget(),
                            Err(_) => return,
                        }
                        at += piece.len() as u64;
                        failures = 0;
                        if tx.send(Ok(piece)).is_err() {
                            return;
                        }
                    }
                }
                Ok(None) => {
                    if at < size {
                        // The server ended the body early without an error: resume too, as a failure.
                        failures += 1;
                    }
                    break;
                }
                Err(e) => {
                    failures += 1;
                    if failures >= attempts {
                        let _ = tx.send(Err(Error::Protocol {
                            operation: format!("read {}", node.name()),
                            message: format!(
                                "the stream was cut {failures} times at byte {at}: {e}"
                            ),
                        }));
                        return;
                    }
                    tracing::info!(
                        "read {}: the stream was cut at byte {at} ({e}); resuming there",
                        node.name()
                    );
                    break;
                }
            }
        }
        if at < size && failures >= attempts {
            let _ = tx.send(Err(Error::Protocol {
                operation: format!("read {}", node.name()),
                message: format!("the body ended {failures} times at byte {at} of {size}"),
            }));
            return;
        }
    }
}
