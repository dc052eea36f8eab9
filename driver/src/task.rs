//! The background task that runs one endpoint's [`Driver`](crate::Driver) on an async
//! runtime: receive, fire timers, send, turn events into wake-ups, sleep until the socket or
//! the deadline needs it. Bounded work per poll, then it yields.

use std::future::Future;
use std::io;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::busy_poll::BusyPoll;
use crate::driver::{Flush, RECV_CALLS_PER_TURN};
use crate::runtime::{AsyncTimer, AsyncUdpSocket, Interest, Runtime};
use crate::state::{Shared, State, lock};

pub(crate) struct DriverTask<R: Runtime> {
    shared: Shared,
    io: TaskIo<R>,
}

/// The task's socket and timer: what a turn works with besides the locked state.
struct TaskIo<R: Runtime> {
    runtime: R,
    socket: Arc<R::Socket>,
    timer: Pin<Box<R::Timer>>,
    armed: Option<Instant>,
    busy_poll: Option<BusyPoll>,
    /// The busy-polling window was open when the last turn ended: receive without waiting
    /// for the reactor.
    polling: bool,
}

impl<R: Runtime> DriverTask<R> {
    pub(crate) fn new(runtime: &R, shared: Shared, socket: Arc<R::Socket>, busy_poll: Option<Duration>) -> Self {
        let timer = Box::pin(runtime.new_timer(Instant::now()));
        let busy_poll = busy_poll.and_then(BusyPoll::new);
        let io = TaskIo { runtime: runtime.clone(), socket, timer, armed: None, busy_poll, polling: false };
        DriverTask { shared, io }
    }
}

/// How a turn ended.
enum Turn {
    /// Work may be left (budget spent or a deadline already due): poll again soon.
    Again,
    /// Everything is waiting on the socket or the timer.
    Wait,
    /// The endpoint is gone: no handles, no connections.
    Finished,
}

// Nothing in the task is pinned in place (the timer is boxed), so it may move.
impl<R: Runtime> Unpin for DriverTask<R> {}

impl<R: Runtime> Future for DriverTask<R> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let DriverTask { shared, io } = self.get_mut();
        let mut state = lock(shared);
        state.driver_task.register(cx.waker());
        let turn = io.turn(&mut state, cx);
        io.polling = io.keeps_polling(&state);
        match turn {
            Ok(Turn::Again) => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Ok(Turn::Wait) => {
                if io.polling {
                    // Poll again after the other ready tasks instead of sleeping.
                    io.runtime.yield_now(cx);
                }
                Poll::Pending
            }
            Ok(Turn::Finished) => Poll::Ready(()),
            Err(e) => {
                tracing::error!("endpoint socket failed: {e}");
                state.fail(&e);
                Poll::Ready(())
            }
        }
    }
}

impl<R: Runtime> TaskIo<R> {
    /// Whether busy polling goes on after this turn (see `EndpointOptions::busy_poll`).
    fn keeps_polling(&mut self, state: &State) -> bool {
        self.busy_poll.as_mut().is_some_and(|busy| busy.still_polling(&state.driver.io_stats()))
    }

    fn turn(&mut self, state: &mut State, cx: &mut Context<'_>) -> io::Result<Turn> {
        let mut again = self.receive(state, cx)?;
        state.driver.handle_timeout();
        again |= self.transmit(state, cx)?;
        state.dispatch_events();
        if state.closed.is_some() {
            close_unowned(state);
            if state.endpoint_handles == 0 && state.is_idle() {
                return Ok(Turn::Finished);
            }
        }
        if let Some(deadline) = state.driver.next_deadline() {
            if self.armed != Some(deadline) {
                self.timer.as_mut().reset(deadline);
                self.armed = Some(deadline);
            }
            if self.timer.as_mut().poll_elapsed(cx).is_ready() {
                self.armed = None;
                again = true;
            }
        }
        Ok(if again { Turn::Again } else { Turn::Wait })
    }

    /// Up to [`RECV_CALLS_PER_TURN`] batched receives. True when the budget ran out first.
    fn receive(&mut self, state: &mut State, cx: &mut Context<'_>) -> io::Result<bool> {
        for _ in 0..RECV_CALLS_PER_TURN {
            match self.socket.poll_readiness(Interest::Readable, cx) {
                Poll::Ready(result) => result?,
                Poll::Pending if self.polling => {
                    // Busy polling: look without waiting for the reactor (which only learns
                    // of a datagram when the thread next parks). A spurious readiness this
                    // leaves behind costs one `WouldBlock` later.
                    match state.driver.receive(&self.socket.as_fd()) {
                        Ok(received) if !received.drained => continue,
                        Ok(_) => return Ok(false),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                        Err(e) => return Err(e),
                    }
                }
                Poll::Pending => return Ok(false),
            }
            let received = self.socket.try_io(Interest::Readable, |fd| {
                let received = state.driver.receive(&fd)?;
                // A short batch emptied the queue: clear the readiness now instead of learning
                // it from one more receive. The runtime only clears readiness it has not seen
                // renewed, so a datagram that arrived meanwhile is not missed.
                if received.drained { Err(io::ErrorKind::WouldBlock.into()) } else { Ok(()) }
            });
            match received {
                Ok(()) => {}
                // Readiness is cleared; the next poll_readiness registers for the next datagram.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Sends until the endpoint has nothing queued, the socket is full, or the budget ran
    /// out (true).
    fn transmit(&mut self, state: &mut State, cx: &mut Context<'_>) -> io::Result<bool> {
        // Two rounds: a `WouldBlock` clears the readiness, and the second poll_readiness
        // either finds the socket writable again or registers for it.
        for _ in 0..2 {
            match self.socket.poll_readiness(Interest::Writable, cx) {
                Poll::Ready(result) => result?,
                Poll::Pending => return Ok(false),
            }
            let sent = self.socket.try_io(Interest::Writable, |fd| match state.driver.transmit(&fd)? {
                Flush::Blocked => Err(io::ErrorKind::WouldBlock.into()),
                flush => Ok(flush),
            });
            match sent {
                Ok(Flush::Done) => return Ok(false),
                Ok(Flush::Budget) => return Ok(true),
                Ok(Flush::Blocked) => unreachable!("mapped to WouldBlock above"),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }
}

/// A closed endpoint accepts nothing: connections that completed their handshake since are
/// closed at once, so nothing lingers unowned and the task can end.
fn close_unowned(state: &mut State) {
    let now = state.driver.clock().now();
    while let Some(handle) = state.incoming.pop_front() {
        if let Some(conn) = state.core(handle) {
            conn.close(now, 0, b"endpoint closed");
        }
    }
}
