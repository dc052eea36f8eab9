//! Batched UDP I/O on top of quinn-udp: `recvmmsg` with GRO on the way in, GSO
//! (`UDP_SEGMENT`) on the way out, and a per-segment fallback when the kernel refuses GSO.
//!
//! All `unsafe` socket code lives in quinn-udp; this module only sizes buffers, splits GRO
//! batches into datagrams and decides what a send error means.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::AsFd;

use jetstream_core::{EcnCodepoint, RecvMeta};
use quinn_udp::{BATCH_SIZE, UdpSockRef, UdpSocketState};

/// Largest UDP payload the kernel hands over in one GRO buffer (the IP length field's limit).
const MAX_GRO_BUFFER: usize = 64 * 1024;
/// Receive slot size without GRO: the largest datagram JetStreamProto accepts fits.
const MAX_DATAGRAM: usize = 1500;

/// Socket options asked of the kernel when an endpoint binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketConfig {
    /// Send runs of equal-size datagrams with one GSO call. When off, every datagram is
    /// its own `sendmsg`; when on and the kernel refuses, the socket falls back by itself.
    pub gso: bool,
    /// Requested `SO_SNDBUF` in bytes (the kernel may grant less; see [`SocketReport`]).
    pub send_buffer_size: usize,
    /// Requested `SO_RCVBUF` in bytes.
    pub recv_buffer_size: usize,
}

impl Default for SocketConfig {
    /// GSO on and 8 MiB buffers: a 10 Gbit/s flow with 5 ms of queueing fits.
    fn default() -> Self {
        SocketConfig { gso: true, send_buffer_size: 8 << 20, recv_buffer_size: 8 << 20 }
    }
}

/// What the kernel granted when the socket was set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketReport {
    /// `SO_SNDBUF` as the kernel reports it (Linux reports twice the usable size).
    pub send_buffer_size: usize,
    /// `SO_RCVBUF` as the kernel reports it.
    pub recv_buffer_size: usize,
    /// Datagrams per GSO send (1: GSO unavailable or turned off).
    pub max_gso_segments: usize,
    /// Datagrams the kernel may coalesce into one GRO receive (1: no GRO).
    pub gro_segments: usize,
}

/// Counters of the socket layer, for syscall-per-byte measurements and diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IoStats {
    /// `recvmmsg` calls that returned data.
    pub recv_calls: u64,
    /// `recvmmsg` calls that found nothing (`WouldBlock`): what busy polling costs, and
    /// readiness reported before the data was there.
    pub empty_recv_calls: u64,
    /// Datagrams received (GRO batches counted per segment).
    pub datagrams_received: u64,
    /// `sendmsg` calls that succeeded.
    pub send_calls: u64,
    /// Datagrams sent (GSO batches counted per segment).
    pub datagrams_sent: u64,
    /// GSO batches the kernel refused and that were re-sent one datagram at a time.
    pub gso_fallbacks: u64,
    /// Datagrams lost to other send errors (unreachable peer, full device queue...). UDP
    /// is lossy anyway: the protocol's loss recovery resends what mattered.
    pub send_errors: u64,
}

/// A datagram (or a GSO run of equal-size datagrams) to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outgoing<'a> {
    /// Where to.
    pub destination: SocketAddr,
    /// The bytes: one datagram, or several of `segment_size` bytes (the last may be shorter).
    pub contents: &'a [u8],
    /// Set for a GSO run.
    pub segment_size: Option<usize>,
}

/// What one batched receive found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Datagrams handed over (a GRO buffer counts each datagram in it).
    pub datagrams: usize,
    /// The batch had room to spare, so the socket's queue was empty when read: another
    /// receive now would only report `WouldBlock`. A datagram arriving later raises the
    /// socket's readiness again (epoll reports every arrival), so a driver can go back to
    /// waiting without that extra call, one syscall less on every wake-up.
    pub drained: bool,
}

/// Receive buffers and the quinn-udp socket state of one UDP socket.
#[derive(Debug)]
pub struct BatchedUdp {
    state: UdpSocketState,
    gso: bool,
    slot_size: usize,
    recv_buf: Box<[u8]>,
    metas: [quinn_udp::RecvMeta; BATCH_SIZE],
    stats: IoStats,
}

