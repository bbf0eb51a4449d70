//! Reading newline-delimited JSON (MCP's stdio transport) without holding an oversize line.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead};

/// How much one read takes from the pipe.
const READ_SIZE: usize = 8 * 1024;
/// The most line buffer kept between frames: every connection keeps one, idle ones too, so a
/// larger frame (a long tool list, a big result) allocates its own and gives it back.
const KEEP: usize = 8 * 1024;

/// Newline-delimited frames from `R`, never holding more than `max` bytes of one: what both the
/// stdio front (client lines) and the stdio backend transport (backend lines) read with.
pub(crate) struct LineReader<R> {
    reader: Buffered<R>,
    buf: Vec<u8>,
    discarding: bool,
    max: usize,
}

/// What [`LineReader::next`] found.
pub(crate) enum Next<'a> {
    /// One frame, whitespace trimmed, never empty.
    Frame(&'a [u8]),
    /// A line longer than the limit went by; it was consumed and dropped.
    TooLong,
    Eof,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    pub(crate) fn new(reader: R, max: usize) -> Self {
        LineReader {
            // Held by every backend connection and stdio client, idle ones too: reads go into
            // memory that is not zeroed first (so what no read reached is never touched), and the
            // line buffer grows only as frames need it (BENCHMARKS.md, "Soak and memory per
            // session").
            reader: Buffered {
                inner: reader,
                buf: Vec::new(),
                pos: 0,
            },
            buf: Vec::new(),
            discarding: false,
            max,
        }
    }

    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// The next non-empty frame. Cancel safe: a partly read line stays buffered until the next
    /// call completes it.
    pub(crate) async fn next(&mut self) -> std::io::Result<Next<'_>> {
        loop {
            if !self.discarding && self.buf.last() == Some(&b'\n') {
                if self.buf.capacity() > KEEP {
                    // A large frame went by: its buffer is not kept for the connection's life.
                    self.buf = Vec::new();
                } else {
                    self.buf.clear();
                }
            }
            match read_line(
                &mut self.reader,
                &mut self.buf,
                &mut self.discarding,
                self.max,
            )
            .await?
            {
                Line::Complete => {}
                Line::TooLong => return Ok(Next::TooLong),
                Line::Eof => return Ok(Next::Eof),
            }
            let frame = self.buf.trim_ascii();
            if frame.len() > self.max {
                return Ok(Next::TooLong);
            }
            if !frame.is_empty() {
                // Borrow again so that the loop above may clear `buf`.
                return Ok(Next::Frame(self.buf.trim_ascii()));
            }
        }
    }
}

/// A buffered reader like tokio's `BufReader`, but its buffer is allocated on the first read
/// and never zeroed: bytes are read into its spare capacity.
struct Buffered<R> {
    inner: R,
    buf: Vec<u8>,
    /// What was consumed of `buf`.
    pos: usize,
}

impl<R: AsyncRead + Unpin> AsyncRead for Buffered<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let me = self.get_mut();
        let avail = std::task::ready!(Pin::new(&mut *me).poll_fill_buf(cx))?;
        let n = avail.len().min(out.remaining());
        out.put_slice(&avail[..n]);
        Pin::new(me).consume(n);
        Poll::Ready(Ok(()))
    }
}

impl<R: AsyncRead + Unpin> AsyncBufRead for Buffered<R> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<&[u8]>> {
        let me = self.get_mut();
        if me.pos >= me.buf.len() {
            me.buf.clear();
            me.pos = 0;
            me.buf.reserve(READ_SIZE);
            std::task::ready!(tokio_util::io::poll_read_buf(
                Pin::new(&mut me.inner),
                cx,
                &mut me.buf
            ))?;
        }
        Poll::Ready(Ok(&me.buf[me.pos..]))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        let me = self.get_mut();
        me.pos = (me.pos + amt).min(me.buf.len());
    }
}

/// What [`read_line`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// `buf` holds one whole line, newline included.
    Complete,
    /// A line longer than the limit went by; it was consumed and dropped.
    TooLong,
    Eof,
}

