//! Splitting a streamed body into lines as its chunks arrive, so the changes feed is parsed
//! one change set at a time and memory stays flat whatever the account's size.

/// The longest line accepted (a change set holds at most a few thousand nodes).
pub const MAX_LINE: usize = 64 << 20;

/// Collects chunks and hands out complete lines.
#[derive(Debug, Default)]
pub struct LineSplitter {
    buf: Vec<u8>,
    scanned: usize,
}

impl LineSplitter {
    /// Add a chunk of the body.
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete line (without its `\n`), if one has arrived. `Err` when a line grows
    /// past [`MAX_LINE`].
    pub fn next_line(&mut self) -> Result<Option<Vec<u8>>, usize> {
        match self.buf[self.scanned..].iter().position(|&b| b == b'\n') {
            Some(at) => {
                let end = self.scanned + at;
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                self.scanned = 0;
                Ok(Some(line))
            }
            None if self.buf.len() > MAX_LINE => Err(self.buf.len()),
            None => {
                self.scanned = self.buf.len();
                Ok(None)
            }
        }
    }

    /// What is left after the body ended (a last line without `\n`, or a cut one).
    pub fn rest(&self) -> &[u8] {
        &self.buf
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_across_chunks_come_out_whole() {
        let mut s = LineSplitter::default();
        s.push(b"{\"a\":1}\n{\"b\"");
        assert_eq!(s.next_line().unwrap().unwrap(), b"{\"a\":1}");
        assert_eq!(s.next_line().unwrap(), None);
        s.push(b":2}\n\n{\"end\":true}");
        assert_eq!(s.next_line().unwrap().unwrap(), b"{\"b\":2}");
        assert_eq!(s.next_line().unwrap().unwrap(), b"");
        assert_eq!(s.next_line().unwrap(), None);
        assert_eq!(s.rest(), b"{\"end\":true}");
    }
}
