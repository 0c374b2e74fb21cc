//! Acknowledges what the client sends at once, instead of after the kernel's delayed-ACK timer.
//!
//! A pushing `git` writes its commands and then, from `pack-objects`, the pack: two small writes
//! on a socket without `TCP_NODELAY`, so Nagle's algorithm holds the second until the first is
//! acknowledged. Linux delays that ACK (up to 40 ms) hoping to send it with a reply, but the
//! daemon has nothing to reply before it has the pack: every push waited 40 ms (seen with
//! strace: the commands at t, the pack at t + 40 ms). `TCP_QUICKACK` set after each read sends
//! the pending ACK right away; the kernel clears it by itself, hence once per read.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;

/// The read half of a client's connection, acknowledging each read at once.
pub struct QuickAck {
    inner: OwnedReadHalf,
}

impl QuickAck {
    pub fn new(inner: OwnedReadHalf) -> QuickAck {
        QuickAck { inner }
    }
}

impl AsyncRead for QuickAck {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let stream: &TcpStream = self.inner.as_ref();
            // Only latency is at stake: a failure changes nothing else.
            let _ = socket2::SockRef::from(stream).set_tcp_quickack(true);
        }
        polled
    }
}