impl BatchedUdp {
    /// Prepares `socket` (non-blocking, buffer sizes, GRO) and reports what the kernel granted.
    pub fn new(socket: &impl AsFd, config: &SocketConfig) -> io::Result<(Self, SocketReport)> {
        let state = UdpSocketState::new(UdpSockRef::from(socket))?;
        // A kernel that grants less than asked is not an error: the report says what we got.
        if let Err(e) = state.set_send_buffer_size(UdpSockRef::from(socket), config.send_buffer_size) {
            tracing::debug!("SO_SNDBUF {} refused: {e}", config.send_buffer_size);
        }
        if let Err(e) = state.set_recv_buffer_size(UdpSockRef::from(socket), config.recv_buffer_size) {
            tracing::debug!("SO_RCVBUF {} refused: {e}", config.recv_buffer_size);
        }
        let gro_segments = state.gro_segments();
        let slot_size = if gro_segments > 1 { MAX_GRO_BUFFER } else { MAX_DATAGRAM };
        let udp = BatchedUdp {
            gso: config.gso,
            slot_size,
            recv_buf: vec![0; slot_size * BATCH_SIZE].into_boxed_slice(),
            metas: [quinn_udp::RecvMeta::default(); BATCH_SIZE],
            stats: IoStats::default(),
            state,
        };
        let report = SocketReport {
            send_buffer_size: udp.state.send_buffer_size(UdpSockRef::from(socket))?,
            recv_buffer_size: udp.state.recv_buffer_size(UdpSockRef::from(socket))?,
            max_gso_segments: udp.max_gso_segments(),
            gro_segments,
        };
        Ok((udp, report))
    }

    /// Datagrams per GSO send right now: 1 when GSO is off, unsupported, or was refused.
    pub fn max_gso_segments(&self) -> usize {
        if self.gso { self.state.max_gso_segments() } else { 1 }
    }

    /// Counters since the socket was set up.
    pub fn stats(&self) -> IoStats {
        self.stats
    }

    /// One `recvmmsg` (up to [`BATCH_SIZE`] buffers, each possibly a GRO batch), handing every
    /// datagram to `deliver`; `WouldBlock` when none waited.
    pub fn recv(&mut self, socket: &impl AsFd, mut deliver: impl FnMut(RecvMeta, &mut [u8])) -> io::Result<Received> {
        let mut chunks = self.recv_buf.chunks_mut(self.slot_size);
        let mut slices: [IoSliceMut<'_>; BATCH_SIZE] =
            std::array::from_fn(|_| IoSliceMut::new(chunks.next().expect("recv_buf holds BATCH_SIZE slots")));
        let filled = match self.state.recv(UdpSockRef::from(socket), &mut slices, &mut self.metas) {
            Ok(filled) => filled,
            Err(e) => {
                self.stats.empty_recv_calls += u64::from(e.kind() == io::ErrorKind::WouldBlock);
                return Err(e);
            }
        };
        self.stats.recv_calls += 1;
        let mut datagrams = 0;
        for (meta, slice) in self.metas.iter().zip(slices.iter_mut()).take(filled) {
            let ours = RecvMeta { source: meta.addr, destination: meta.dst_ip, ecn: meta.ecn.map(ecn_from_quinn) };
            // A GRO buffer holds datagrams of `stride` bytes each (the last may be shorter).
            let stride = if meta.stride == 0 { meta.len } else { meta.stride };
            // quinn-udp never reports more than the slot holds; the bound keeps it so.
            let len = meta.len.min(slice.len());
            for datagram in slice[..len].chunks_mut(stride.max(1)) {
                deliver(ours, datagram);
                datagrams += 1;
            }
        }
        self.stats.datagrams_received += datagrams as u64;
        // Only where quinn-udp reads with `recvmmsg` does a short batch mean an empty queue;
        // elsewhere it may read one message per call whatever BATCH_SIZE says. (A batch cut
        // short by a socket error leaves the error pending, and that raises readiness again.)
        let batched = cfg!(any(target_os = "linux", target_os = "android", target_os = "freebsd"));
        Ok(Received { datagrams, drained: batched && filled < BATCH_SIZE })
    }

    /// Sends one transmit. Only `WouldBlock` comes back as an error (try again when writable,
    /// nothing was sent). Other errors drop the datagrams and are counted: UDP may lose them
    /// anyway and loss recovery resends. When the kernel refuses a GSO batch (EIO/EINVAL, e.g.
    /// a device without checksum offload), quinn-udp turns GSO off for the socket and the
    /// batch is re-sent one datagram at a time.
    pub fn send(&mut self, socket: &impl AsFd, out: Outgoing<'_>) -> io::Result<()> {
        let segment_size = out.segment_size.filter(|&s| s < out.contents.len());
        match self.try_send(socket, out.destination, out.contents, segment_size) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(e),
            Err(e) if segment_size.is_some() && is_gso_refusal(&e) => {
                tracing::info!("kernel refused GSO ({e}); sending datagrams one at a time");
                self.stats.gso_fallbacks += 1;
                self.gso = false;
                for datagram in out.contents.chunks(segment_size.unwrap_or(out.contents.len())) {
                    if let Err(e) = self.try_send(socket, out.destination, datagram, None) {
                        self.count_send_error(&e);
                    }
                }
                Ok(())
            }
            Err(e) => {
                self.count_send_error(&e);
                Ok(())
            }
        }
    }

    fn try_send(
        &mut self,
        socket: &impl AsFd,
        destination: SocketAddr,
        contents: &[u8],
        segment_size: Option<usize>,
    ) -> io::Result<()> {
        let transmit = quinn_udp::Transmit { destination, ecn: None, contents, segment_size, src_ip: None };
        self.state.try_send(UdpSockRef::from(socket), &transmit)?;
        self.stats.send_calls += 1;
        self.stats.datagrams_sent += segment_size.map_or(1, |s| contents.len().div_ceil(s)) as u64;
        Ok(())
    }