/// Read one newline-terminated line, appending it to `buf`, never holding more than `max` bytes
/// of it: a longer line is read to its end and dropped. Cancel safe: what was read so far stays in
/// `buf` (or in `discarding`) for the next call.
pub(crate) async fn read_line<R: tokio::io::AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    discarding: &mut bool,
    max: usize,
) -> std::io::Result<Line> {
    loop {
        let avail = r.fill_buf().await?;
        if avail.is_empty() {
            return Ok(Line::Eof);
        }
        let (take, done) = match avail.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        if !*discarding {
            if buf.len() + take > max.saturating_add(2) {
                // Too long: dropped before it grows the buffer past the limit, and the
                // buffer it grew so far is given back.
                *discarding = true;
                *buf = Vec::new();
            } else {
                buf.extend_from_slice(&avail[..take]);
            }
        }
        r.consume(take);
        if done {
            return Ok(if std::mem::take(discarding) {
                Line::TooLong
            } else {
                Line::Complete
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncWriteExt, BufReader};

    #[tokio::test]
    async fn long_lines_are_dropped_without_being_held() {
        let (mut w, r) = tokio::io::duplex(64);
        let mut r = BufReader::with_capacity(8, r);
        tokio::spawn(async move {
            let long = vec![b'x'; 1000];
            for chunk in [
                &b"short\n"[..],
                &long,
                b"\nafter\n",
                b"tail-without-newline",
            ] {
                w.write_all(chunk).await.unwrap();
            }
        });
        let (mut buf, mut discarding) = (Vec::new(), false);
        let mut next = async || {
            buf.clear();
            let l = read_line(&mut r, &mut buf, &mut discarding, 100)
                .await
                .unwrap();
            assert!(buf.len() <= 102, "held {} bytes", buf.len());
            // Not even grown past the limit on the way (a 50 MB line must not cost 32 MB).
            assert!(buf.capacity() <= 256, "grew to {} bytes", buf.capacity());
            (l, String::from_utf8_lossy(&buf).into_owned())
        };
        assert_eq!(next().await, (Line::Complete, "short\n".into()));
        assert_eq!(next().await.0, Line::TooLong);
        assert_eq!(next().await, (Line::Complete, "after\n".into()));
        assert_eq!(next().await.0, Line::Eof);
    }

    #[tokio::test]
    async fn a_large_frame_buffer_is_not_kept() {
        let (mut w, r) = tokio::io::duplex(64 * 1024);
        tokio::spawn(async move {
            let mut big = vec![b'x'; 1 << 20];
            big.push(b'\n');
            w.write_all(&big).await.unwrap();
            w.write_all(b"small\n").await.unwrap();
        });
        let mut lines = LineReader::new(r, 4 << 20);
        assert!(matches!(lines.next().await.unwrap(), Next::Frame(f) if f.len() == 1 << 20));
        assert!(matches!(lines.next().await.unwrap(), Next::Frame(b"small")));
        assert!(
            lines.buf.capacity() <= KEEP,
            "kept {} bytes",
            lines.buf.capacity()
        );
    }

    #[tokio::test]
    async fn frames_split_across_reads_and_reads_split_across_frames() {
        // A pipe of 3 bytes: every frame arrives in pieces, and pieces hold parts of two frames.
        let (mut w, r) = tokio::io::duplex(3);
        let mut lines = LineReader::new(r, 1 << 10);
        // Nothing is allocated before the first read.
        assert_eq!(lines.reader.buf.capacity(), 0);
        tokio::spawn(async move {
            w.write_all(b"{\"a\":1}\n\n  {\"bb\":2}  \n{\"c\"")
                .await
                .unwrap();
        });
        assert!(matches!(
            lines.next().await.unwrap(),
            Next::Frame(b"{\"a\":1}")
        ));
        assert!(matches!(
            lines.next().await.unwrap(),
            Next::Frame(b"{\"bb\":2}")
        ));
        // The unterminated tail is not a frame.
        assert!(matches!(lines.next().await.unwrap(), Next::Eof));
        assert!(lines.reader.buf.capacity() >= READ_SIZE);
    }
}
