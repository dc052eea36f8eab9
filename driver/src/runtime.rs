//! What an async runtime must supply: socket readiness, a timer and a way to spawn the
//! driver task. Everything else (the driver loop, connections, streams) is shared.

use std::fmt::Debug;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::Pin;
use std::task::{Context, Poll};

/// Which readiness a non-blocking call consumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    /// A receive.
    Readable,
    /// A send.
    Writable,
}

/// A UDP socket registered with a runtime's reactor. `AsFd` lets a busy-polling driver
/// (see [`EndpointOptions::busy_poll`](crate::EndpointOptions::busy_poll)) receive without
/// waiting for the reactor to report readiness.
pub trait AsyncUdpSocket: AsFd + Send + Sync + Debug + 'static {
    /// Ready when a receive may succeed; registers `cx` to be woken otherwise.
    fn poll_readiness(&self, interest: Interest, cx: &mut Context<'_>) -> Poll<io::Result<()>>;

    /// Runs one non-blocking socket call. When it fails with `WouldBlock` the runtime
    /// forgets its readiness, so the next [`AsyncUdpSocket::poll_readiness`] waits.
    fn try_io<R>(&self, interest: Interest, op: impl FnOnce(BorrowedFd<'_>) -> io::Result<R>) -> io::Result<R>;

    /// The address the socket is bound to.
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

/// A one-shot timer that can be moved.
pub trait AsyncTimer: Send + Debug + 'static {
    /// Moves the deadline (earlier or later).
    fn reset(self: Pin<&mut Self>, deadline: std::time::Instant);
    /// Ready once the deadline has passed.
    fn poll_elapsed(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()>;
}

/// An async runtime as the adapters see it.
pub trait Runtime: Send + Sync + Debug + Clone + 'static {
    /// The runtime's socket type.
    type Socket: AsyncUdpSocket;
    /// The runtime's timer type.
    type Timer: AsyncTimer;

    /// The runtime the calling task runs on (an error outside one).
    fn current() -> io::Result<Self>;
    /// Registers a bound standard socket with the reactor.
    fn wrap_socket(&self, socket: std::net::UdpSocket) -> io::Result<Self::Socket>;
    /// A timer that first fires at `deadline`.
    fn new_timer(&self, deadline: std::time::Instant) -> Self::Timer;
    /// Runs the driver task in the background.
    fn spawn(&self, task: Pin<Box<dyn Future<Output = ()> + Send>>);
    /// Has the task `cx` belongs to polled again soon, after the runtime's other ready work:
    /// how a busy-polling driver yields instead of sleeping. The default wakes it at once.
    fn yield_now(&self, cx: &mut Context<'_>) {
        cx.waker().wake_by_ref();
    }
}
