//! # jetstream-tokio
//!
//! JetStreamProto on tokio: post-quantum encrypted, multiplexed streams and unreliable
//! datagrams over one UDP socket, with GSO/GRO and `recvmmsg` batching. Streams implement
//! `tokio::io::AsyncRead`/`AsyncWrite`. Works on the current-thread and the multi-thread
//! runtime.
//!
//! ```no_run
//! use jetstream_tokio::{Endpoint, EndpointOptions, ServerConfig, StaticKeypair};
//! use tokio::io::AsyncWriteExt;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // Server: a static key the clients pin.
//! let key = StaticKeypair::from_secret_bytes(jetstream_tokio::random_seed()?);
//! let server_key = key.public_key();
//! let server = Endpoint::bind("127.0.0.1:0".parse()?, EndpointOptions::server(ServerConfig::new(key))?)?;
//! let server_addr = server.local_addr()?;
//! tokio::spawn(async move {
//!     while let Some(conn) = server.accept().await {
//!         tokio::spawn(async move {
//!             while let Ok((mut send, mut recv)) = conn.accept_bi().await {
//!                 let _ = tokio::io::copy(&mut recv, &mut send).await; // echo
//!             }
//!         });
//!     }
//! });
//!
//! // Client.
//! let client = Endpoint::bind("127.0.0.1:0".parse()?, EndpointOptions::client()?)?;
//! let conn = client.connect(server_addr, server_key).await?;
//! let (mut send, mut recv) = conn.open_bi().await?;
//! send.write_all(b"hello").await?;
//! send.shutdown().await?;
//! let echoed = recv.read_to_end(1 << 20).await?; // at most 1 MiB
//! assert_eq!(echoed, b"hello");
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use jetstream_driver::{AsyncTimer, AsyncUdpSocket, Interest};

pub use jetstream_driver::prelude::*;

/// A JetStreamProto endpoint driven by tokio (see [`jetstream_driver::Endpoint`]).
pub type Endpoint = jetstream_driver::Endpoint<TokioRuntime>;

/// tokio as a [`jetstream_driver::Runtime`]: the runtime the endpoint was created on.
#[derive(Debug, Clone)]
pub struct TokioRuntime(tokio::runtime::Handle);

impl TokioRuntime {
    /// A specific runtime (to create endpoints from outside it).
    pub fn new(handle: tokio::runtime::Handle) -> Self {
        TokioRuntime(handle)
    }
}

impl jetstream_driver::Runtime for TokioRuntime {
    type Socket = TokioSocket;
    type Timer = TokioTimer;

    fn current() -> io::Result<Self> {
        tokio::runtime::Handle::try_current().map(TokioRuntime).map_err(io::Error::other)
    }

    fn wrap_socket(&self, socket: std::net::UdpSocket) -> io::Result<TokioSocket> {
        let _guard = self.0.enter();
        socket.set_nonblocking(true)?;
        Ok(TokioSocket(tokio::net::UdpSocket::from_std(socket)?))
    }

    fn new_timer(&self, deadline: std::time::Instant) -> TokioTimer {
        let _guard = self.0.enter();
        TokioTimer(Box::pin(tokio::time::sleep_until(deadline.into())))
    }

    fn spawn(&self, task: Pin<Box<dyn Future<Output = ()> + Send>>) {
        self.0.spawn(task);
    }

    /// tokio's own yield: the task runs again after the scheduler has polled the reactor
    /// and the `block_on` future, so busy polling does not starve a `LocalSet`'s tasks
    /// (a plain self-wake would only let them run once every `event_interval` polls).
    fn yield_now(&self, cx: &mut Context<'_>) {
        let mut yielded = std::pin::pin!(tokio::task::yield_now());
        let _ = yielded.as_mut().poll(cx);
    }
}

/// A UDP socket on tokio's reactor.
#[derive(Debug)]
pub struct TokioSocket(tokio::net::UdpSocket);

fn tokio_interest(interest: Interest) -> tokio::io::Interest {
    match interest {
        Interest::Readable => tokio::io::Interest::READABLE,
        Interest::Writable => tokio::io::Interest::WRITABLE,
    }
}

impl AsFd for TokioSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl AsyncUdpSocket for TokioSocket {
    fn poll_readiness(&self, interest: Interest, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match interest {
            Interest::Readable => self.0.poll_recv_ready(cx),
            Interest::Writable => self.0.poll_send_ready(cx),
        }
    }

    fn try_io<R>(&self, interest: Interest, op: impl FnOnce(BorrowedFd<'_>) -> io::Result<R>) -> io::Result<R> {
        self.0.try_io(tokio_interest(interest), || op(self.0.as_fd()))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// tokio's `Sleep` as the driver's timer.
#[derive(Debug)]
pub struct TokioTimer(Pin<Box<tokio::time::Sleep>>);

impl AsyncTimer for TokioTimer {
    fn reset(mut self: Pin<&mut Self>, deadline: std::time::Instant) {
        self.0.as_mut().reset(deadline.into());
    }

    fn poll_elapsed(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}
