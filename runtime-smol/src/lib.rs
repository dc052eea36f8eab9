//! # jetstream-smol
//!
//! JetStreamProto on smol's reactor (async-io): post-quantum encrypted, multiplexed streams
//! and unreliable datagrams over one UDP socket, with GSO/GRO and `recvmmsg` batching.
//! Streams implement `futures_io::AsyncRead`/`AsyncWrite`. async-std runs on the same
//! reactor, so this crate serves async-std programs too (async-std is deprecated in favour
//! of smol).
//!
//! Where the driver task runs: by default on smol's global executor, which works from any
//! executor. A thread that moves a lot of data should run the driver on its own executor
//! ([`SmolRuntime::with_executor`] with `Endpoint::with_runtime`, then
//! `smol::block_on(executor.run(...))`): stream calls then wake the driver on the same
//! thread instead of another (see the loopback benchmark in BENCHMARKS.md).
//!
//! ```no_run
//! use jetstream_smol::{Endpoint, EndpointOptions, ServerConfig, StaticKeypair};
//! use futures_lite::AsyncWriteExt;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! smol::block_on(async {
//!     let key = StaticKeypair::from_secret_bytes(jetstream_smol::random_seed()?);
//!     let server_key = key.public_key();
//!     let server = Endpoint::bind("127.0.0.1:0".parse()?, EndpointOptions::server(ServerConfig::new(key))?)?;
//!     let server_addr = server.local_addr()?;
//!     smol::spawn(async move {
//!         while let Some(conn) = server.accept().await {
//!             smol::spawn(async move {
//!                 while let Ok((mut send, mut recv)) = conn.accept_bi().await {
//!                     let _ = futures_lite::io::copy(&mut recv, &mut send).await; // echo
//!                 }
//!             })
//!             .detach();
//!         }
//!     })
//!     .detach();
//!
//!     let client = Endpoint::bind("127.0.0.1:0".parse()?, EndpointOptions::client()?)?;
//!     let conn = client.connect(server_addr, server_key).await?;
//!     let (mut send, mut recv) = conn.open_bi().await?;
//!     send.write_all(b"hello").await?;
//!     send.close().await?;
//!     assert_eq!(recv.read_to_end(1 << 20).await?, b"hello");
//!     Ok(())
//! })
//! # }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_io::{Async, Timer};
use jetstream_driver::{AsyncTimer, AsyncUdpSocket, Interest};
use smol::Executor;

pub use jetstream_driver::prelude::*;

/// A JetStreamProto endpoint driven by smol (see [`jetstream_driver::Endpoint`]).
pub type Endpoint = jetstream_driver::Endpoint<SmolRuntime>;

/// smol as a [`jetstream_driver::Runtime`]: async-io's reactor and timers. The driver task
/// runs on smol's global executor by default, so it works whichever executor the caller
/// uses; [`SmolRuntime::with_executor`] puts it on an executor of your own instead.
#[derive(Debug, Clone, Default)]
pub struct SmolRuntime {
    executor: Option<Arc<Executor<'static>>>,
}

impl SmolRuntime {
    /// Runs the driver task on `executor`. When the thread that reads and writes the
    /// streams also runs that executor (`smol::block_on(executor.run(...))`), stream calls
    /// wake the driver on the same thread instead of another one.
    ///
    /// The executor must outlive the endpoint and keep being run: an executor that is
    /// dropped cancels the driver task and one that nobody runs never polls it, and either
    /// way the endpoint's calls wait forever.
    pub fn with_executor(executor: Arc<Executor<'static>>) -> Self {
        SmolRuntime { executor: Some(executor) }
    }
}

impl jetstream_driver::Runtime for SmolRuntime {
    type Socket = SmolSocket;
    type Timer = SmolTimer;

    fn current() -> io::Result<Self> {
        Ok(SmolRuntime::default())
    }

    fn wrap_socket(&self, socket: std::net::UdpSocket) -> io::Result<SmolSocket> {
        Ok(SmolSocket(Async::new(socket)?))
    }

    fn new_timer(&self, deadline: std::time::Instant) -> SmolTimer {
        SmolTimer(Timer::at(deadline))
    }

    fn spawn(&self, task: Pin<Box<dyn Future<Output = ()> + Send>>) {
        match &self.executor {
            Some(executor) => executor.spawn(task).detach(),
            None => smol::spawn(task).detach(),
        }
    }
}

/// A UDP socket on async-io's reactor.
#[derive(Debug)]
pub struct SmolSocket(Async<std::net::UdpSocket>);

impl AsFd for SmolSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.get_ref().as_fd()
    }
}

impl AsyncUdpSocket for SmolSocket {
    fn poll_readiness(&self, interest: Interest, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match interest {
            Interest::Readable => self.0.poll_readable(cx),
            Interest::Writable => self.0.poll_writable(cx),
        }
    }

    /// async-io tracks readiness by reactor ticks: a `WouldBlock` needs no bookkeeping, the
    /// next `poll_readiness` waits for a new event.
    fn try_io<R>(&self, _interest: Interest, op: impl FnOnce(BorrowedFd<'_>) -> io::Result<R>) -> io::Result<R> {
        op(self.0.get_ref().as_fd())
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().local_addr()
    }
}

/// async-io's `Timer` as the driver's timer.
#[derive(Debug)]
pub struct SmolTimer(Timer);

impl AsyncTimer for SmolTimer {
    fn reset(mut self: Pin<&mut Self>, deadline: std::time::Instant) {
        self.0.set_at(deadline);
    }

    fn poll_elapsed(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}
