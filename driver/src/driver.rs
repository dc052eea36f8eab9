//! The driver loop, written once for every runtime: receive a batch, feed the endpoint, send
//! what it queued, keep its timer. Runtime adapters only say when the socket is ready and
//! when the deadline has come; everything here is a non-blocking call.

use std::io;
use std::os::fd::AsFd;

use jetstream_core::{Endpoint, Instant, Transmit};

use crate::udp::{BatchedUdp, IoStats, Outgoing, Received, SocketConfig, SocketReport};

/// `recvmmsg` calls per turn (each up to `quinn_udp::BATCH_SIZE` buffers): after this many
/// the driver sends and lets other tasks run, so a flood cannot starve the send path.
pub const RECV_CALLS_PER_TURN: usize = 8;
/// Transmits (each up to a GSO batch) per turn, so one busy connection cannot starve the
/// receive path or other tasks on the runtime.
pub const SENDS_PER_TURN: usize = 32;
/// Bytes of the transmit buffer: the largest UDP payload one GSO send may carry.
const TRANSMIT_BUFFER: usize = 65_000;

/// Maps the core's time (nanoseconds since the driver started) to the OS monotonic clock.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    epoch: std::time::Instant,
}

impl Clock {
    /// A clock whose zero is now.
    pub fn start() -> Self {
        Clock { epoch: std::time::Instant::now() }
    }

    /// The current time in the core's terms.
    pub fn now(&self) -> Instant {
        self.to_core(std::time::Instant::now())
    }

    /// An OS instant in the core's terms.
    pub fn to_core(&self, t: std::time::Instant) -> Instant {
        let nanos = t.saturating_duration_since(self.epoch).as_nanos();
        Instant::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// A core instant on the OS clock (for arming a runtime's timer).
    pub fn to_std(&self, t: Instant) -> std::time::Instant {
        self.epoch + t.since_epoch()
    }
}

/// Where a call to [`Driver::transmit`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    /// Everything queued was sent.
    Done,
    /// The socket's buffer is full: call again once it is writable.
    Blocked,
    /// The per-turn budget ran out with more to send: call again after yielding.
    Budget,
}

/// An endpoint bound to one UDP socket: the part of every adapter that is not about a
/// runtime.
#[derive(Debug)]
pub struct Driver {
    endpoint: Endpoint,
    udp: BatchedUdp,
    clock: Clock,
    report: SocketReport,
    transmit_buf: Box<[u8]>,
    /// A transmit the socket refused with `WouldBlock`: sent before anything new.
    pending: Option<Transmit>,
}

impl Driver {
    /// Sets up `socket` (see [`BatchedUdp::new`]) for `endpoint`, telling the endpoint how
    /// many GSO segments the socket takes.
    pub fn new(mut endpoint: Endpoint, socket: &impl AsFd, config: &SocketConfig) -> io::Result<Self> {
        let (udp, report) = BatchedUdp::new(socket, config)?;
        endpoint.set_max_gso_segments(udp.max_gso_segments());
        Ok(Driver {
            endpoint,
            udp,
            clock: Clock::start(),
            report,
            transmit_buf: vec![0; TRANSMIT_BUFFER].into_boxed_slice(),
            pending: None,
        })
    }

    /// The endpoint, for connecting and for calls on its connections.
    pub fn endpoint(&mut self) -> &mut Endpoint {
        &mut self.endpoint
    }

    /// The clock this driver hands to the endpoint.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// What the kernel granted when the socket was set up.
    pub fn socket_report(&self) -> SocketReport {
        self.report
    }

    /// Socket-layer counters (syscalls, datagrams, GSO fallbacks, send errors).
    pub fn io_stats(&self) -> IoStats {
        self.udp.stats()
    }

    /// One batched receive, fed to the endpoint; `WouldBlock` when the socket had none. ICMP
    /// errors reported on the socket (a peer's port unreachable...) are not the socket's
    /// failure: they count as zero datagrams, and more may wait.
    pub fn receive(&mut self, socket: &impl AsFd) -> io::Result<Received> {
        let now = self.clock.now();
        let endpoint = &mut self.endpoint;
        match self.udp.recv(socket, |meta, datagram| endpoint.handle_datagram(now, meta, datagram)) {
            Err(e) if is_icmp_report(&e) => {
                tracing::debug!("receive: {e}");
                Ok(Received { datagrams: 0, drained: false })
            }
            result => result,
        }
    }

    /// Sends what the endpoint has queued, up to [`SENDS_PER_TURN`] transmits.
    pub fn transmit(&mut self, socket: &impl AsFd) -> io::Result<Flush> {
        for _ in 0..SENDS_PER_TURN {
            let transmit = match self.pending.take() {
                Some(t) => t,
                None => {
                    let now = self.clock.now();
                    match self.endpoint.poll_transmit(now, &mut self.transmit_buf) {
                        Ok(Some(t)) => t,
                        Ok(None) => return Ok(Flush::Done),
                        Err(e) => return Err(io::Error::other(e)),
                    }
                }
            };
            let out = Outgoing {
                destination: transmit.destination,
                contents: &self.transmit_buf[..transmit.size],
                segment_size: transmit.segment_size,
            };
            match self.udp.send(socket, out) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.pending = Some(transmit);
                    return Ok(Flush::Blocked);
                }
                Err(e) => return Err(e),
            }
            // A refused GSO batch turns GSO off for the socket: stop building batches.
            if transmit.segment_size.is_some() && self.udp.max_gso_segments() == 1 {
                self.endpoint.set_max_gso_segments(1);
            }
        }
        Ok(Flush::Budget)
    }

    /// Fires the endpoint's timers if their deadline has passed.
    pub fn handle_timeout(&mut self) {
        let now = self.clock.now();
        if self.endpoint.poll_timeout().is_some_and(|deadline| deadline <= now) {
            self.endpoint.handle_timeout(now);
        }
    }

    /// When the endpoint next needs [`Driver::handle_timeout`], on the OS clock.
    pub fn next_deadline(&mut self) -> Option<std::time::Instant> {
        let clock = self.clock;
        self.endpoint.poll_timeout().map(|t| clock.to_std(t))
    }
}

/// Errors a UDP socket reports on receive when an ICMP message came back for an earlier send.
fn is_icmp_report(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
    )
}
