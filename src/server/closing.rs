//! Connections the server can close when a graceful shutdown cannot finish on its own.
//!
//! A graceful shutdown waits for every open stream to end. Subscriptions and change feeds end
//! themselves when shutdown begins (with `UNAVAILABLE`), but only if the client reads: a
//! response whose client has stopped reading has filled its HTTP/2 flow-control window, so
//! the transport does not even ask the stream for its last message, and the shutdown would
//! wait for ever. [`Closable`] wraps each accepted connection so that, once the server gives
//! up waiting ([`close_after`]), every read and write on it fails and hyper drops the
//! connection with its streams. The client sees its stream fail and resumes from its last
//! checkpoint, as after any disconnect.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use tonic::transport::server::Connected;

/// An accepted connection that fails every read and write once `closed` completes.
pub(super) struct Closable<IO> {
    /// The connection.
    io: IO,
    /// Completes when the server closes its remaining connections; polled by every read and
    /// write, so that a connection idle in a read is woken when it does.
    closed: Pin<Box<dyn Future<Output = ()> + Send>>,
    /// Whether `closed` has completed.
    is_closed: bool,
}

impl<IO> Closable<IO> {
    /// `io`, closed when `close` turns true (or its sender is dropped).
    pub(super) fn new(io: IO, mut close: watch::Receiver<bool>) -> Self {
        Closable {
            io,
            closed: Box::pin(async move {
                let _ = close.wait_for(|close| *close).await;
            }),
            is_closed: false,
        }
    }

    /// Whether the connection is closed, registering `cx` to be woken when it is.
    fn poll_closed(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.is_closed && self.closed.as_mut().poll(cx).is_ready() {
            self.is_closed = true;
        }
        self.is_closed
    }
}

fn closed_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "the server stopped before this connection's streams ended",
    )
}

impl<IO: AsyncRead + Unpin> AsyncRead for Closable<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        if me.poll_closed(cx) {
            return Poll::Ready(Err(closed_error()));
        }
        Pin::new(&mut me.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Closable<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        if me.poll_closed(cx) {
            return Poll::Ready(Err(closed_error()));
        }
        Pin::new(&mut me.io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        if me.poll_closed(cx) {
            return Poll::Ready(Err(closed_error()));
        }
        Pin::new(&mut me.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

impl<IO: Connected> Connected for Closable<IO> {
    type ConnectInfo = IO::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

/// Turns `close` true `grace` after `stopping` turns true: the time open streams get to end
/// by themselves once shutdown has begun.
pub(super) async fn close_after(
    mut stopping: watch::Receiver<bool>,
    grace: Duration,
    close: watch::Sender<bool>,
) {
    if stopping.wait_for(|stopping| *stopping).await.is_ok() {
        tokio::time::sleep(grace).await;
    }
    close.send_replace(true);
}