    fn count_send_error(&mut self, e: &io::Error) {
        self.stats.send_errors += 1;
        tracing::debug!("datagram dropped by a send error: {e}");
    }
}

fn is_gso_refusal(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EIO) | Some(libc::EINVAL))
}

fn ecn_from_quinn(ecn: quinn_udp::EcnCodepoint) -> EcnCodepoint {
    match ecn {
        quinn_udp::EcnCodepoint::Ect0 => EcnCodepoint::Ect0,
        quinn_udp::EcnCodepoint::Ect1 => EcnCodepoint::Ect1,
        quinn_udp::EcnCodepoint::Ce => EcnCodepoint::Ce,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    fn pair(config: &SocketConfig) -> (UdpSocket, BatchedUdp, UdpSocket, BatchedUdp) {
        let a = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let b = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let (ua, _) = BatchedUdp::new(&a, config).expect("socket a");
        let (ub, _) = BatchedUdp::new(&b, config).expect("socket b");
        (a, ua, b, ub)
    }

    /// Receives until `want` datagrams arrived or two seconds passed.
    fn recv_all(socket: &UdpSocket, udp: &mut BatchedUdp, want: usize) -> Vec<Vec<u8>> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let mut got = Vec::new();
        while got.len() < want && std::time::Instant::now() < deadline {
            match udp.recv(socket, |_, d| got.push(d.to_vec())) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(1))
                }
                Err(e) => panic!("recv: {e}"),
            }
        }
        got
    }

    #[test]
    fn report_states_what_the_kernel_granted() {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let (_, report) = BatchedUdp::new(&socket, &SocketConfig::default()).expect("setup");
        assert!(report.send_buffer_size > 0 && report.recv_buffer_size > 0, "{report:?}");
        assert!(report.max_gso_segments >= 1 && report.gro_segments >= 1, "{report:?}");
    }

    #[test]
    fn a_gso_run_arrives_as_separate_datagrams() {
        let (a, mut ua, b, mut ub) = pair(&SocketConfig::default());
        // Five 1000-byte datagrams and a 300-byte tail, each filled with its index.
        let contents: Vec<u8> = (0..5300).map(|i| (i / 1000) as u8).collect();
        let out =
            Outgoing { destination: b.local_addr().expect("addr"), contents: &contents, segment_size: Some(1000) };
        ua.send(&a, out).expect("send");
        let got = recv_all(&b, &mut ub, 6);
        assert_eq!(got.len(), 6);
        for (i, d) in got.iter().enumerate() {
            assert_eq!(d.len(), if i == 5 { 300 } else { 1000 });
            assert!(d.iter().all(|&x| x == i as u8), "datagram {i} intact and in order");
        }
        assert_eq!(ua.stats().datagrams_sent, 6);
        assert_eq!(ub.stats().datagrams_received, 6);
    }

    #[test]
    fn gso_turned_off_sends_the_same_datagrams() {
        let (a, mut ua, b, mut ub) = pair(&SocketConfig { gso: false, ..SocketConfig::default() });
        assert_eq!(ua.max_gso_segments(), 1);
        let contents = vec![7u8; 1200];
        let out = Outgoing { destination: b.local_addr().expect("addr"), contents: &contents, segment_size: None };
        ua.send(&a, out).expect("send");
        let got = recv_all(&b, &mut ub, 1);
        assert_eq!(got, vec![contents]);
    }

    /// A full batch may leave more behind; a short one emptied the queue.
    #[test]
    fn a_short_batch_says_the_queue_is_drained() {
        let (a, mut ua, b, mut ub) = pair(&SocketConfig::default());
        let destination = b.local_addr().expect("addr");
        let datagrams = BATCH_SIZE + 8;
        for i in 0..datagrams {
            let contents = [i as u8; 100];
            ua.send(&a, Outgoing { destination, contents: &contents, segment_size: None }).expect("send");
        }
        // Loopback delivers within the send call; wait only if this machine is slower.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let mut batches = Vec::new();
        let mut total = 0;
        while total < datagrams && std::time::Instant::now() < deadline {
            match ub.recv(&b, |_, _| {}) {
                Ok(r) => {
                    total += r.datagrams;
                    batches.push(r);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(1))
                }
                Err(e) => panic!("recv: {e}"),
            }
        }
        assert_eq!(total, datagrams);
        assert_eq!(batches[0], Received { datagrams: BATCH_SIZE, drained: false });
        assert_eq!(batches.last(), Some(&Received { datagrams: 8, drained: true }), "{batches:?}");
    }

    #[test]
    fn nothing_waiting_is_would_block() {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let (mut udp, _) = BatchedUdp::new(&socket, &SocketConfig::default()).expect("setup");
        let err = udp.recv(&socket, |_, _| panic!("no datagram was sent")).expect_err("empty socket");
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        assert_eq!((udp.stats().recv_calls, udp.stats().empty_recv_calls), (0, 1));
    }
}
