//! Async pkt-line reading and writing over any transport stream: the protocol crate parses,
//! this feeds it bytes. Reads are bounded (one packet is at most 65 520 bytes, one message at
//! most what the caller allows) and time out after the idle timeout, so a silent client never
//! holds a task forever; [`IdleTimeoutReader`] does the same for raw bytes (a pushed pack), and
//! [`IdleTimeoutWriter`] for a client that stops reading what it asked for.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use swiftgit_protocol::pkt_line::PktLineError;
use swiftgit_protocol::{Packet, Parsed, PktReader};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::{Instant, Sleep};

/// A packet read from the client, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedPacket {
    Data(Vec<u8>),
    Flush,
    Delim,
    ResponseEnd,
}

impl OwnedPacket {
    /// The payload without one trailing `\n`, for text packets.
    pub fn text(&self) -> Option<&[u8]> {
        match self {
            OwnedPacket::Data(data) => Some(data.strip_suffix(b"\n").unwrap_or(data)),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PktIoError {
    #[error("invalid pkt-line from the client: {0}")]
    Malformed(#[from] PktLineError),
    #[error("the client sent nothing for {0:?}")]
    Idle(Duration),
    #[error("the client closed the connection{}", if *.mid_packet { " in the middle of a packet" } else { "" })]
    Closed { mid_packet: bool },
    #[error("the client's request is longer than the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
}

/// A message the client sent that could not be read: the transport failed, or the parser
/// refused it (`E` is the protocol crate's error for that message).
#[derive(Debug, thiserror::Error)]
pub enum MessageError<E> {
    #[error(transparent)]
    Io(#[from] PktIoError),
    #[error(transparent)]
    Parse(E),
}

/// Reads pkt-lines from `R`, keeping bytes read past a packet (e.g. the start of a pack) for
/// [`PktStream::take_buffered`].
pub struct PktStream<R> {
    reader: R,
    buffer: PktReader,
    idle_timeout: Duration,
}

const READ_CHUNK: usize = 64 * 1024;

impl<R: AsyncRead + Unpin> PktStream<R> {
    pub fn new(reader: R, idle_timeout: Duration) -> Self {
        PktStream {
            reader,
            buffer: PktReader::new(),
            idle_timeout,
        }
    }

    /// The next packet; `Ok(None)` when the client closed the connection cleanly between
    /// packets.
    pub async fn next(&mut self) -> Result<Option<OwnedPacket>, PktIoError> {
        loop {
            if let Some(packet) = self.buffer.next_packet()? {
                return Ok(Some(match packet {
                    Packet::Data(data) => OwnedPacket::Data(data.to_vec()),
                    Packet::Flush => OwnedPacket::Flush,
                    Packet::Delim => OwnedPacket::Delim,
                    Packet::ResponseEnd => OwnedPacket::ResponseEnd,
                }));
            }
            if self.fill().await? == 0 {
                let mid_packet = !self.buffer.unread().is_empty();
                return if mid_packet {
                    Err(PktIoError::Closed { mid_packet })
                } else {
                    Ok(None)
                };
            }
        }
    }

    /// Like [`PktStream::next`], but a clean close is an error too.
    pub async fn expect_next(&mut self) -> Result<OwnedPacket, PktIoError> {
        self.next()
            .await?
            .ok_or(PktIoError::Closed { mid_packet: false })
    }

    /// Reads one whole message with a protocol crate parser (`parse_push_request`,
    /// `parse_command_request`, …), which is called again each time more bytes arrive until it
    /// answers [`Parsed::Complete`]. Bytes after the message stay buffered. A message longer than
    /// `max_bytes` fails with [`PktIoError::TooLarge`]; a clean close before it is complete with
    /// [`PktIoError::Closed`].
    pub async fn read_message<T, E>(
        &mut self,
        max_bytes: usize,
        mut parse: impl FnMut(&[u8]) -> Result<Parsed<T>, E>,
    ) -> Result<T, MessageError<E>> {
        loop {
            if !self.buffer.unread().is_empty() {
                match parse(self.buffer.unread()).map_err(MessageError::Parse)? {
                    Parsed::Complete { value, consumed } => {
                        self.buffer.consume(consumed);
                        return Ok(value);
                    }
                    Parsed::Incomplete if self.buffer.unread().len() > max_bytes => {
                        return Err(PktIoError::TooLarge { limit: max_bytes }.into());
                    }
                    Parsed::Incomplete => {}
                }
            }
            if self.fill().await? == 0 {
                let mid_packet = !self.buffer.unread().is_empty();
                return Err(PktIoError::Closed { mid_packet }.into());
            }
        }
    }

    /// Reads more bytes into the buffer; returns how many (0 at end of stream).
    async fn fill(&mut self) -> Result<usize, PktIoError> {
        let mut chunk = vec![0u8; READ_CHUNK];
        let n = tokio::time::timeout(self.idle_timeout, self.reader.read(&mut chunk))
            .await
            .map_err(|_| PktIoError::Idle(self.idle_timeout))??;
        self.buffer.push(&chunk[..n]);
        Ok(n)
    }

    /// Bytes received after the last packet (e.g. the start of a pushed pack), and the reader
    /// for the rest.
    pub fn into_parts(mut self) -> (Vec<u8>, R) {
        (self.buffer.take_rest(), self.reader)
    }

    /// Bytes received after the last packet, removed from the buffer.
    pub fn take_buffered(&mut self) -> Vec<u8> {
        self.buffer.take_rest()
    }

    pub fn reader_mut(&mut self) -> &mut R {
        &mut self.reader
    }

    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }
}

/// A reader that fails with [`std::io::ErrorKind::TimedOut`] when no byte arrives for `timeout`
/// (the clock restarts with every read that returns data), so that a client that stops in the
/// middle of a pack does not hold its session forever.
pub struct IdleTimeoutReader<R> {
    inner: R,
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl<R> IdleTimeoutReader<R> {
    pub fn new(inner: R, timeout: Duration) -> Self {
        IdleTimeoutReader {
            inner,
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }

    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for IdleTimeoutReader<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                let timeout = this.timeout;
                this.deadline.as_mut().reset(Instant::now() + timeout);
                Poll::Ready(result)
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("the client sent nothing for {:?}", this.timeout),
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

/// A writer that fails with [`std::io::ErrorKind::TimedOut`] when the client accepts no byte
/// for `timeout`: the clock starts when a write, flush or shutdown has to wait and stops with
/// the first one that gets through. Without it a client that stops reading a response (a
/// clone it no longer wants, or on purpose) would hold its session, its buffers and a
/// connection slot until the kernel gave up on the socket, hours later.
pub struct IdleTimeoutWriter<W> {
    inner: W,
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
    waiting: bool,
}

impl<W> IdleTimeoutWriter<W> {
    pub fn new(inner: W, timeout: Duration) -> Self {
        IdleTimeoutWriter {
            inner,
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            waiting: false,
        }
    }

    /// What a call on the inner writer that returned `polled` returns: its result, or after
    /// `timeout` of waiting, the timeout.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>> {
        match polled {
            Poll::Ready(result) => {
                self.waiting = false;
                Poll::Ready(result)
            }
            Poll::Pending => {
                if !self.waiting {
                    self.waiting = true;
                    let timeout = self.timeout;
                    self.deadline.as_mut().reset(Instant::now() + timeout);
                }
                match self.deadline.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("the client read nothing for {:?}", self.timeout),
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for IdleTimeoutWriter<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.watch(cx, polled)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.watch(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.watch(cx, polled)
    }
}

/// Buffered pkt-line output: encode into [`PktSink::buf`], then [`PktSink::flush`].
pub struct PktSink<W> {
    writer: W,
    pub buf: BytesMut,
}

impl<W: AsyncWrite + Unpin> PktSink<W> {
    pub fn new(writer: W) -> Self {
        PktSink {
            writer,
            buf: BytesMut::with_capacity(64 * 1024),
        }
    }

    /// Writes what is buffered and flushes the transport.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            self.writer.write_all(&self.buf).await?;
            self.buf.clear();
        }
        self.writer.flush().await
    }

    /// Writes what is buffered without flushing the transport, when the buffer is large.
    pub async fn write_if_full(&mut self, threshold: usize) -> std::io::Result<()> {
        if self.buf.len() >= threshold {
            self.writer.write_all(&self.buf).await?;
            self.buf.clear();
        }
        Ok(())
    }

    pub fn writer_mut(&mut self) -> &mut W {
        &mut self.writer
    }

    pub fn into_inner(self) -> W {
        self.writer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_packets_and_keeps_the_rest() {
        let input: &[u8] = b"0009hello0000PACKxyz";
        let mut stream = PktStream::new(input, Duration::from_secs(1));
        assert_eq!(
            stream.next().await.unwrap(),
            Some(OwnedPacket::Data(b"hello".to_vec()))
        );
        assert_eq!(stream.next().await.unwrap(), Some(OwnedPacket::Flush));
        assert_eq!(stream.take_buffered(), b"PACKxyz");
    }

    #[tokio::test]
    async fn a_truncated_packet_is_an_error_and_a_clean_end_is_none() {
        let mut stream = PktStream::new(&b"0009hel"[..], Duration::from_secs(1));
        assert!(matches!(
            stream.next().await,
            Err(PktIoError::Closed { mid_packet: true })
        ));
        let mut stream = PktStream::new(&b""[..], Duration::from_secs(1));
        assert_eq!(stream.next().await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_times_out() {
        let (client, server) = tokio::io::duplex(1024);
        let mut writer = IdleTimeoutWriter::new(server, Duration::from_millis(200));
        let started = std::time::Instant::now();
        let error = writer
            .write_all(&vec![0u8; 64 * 1024])
            .await
            .expect_err("nobody reads");
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(client);
    }

    #[tokio::test]
    async fn a_slow_reader_that_keeps_reading_is_served() {
        let (mut client, server) = tokio::io::duplex(1024);
        let mut writer = IdleTimeoutWriter::new(server, Duration::from_millis(300));
        let reader = tokio::spawn(async move {
            let mut total = 0;
            let mut chunk = [0u8; 1024];
            loop {
                // Each pause is shorter than the timeout; all of them together are longer.
                tokio::time::sleep(Duration::from_millis(20)).await;
                match client.read(&mut chunk).await.unwrap() {
                    0 => return total,
                    n => total += n,
                }
            }
        });
        writer.write_all(&vec![7u8; 32 * 1024]).await.unwrap();
        writer.shutdown().await.unwrap();
        drop(writer);
        assert_eq!(reader.await.unwrap(), 32 * 1024);
    }

    #[tokio::test]
    async fn garbage_length_is_malformed() {
        let mut stream = PktStream::new(&b"zzzzhello"[..], Duration::from_secs(1));
        assert!(matches!(stream.next().await, Err(PktIoError::Malformed(_))));
    }

    #[tokio::test]
    async fn messages_are_read_whole_and_bounded() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut stream = PktStream::new(server, Duration::from_secs(5));
        let parse = |buf: &[u8]| -> Result<Parsed<usize>, ()> {
            Ok(match buf.windows(4).position(|w| w == b"0000") {
                Some(at) => Parsed::Complete {
                    value: at,
                    consumed: at + 4,
                },
                None => Parsed::Incomplete,
            })
        };
        let writer = tokio::spawn(async move {
            for chunk in [&b"0009hel"[..], b"lo", b"0000PACK"] {
                client.write_all(chunk).await.unwrap();
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            client
        });
        assert_eq!(stream.read_message(1024, parse).await.unwrap(), 9);
        let _client = writer.await.unwrap();
        assert_eq!(stream.take_buffered(), b"PACK");

        let mut stream = PktStream::new(&b"0009hello0009hello"[..], Duration::from_secs(1));
        assert!(matches!(
            stream.read_message(10, parse).await,
            Err(MessageError::Io(PktIoError::TooLarge { limit: 10 }))
        ));
    }

    #[tokio::test]
    async fn a_stalled_reader_times_out() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut reader = IdleTimeoutReader::new(server, Duration::from_millis(100));
        client.write_all(b"abc").await.unwrap();
        let mut buf = [0u8; 3];
        reader.read_exact(&mut buf).await.unwrap();
        let err = reader.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    }

    #[tokio::test]
    async fn silence_times_out() {
        let (_client, server) = tokio::io::duplex(64);
        let mut stream = PktStream::new(server, Duration::from_millis(50));
        assert!(matches!(stream.next().await, Err(PktIoError::Idle(_))));
    }
}
