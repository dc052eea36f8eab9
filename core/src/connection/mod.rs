//! A connection: handshake, packet protection, reliability, streams and datagrams.
//!
//! Connections are owned by the [`Endpoint`](crate::Endpoint), which routes datagrams to
//! them and drains their output. The application reaches one through
//! [`Endpoint::connection`](crate::Endpoint::connection) to open streams, read, write and
//! close. Methods are grouped as in quinn-proto: getters, application calls, `handle_*`
//! (input from the endpoint), and `poll_*` (output).

mod datagrams;
mod key_update;
pub(crate) mod pacing;
mod paths;
mod recovery;
pub(crate) mod rtt;
mod send;
mod sent;
mod spaces;
mod stats;
pub(crate) mod streams;
mod timers;

pub use datagrams::SendDatagramError;
pub use stats::ConnectionStats;
pub use streams::{ReadError, StreamEvent, WriteError, priority};

use crate::config::{ClientConfig, TransportConfig};
use crate::congestion::Controller;
use crate::crypto::{
    self, CipherSuite, ClientHandshake, DirectionalKeys, HandshakeError, PublicKey, ServerHandshake, StaticKeypair,
};
use crate::frame::{self, Frame, FrameIter};
use crate::packet::{self, ConnectionId, HeaderForm, LongType, PartialPacket};
use crate::stream::{Dir, Side, StreamId};
use crate::time::{Duration, Instant};
use crate::transport_error::TransportErrorCode;
use crate::transport_params::{SuiteList, TransportParameters};
use bytes::Bytes;
use datagrams::DatagramState;
use key_update::{KeyPhase, RecvKey};
use pacing::Pacer;
use paths::Path;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use rtt::RttEstimator;
use spaces::{PacketSpace, SpaceId, SpaceKeys};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use streams::{LocalLimits, PeerLimits, StreamsState};
use thiserror::Error;
use timers::{Timer, TimerTable};

/// Something that happened on a connection, for the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The handshake completed: streams and datagrams can be used.
    Connected,
    /// The handshake failed; the connection is gone (a `Drained` event follows).
    HandshakeFailed(ConnectionError),
    /// An established connection ended (a `Drained` event follows once its state is freed).
    ConnectionLost(ConnectionError),
    /// A stream event.
    Stream(StreamEvent),
    /// Unreliable datagrams arrived while none were waiting: fetch them all with
    /// [`Connection::recv_datagram`] (one event per batch, like stream readability).
    DatagramReceived,
    /// The peer's address changed and the new path was validated.
    PeerAddressChanged {
        /// The new address.
        new: SocketAddr,
    },
    /// The connection's state was released; its handle is no longer valid.
    Drained,
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConnectionError {
    /// The server does not speak our protocol version.
    #[error("server does not support protocol version {0:#x}")]
    VersionMismatch(u32),
    /// The handshake failed locally.
    #[error("handshake failed: {0}")]
    Handshake(HandshakeError),
    /// This side detected a protocol violation and closed the connection.
    #[error("transport error {code}: {reason}")]
    TransportError {
        /// The error code sent to the peer.
        code: TransportErrorCode,
        /// What went wrong.
        reason: String,
    },
    /// The peer closed the connection with a transport error code.
    #[error("closed by peer: {code}: {reason}")]
    ConnectionClosed {
        /// The peer's error code.
        code: TransportErrorCode,
        /// The peer's reason text.
        reason: String,
    },
    /// The peer's application closed the connection.
    #[error("closed by peer application: code {code}: {reason:?}")]
    ApplicationClosed {
        /// The application's error code.
        code: u64,
        /// The application's reason.
        reason: Bytes,
    },
    /// No packet from the peer within the idle timeout.
    #[error("timed out")]
    TimedOut,
    /// This side closed the connection.
    #[error("closed locally")]
    LocallyClosed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Handshake,
    Established,
    /// We closed: answer incoming packets with the close frame until the timer ends.
    Closing,
    /// The peer closed: stay silent until the timer ends.
    Draining,
    /// Done; the endpoint frees the connection.
    Drained,
}

/// The close frame we send while closing.
#[derive(Debug, Clone)]
struct CloseFrame {
    application: bool,
    code: u64,
    frame_type: u64,
    reason: Bytes,
}

/// Handshake progress.
enum HandshakeStep {
    /// Client waiting for the ServerHello.
    Client(Box<ClientHandshake>),
    /// Server waiting for the complete ClientHello.
    ServerAwaitingHello(Arc<StaticKeypair>),
    /// Server read an authentic ClientHello; the endpoint's accept policy decides next.
    ServerAwaitingDecision(Box<ServerHandshake>, TransportParameters),
    Done,
}

impl core::fmt::Debug for HandshakeStep {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            HandshakeStep::Client(_) => "Client",
            HandshakeStep::ServerAwaitingHello(_) => "ServerAwaitingHello",
            HandshakeStep::ServerAwaitingDecision(..) => "ServerAwaitingDecision",
            HandshakeStep::Done => "Done",
        })
    }
}

/// One connection's complete protocol state.
#[derive(Debug)]
pub struct Connection {
    side: Side,
    config: Arc<TransportConfig>,
    state: State,
    handshake: HandshakeStep,
    /// Client: HANDSHAKE_DONE arrived. Server: a 1-RTT packet from the client arrived.
    handshake_confirmed: bool,
    local_cid: ConnectionId,
    remote_cid: ConnectionId,
    /// The client's first destination ID: handshake keys derive from it.
    original_dcid: ConnectionId,
    /// The client learned the server's connection ID from its first packet.
    remote_cid_set: bool,
    peer_params: Option<TransportParameters>,
    suite: CipherSuite,
    spaces: [PacketSpace; 2],
    path: Path,
    /// The path before the peer moved, to fall back to if the new one fails validation.
    prev_path: Option<Path>,
    /// Size of the datagram being handled when it came from an address other than the path's.
    other_address_datagram: usize,
    path_response: Option<[u8; 8]>,
    rtt: RttEstimator,
    cc: Box<dyn Controller>,
    pacer: Pacer,
    bytes_in_flight: u64,
    pto_count: u32,
    timers: TimerTable,
    idle_timeout: Duration,
    /// An ack-eliciting packet was sent since the last packet was received (idle timer rule).
    sent_eliciting_since_receive: bool,
    streams: Option<StreamsState>,
    datagrams: DatagramState,
    events: VecDeque<Event>,
    stats: ConnectionStats,
    close: Option<CloseFrame>,
    close_pending: bool,
    /// Packets received while closing, to rate-limit close retransmissions.
    closing_packets: u64,
    ping_pending: bool,
    handshake_done_pending: bool,
    rng: ChaCha20Rng,
    /// Key phase of the 1-RTT keys, once they exist.
    key_phase: Option<KeyPhase>,
    mtu: u16,
    /// The endpoint should stop routing `original_dcid` to this connection.
    pub(crate) retire_original_dcid: bool,
    /// The server decided to refuse: send the close, then free the state at once.
    rejected: bool,
    client_key: Option<PublicKey>,
}

/// Outcome of handling one packet, for the endpoint's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PacketOutcome {
    Processed,
    NoKeys,
    Malformed,
    DecryptFailed,
    Duplicate,
    Ignored,
}

/// A datagram ready to send, described by [`Endpoint::poll_transmit`](crate::Endpoint::poll_transmit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send it.
    pub destination: SocketAddr,
    /// Bytes written into the caller's buffer.
    pub size: usize,
    /// When set, the buffer holds several datagrams of this size (the last may be shorter):
    /// send them with one GSO call, or split them.
    pub segment_size: Option<usize>,
}

/// `poll_transmit` was given a buffer that cannot hold a datagram of the connection's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("transmit buffer of {given} bytes is smaller than the {needed}-byte datagram size")]
pub struct BufferTooSmall {
    /// Bytes the buffer must have at least.
    pub needed: usize,
    /// Bytes it had.
    pub given: usize,
}

impl Transmit {
    /// Number of datagrams in this transmit.
    pub fn segments(&self) -> usize {
        self.segment_size.map_or(1, |s| self.size.div_ceil(s))
    }
}

const HANDSHAKE_PACKET_SIZE: usize = packet::MIN_INITIAL_SIZE;
/// Longest close reason sent, so a close frame always fits a packet.
const MAX_REASON_LEN: usize = 512;

/// The connection IDs a connection starts with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionIds {
    /// Ours: the peer sends to it.
    pub(crate) local: ConnectionId,
    /// The peer's (for a client, a random one until the server's first packet tells it).
    pub(crate) remote: ConnectionId,
    /// The client's first destination ID, from which the handshake-packet keys derive.
    pub(crate) original_dcid: ConnectionId,
}

impl Connection {
    fn new(
        side: Side,
        config: Arc<TransportConfig>,
        now: Instant,
        ids: ConnectionIds,
        remote: SocketAddr,
        mut rng: ChaCha20Rng,
        handshake: HandshakeStep,
    ) -> Result<Self, crypto::CryptoError> {
        let ConnectionIds { local: local_cid, remote: remote_cid, original_dcid } = ids;
        let (client_keys, server_keys) = crypto::initial_keys(config.crypto_backend, &original_dcid)?;
        let (local, remote_keys) = match side {
            Side::Client => (client_keys, server_keys),
            Side::Server => (server_keys, client_keys),
        };
        let mut spaces: [PacketSpace; 2] = Default::default();
        spaces[SpaceId::Handshake as usize].keys = Some(SpaceKeys { local, remote: remote_keys });
        let mtu = config.initial_mtu;
        let mut rtt = RttEstimator::new(config.initial_rtt);
        rtt.set_max_ack_delay(config.max_ack_delay);
        let cc = config.congestion_controller.build(now, mtu);
        let pacer = Pacer::new(rtt.smoothed(), cc.window(), mtu, now);
        let mut conn = Connection {
            side,
            state: State::Handshake,
            handshake,
            handshake_confirmed: false,
            local_cid,
            remote_cid,
            original_dcid,
            remote_cid_set: side == Side::Server,
            peer_params: None,
            suite: CipherSuite::ChaCha20Poly1305,
            spaces,
            path: Path::new(remote, side == Side::Client),
            prev_path: None,
            other_address_datagram: 0,
            path_response: None,
            rtt,
            cc,
            pacer,
            bytes_in_flight: 0,
            pto_count: 0,
            timers: TimerTable::default(),
            idle_timeout: config.max_idle_timeout,
            sent_eliciting_since_receive: false,
            streams: None,
            datagrams: DatagramState::default(),
            events: VecDeque::new(),
            stats: ConnectionStats::default(),
            close: None,
            close_pending: false,
            closing_packets: 0,
            ping_pending: false,
            handshake_done_pending: false,
            rng: ChaCha20Rng::from_seed({
                let mut s = [0u8; 32];
                rng.fill_bytes(&mut s);
                s
            }),
            key_phase: None,
            mtu,
            retire_original_dcid: false,
            rejected: false,
            client_key: None,
            config,
        };
        conn.reset_idle_timer(now);
        Ok(conn)
    }

    /// A client connection that has queued its ClientHello.
    pub(crate) fn new_client(
        now: Instant,
        config: &ClientConfig,
        local_cid: ConnectionId,
        remote: SocketAddr,
        mut rng: ChaCha20Rng,
    ) -> Result<Self, HandshakeError> {
        let mut dcid_bytes = [0u8; packet::LOCAL_CID_LEN];
        rng.fill_bytes(&mut dcid_bytes);
        let original_dcid = ConnectionId::new(&dcid_bytes).ok_or(HandshakeError::Malformed)?;
        let transport = config.transport.clone();
        let suites: &[CipherSuite] =
            if transport.prefer_aes && transport.crypto_backend.supports(CipherSuite::Aes256Gcm) {
                &[CipherSuite::Aes256Gcm, CipherSuite::ChaCha20Poly1305]
            } else {
                &[CipherSuite::ChaCha20Poly1305]
            };
        let params = local_params(&transport, local_cid, SuiteList::from_slice(suites));
        let mut eph = [0u8; 32];
        let mut kem = [0u8; 64];
        rng.fill_bytes(&mut eph);
        rng.fill_bytes(&mut kem);
        let (hs, hello) = ClientHandshake::start(
            transport.crypto_backend,
            config.server(),
            config.client_key.as_ref(),
            &params,
            eph,
            kem,
        )?;
        let ids = ConnectionIds { local: local_cid, remote: original_dcid, original_dcid };
        let mut conn =
            Connection::new(Side::Client, transport, now, ids, remote, rng, HandshakeStep::Client(Box::new(hs)))
                .map_err(HandshakeError::Crypto)?;
        conn.spaces[SpaceId::Handshake as usize].crypto_send.data = hello;
        conn.set_loss_detection_timer(now);
        Ok(conn)
    }

    /// A server connection for a client's first handshake packet.
    pub(crate) fn new_server(
        now: Instant,
        config: Arc<TransportConfig>,
        keypair: Arc<StaticKeypair>,
        ids: ConnectionIds,
        remote: SocketAddr,
        rng: ChaCha20Rng,
    ) -> Result<Self, crypto::CryptoError> {
        Connection::new(Side::Server, config, now, ids, remote, rng, HandshakeStep::ServerAwaitingHello(keypair))
    }

    // ----- getters -------------------------------------------------------------------------

    /// Which side of the connection this is.
    pub fn side(&self) -> Side {
        self.side
    }

    /// The peer's current address.
    pub fn remote_address(&self) -> SocketAddr {
        self.path.remote
    }

    /// The connection ID the peer uses to reach us.
    pub fn local_cid(&self) -> ConnectionId {
        self.local_cid
    }

    pub(crate) fn original_dcid(&self) -> ConnectionId {
        self.original_dcid
    }

    /// Whether the handshake completed and the connection is usable.
    pub fn is_established(&self) -> bool {
        self.state == State::Established
    }

    /// Whether the connection is closing, draining or gone.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closing | State::Draining | State::Drained)
    }

    pub(crate) fn is_drained(&self) -> bool {
        self.state == State::Drained
    }

    /// Whether any packet from the peer authenticated.
    pub(crate) fn has_received_anything(&self) -> bool {
        self.stats.packets_received > 0
    }

    /// Whether the application knows this connection, so its events are reported: clients
    /// always, servers once the handshake is confirmed.
    pub(crate) fn is_visible(&self) -> bool {
        self.side == Side::Client || self.handshake_confirmed
    }

    pub(crate) fn is_handshaking_server(&self) -> bool {
        !self.is_visible()
    }

    /// The cipher suite protecting 1-RTT packets.
    pub fn cipher_suite(&self) -> CipherSuite {
        self.suite
    }

    /// The client's authenticated static key (server side, when the client sent one).
    pub fn peer_static_key(&self) -> Option<PublicKey> {
        self.client_key
    }

    /// A snapshot of the connection's metrics.
    pub fn stats(&self) -> ConnectionStats {
        let mut s = self.stats;
        s.rtt = self.rtt.smoothed();
        s.latest_rtt = self.rtt.latest();
        s.min_rtt = self.rtt.min();
        s.rtt_var = self.rtt.variance();
        s.cwnd = self.cc.window();
        s.bytes_in_flight = self.bytes_in_flight;
        s.pacing_rate_bps =
            if self.config.pacing { self.pacer.pacing_rate_bps(self.rtt.smoothed(), self.cc.window()) } else { 0 };
        s.mtu = self.mtu;
        s.key_updates = self.key_phase.as_ref().map_or(0, |k| k.updates);
        s
    }

    /// The largest unreliable datagram that can be sent now, or `None` when the peer does not
    /// accept datagrams.
    pub fn max_datagram_size(&self) -> Option<usize> {
        let peer_max = self.peer_params.as_ref()?.max_datagram_frame_size;
        if peer_max == 0 {
            return None;
        }
        // The largest payload of a short-header packet with a 4-byte packet number, rounded
        // as full packets of this suite are, less the frame type and the length field (a
        // variable-length integer: 2 bytes below 16384, else 4).
        let alignment = self.payload_alignment(SpaceId::Data);
        let payload = usize::from(self.mtu).saturating_sub(1 + packet::LOCAL_CID_LEN + 4 + 16) / alignment * alignment;
        let room = payload.saturating_sub(1);
        let by_mtu = if room - room.min(2) < 1 << 14 { room.saturating_sub(2) } else { room.saturating_sub(4) };
        let by_peer = usize::try_from(peer_max).unwrap_or(usize::MAX).saturating_sub(1 + 4);
        Some(by_mtu.min(by_peer))
    }

    // ----- application calls ---------------------------------------------------------------

    /// Opens a stream; `None` when the peer's stream limit is reached (wait for
    /// `StreamEvent::Available`) or the connection is not established.
    pub fn open(&mut self, dir: Dir) -> Option<StreamId> {
        if self.state != State::Established {
            return None;
        }
        self.streams.as_mut()?.open(dir)
    }

    /// Takes the next stream the peer opened.
    pub fn accept(&mut self, dir: Dir) -> Option<StreamId> {
        self.streams.as_mut()?.accept(dir)
    }

    fn streams_for_write(&mut self) -> Result<&mut StreamsState, WriteError> {
        if self.state != State::Established {
            return Err(WriteError::ConnectionClosed);
        }
        self.streams.as_mut().ok_or(WriteError::ConnectionClosed)
    }

    /// Writes as much of `data` as flow control allows (copying it); returns the count.
    pub fn write(&mut self, id: StreamId, data: &[u8]) -> Result<usize, WriteError> {
        self.streams_for_write()?.write(id, data)
    }

    /// Writes all of `data` without copying, or nothing (`Blocked`) if it does not fit.
    pub fn write_bytes(&mut self, id: StreamId, data: Bytes) -> Result<(), WriteError> {
        self.streams_for_write()?.write_bytes(id, data)
    }

    /// Ends the stream after the data written so far.
    pub fn finish(&mut self, id: StreamId) -> Result<(), WriteError> {
        self.streams_for_write()?.finish(id)
    }

    /// Abandons the sending half of a stream with an application error code.
    pub fn reset(&mut self, id: StreamId, error_code: u64) -> Result<(), WriteError> {
        self.streams_for_write()?.reset(id, error_code)
    }

    /// Sets the scheduling priority of a stream (higher first; see [`priority`]).
    pub fn set_priority(&mut self, id: StreamId, priority: i32) -> Result<(), WriteError> {
        self.streams_for_write()?.set_priority(id, priority)
    }

    /// Reads into `buf`: `Ok(Some(n))` with `n > 0` bytes, `Ok(None)` at the end of the
    /// stream, `Err(Blocked)` when nothing has arrived yet.
    pub fn read(&mut self, id: StreamId, buf: &mut [u8]) -> Result<Option<usize>, ReadError> {
        if matches!(self.state, State::Drained) {
            return Err(ReadError::ConnectionClosed);
        }
        self.streams.as_mut().ok_or(ReadError::ConnectionClosed)?.read(id, buf)
    }

    /// Reads without copying: lends up to `max` received bytes straight from the stream's
    /// receive buffer. `Ok(Some(chunk))` is never empty unless `max` is 0 and may be shorter
    /// than what is readable (a chunk ends where the buffer wraps; call again for the rest);
    /// `Ok(None)` and errors mean what they mean for [`Self::read`]. The bytes count as read,
    /// and their flow-control credit is released, as soon as this returns.
    pub fn read_chunk(&mut self, id: StreamId, max: usize) -> Result<Option<&[u8]>, ReadError> {
        if matches!(self.state, State::Drained) {
            return Err(ReadError::ConnectionClosed);
        }
        self.streams.as_mut().ok_or(ReadError::ConnectionClosed)?.read_chunk(id, max)
    }

    /// Asks the peer to stop sending on a stream; what it sends is discarded, unread data is
    /// given back to flow control, and reads of the stream fail with
    /// [`ReadError::ClosedStream`] from now on.
    pub fn stop(&mut self, id: StreamId, error_code: u64) -> Result<(), ReadError> {
        if self.state != State::Established {
            return Err(ReadError::ConnectionClosed);
        }
        self.streams.as_mut().ok_or(ReadError::ConnectionClosed)?.stop(id, error_code)
    }

    /// Queues an unreliable datagram. It is sent at most once, may be lost, and the oldest
    /// queued datagrams are dropped if the application sends faster than the path allows.
    pub fn send_datagram(&mut self, data: Bytes) -> Result<(), SendDatagramError> {
        if self.state != State::Established {
            return Err(SendDatagramError::NotConnected);
        }
        let max = self.max_datagram_size().ok_or(SendDatagramError::Disabled)?;
        if data.len() > max {
            return Err(SendDatagramError::TooLarge { max });
        }
        self.datagrams.queue(data, self.config.datagram_send_buffer);
        Ok(())
    }

    /// Takes the next received unreliable datagram.
    pub fn recv_datagram(&mut self) -> Option<Bytes> {
        self.datagrams.recv()
    }

    /// Closes the connection with an application error code and reason. The peer receives
    /// both in its `ConnectionLost` event.
    pub fn close(&mut self, now: Instant, error_code: u64, reason: &[u8]) {
        if self.is_closed() {
            return;
        }
        let reason = Bytes::copy_from_slice(&reason[..reason.len().min(MAX_REASON_LEN)]);
        self.lost(ConnectionError::LocallyClosed);
        self.enter_closing(now, CloseFrame { application: true, code: error_code, frame_type: 0, reason });
    }

    // ----- input from the endpoint ---------------------------------------------------------

    /// Accounts for a datagram from `remote` before its packets are handled (amplification).
    /// A datagram from another address is remembered, and credited to that address's path if
    /// its packet moves the connection there.
    pub(crate) fn on_datagram_received(&mut self, remote: SocketAddr, len: usize) {
        if remote == self.path.remote {
            self.path.on_received(len);
            self.other_address_datagram = 0;
        } else {
            self.other_address_datagram = len;
        }
    }

    /// Handles one packet (header protection still applied) from a datagram.
    pub(crate) fn handle_packet(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        partial: &PartialPacket,
        packet: &mut [u8],
    ) -> PacketOutcome {
        match self.state {
            State::Drained | State::Draining => return PacketOutcome::Ignored,
            State::Closing => {
                self.closing_packets += 1;
                // Answer with the close frame, at exponentially spaced packets.
                if self.closing_packets.is_power_of_two() {
                    self.close_pending = true;
                }
                return PacketOutcome::Ignored;
            }
            _ => {}
        }
        let space_id = match partial.form {
            HeaderForm::Long { ty: LongType::Handshake, .. } => SpaceId::Handshake,
            HeaderForm::Short { .. } => SpaceId::Data,
            HeaderForm::VersionNegotiation { .. } => {
                return self.handle_version_negotiation(now, &packet[partial.pn_offset..]);
            }
            HeaderForm::Long { .. } => return PacketOutcome::Ignored,
        };
        let (pn, payload_range) = match self.unprotect(now, space_id, partial, packet) {
            Ok(v) => v,
            Err(outcome) => {
                self.check_integrity_limit(now, space_id);
                return outcome;
            }
        };
        if let HeaderForm::Long { scid, .. } = partial.form
            && self.side == Side::Client
            && !self.remote_cid_set
        {
            // The server's chosen ID, learned from its first *authenticated* packet.
            self.remote_cid = scid;
            self.remote_cid_set = true;
        }
        let space = &mut self.spaces[space_id as usize];
        let out_of_order = space.received.record(pn, now);
        self.stats.packets_received += 1;
        self.stats.bytes_received += packet.len() as u64;
        self.sent_eliciting_since_receive = false;
        self.reset_idle_timer(now);

        if space_id == SpaceId::Data {
            self.on_data_packet_authenticated(now, remote, pn);
        }
        let payload_start = payload_range.0;
        let payload_end = payload_range.1;
        let (_, rest) = packet.split_at_mut(payload_start);
        let payload = &mut rest[..payload_end - payload_start];
        if let Err(e) = self.process_frames(now, space_id, payload, out_of_order) {
            self.close_with_error(now, e.0, e.1, e.2);
        }
        PacketOutcome::Processed
    }

    /// Removes header protection, decodes the packet number, rejects duplicates and decrypts
    /// in place. Returns the packet number and the plaintext payload's byte range.
    fn unprotect(
        &mut self,
        now: Instant,
        space_id: SpaceId,
        partial: &PartialPacket,
        packet: &mut [u8],
    ) -> Result<(u64, (usize, usize)), PacketOutcome> {
        let long = partial.is_long();
        let space = &mut self.spaces[space_id as usize];
        let Some(keys) = space.keys.as_ref() else { return Err(PacketOutcome::NoKeys) };
        let pn_offset = partial.pn_offset;
        let Some(sample) = packet::sample(packet, pn_offset) else { return Err(PacketOutcome::Malformed) };
        let mask = keys.remote.header.mask(sample);
        let first = packet[0] ^ (mask[0] & if long { 0x0f } else { 0x1f });
        let pn_len = packet::pn_len_from_first_byte(first);
        let mut truncated = 0u64;
        for (b, m) in packet[pn_offset..pn_offset + pn_len].iter().zip(&mask[1..]) {
            truncated = (truncated << 8) | u64::from(b ^ m);
        }
        let pn = packet::decode_pn(space.received.expected_pn(), truncated, pn_len);
        if space.received.is_duplicate(pn) {
            return Err(PacketOutcome::Duplicate);
        }
        // The buffer is ours to scribble on: unmask in place, decrypt in place.
        packet::xor_header_mask(packet, pn_offset, pn_len, &mask, long);
        let choice = match (&mut self.key_phase, long) {
            (Some(kp), false) => kp.select(packet::key_phase(first), pn, now),
            _ => RecvKey::Current,
        };
        let key = match (choice, &self.key_phase) {
            (RecvKey::Current, _) => keys.remote.packet.as_ref(),
            (RecvKey::Next, Some(kp)) => kp.next_key(),
            (RecvKey::Previous, Some(kp)) => kp.previous_key().ok_or(PacketOutcome::NoKeys)?,
            _ => return Err(PacketOutcome::NoKeys),
        };
        let header_len = pn_offset + pn_len;
        let (header, body) = packet.split_at_mut(header_len);
        let plain_len = match key.open(pn, header, body) {
            Ok(plain) => plain.len(),
            Err(_) => {
                space.decrypt_failures += 1;
                return Err(PacketOutcome::DecryptFailed);
            }
        };
        if packet::reserved_bits(packet[0], long) != 0 {
            // Authentic, so the peer itself set reserved bits: a protocol violation.
            self.close_with_error(now, TransportErrorCode::PROTOCOL_VIOLATION, 0, "reserved header bits set");
            return Err(PacketOutcome::Malformed);
        }
        match choice {
            RecvKey::Current => {
                if let Some(kp) = self.key_phase.as_mut() {
                    kp.on_received(pn);
                }
            }
            RecvKey::Next => self.on_peer_key_update(now, pn),
            _ => {}
        }
        Ok((pn, (header_len, header_len + plain_len)))
    }

    /// Too many forgeries opened against one connection's keys weaken AEAD integrity
    /// (RFC 9001 §6.6): close before the limit is passed.
    fn check_integrity_limit(&mut self, now: Instant, space_id: SpaceId) {
        let space = &self.spaces[space_id as usize];
        let limit = space.keys.as_ref().map_or(u64::MAX, |k| k.remote.packet.suite().integrity_limit());
        if space.decrypt_failures >= limit {
            self.close_with_error(now, TransportErrorCode::AEAD_LIMIT_REACHED, 0, "too many failed decryptions");
        }
    }

    /// The peer moved to the next key phase: follow it in both directions.
    fn on_peer_key_update(&mut self, now: Instant, pn: u64) {
        let keep_until = now + self.pto_duration() * 3;
        let (Some(kp), Some(keys)) = (self.key_phase.as_mut(), self.spaces[SpaceId::Data as usize].keys.as_mut())
        else {
            return;
        };
        if kp.advance(keys, keep_until, Some(pn)).is_err() {
            self.close_with_error(now, TransportErrorCode::INTERNAL_ERROR, 0, "key update derivation failed");
        }
    }

    fn on_data_packet_authenticated(&mut self, now: Instant, remote: SocketAddr, pn: u64) {
        if self.side == Side::Server {
            if !self.handshake_confirmed && self.state == State::Established {
                // Only a client that received our ServerHello can produce 1-RTT packets: this
                // validates its address and confirms the handshake.
                self.handshake_confirmed = true;
                self.path.validated = true;
                self.handshake_done_pending = true;
                self.discard_space(SpaceId::Handshake);
                self.retire_original_dcid = true;
                self.events.push_back(Event::Connected);
            }
            let largest = self.spaces[SpaceId::Data as usize].received.largest.map(|(l, _)| l);
            if remote != self.path.remote && largest == Some(pn) {
                self.migrate(now, remote);
            }
        }
    }

    /// The client's address changed (NAT rebinding or a real move): switch to it at once,
    /// limit what we send there until a PATH_CHALLENGE round trip proves the client is
    /// really there, and fall back if it never answers.
    fn migrate(&mut self, now: Instant, remote: SocketAddr) {
        let same_ip = remote.ip() == self.path.remote.ip();
        let mut new_path = Path::new(remote, false);
        new_path.on_received(core::mem::take(&mut self.other_address_datagram));
        let mut token = [0u8; 8];
        self.rng.fill_bytes(&mut token);
        new_path.challenge = Some(token);
        new_path.challenge_pending = true;
        let old = core::mem::replace(&mut self.path, new_path);
        if old.validated {
            self.prev_path = Some(old);
        }
        if !same_ip {
            // A different network: what we learned about the old path does not apply.
            self.rtt.reset(self.config.initial_rtt);
            self.cc = self.config.congestion_controller.build(now, self.mtu);
        }
        let timeout = (self.pto_duration() * 3).max(Duration::from_millis(100));
        self.timers.set(Timer::PathValidation, now + timeout);
    }

    fn handle_version_negotiation(&mut self, now: Instant, body: &[u8]) -> PacketOutcome {
        if self.side != Side::Client || self.state != State::Handshake || self.spaces[0].received.largest.is_some() {
            return PacketOutcome::Ignored;
        }
        if packet::parse_supported_versions(body).any(|v| v == packet::VERSION) {
            // A VN listing our own version is bogus (RFC 9000 §6.2).
            return PacketOutcome::Ignored;
        }
        let theirs = packet::parse_supported_versions(body).next().unwrap_or(0);
        self.lost(ConnectionError::VersionMismatch(theirs));
        self.drain_now(now);
        PacketOutcome::Processed
    }

    fn process_frames(
        &mut self,
        now: Instant,
        space_id: SpaceId,
        payload: &mut [u8],
        out_of_order: bool,
    ) -> Result<(), (TransportErrorCode, u64, &'static str)> {
        let mut ack_eliciting = false;
        let mut ack_requested = false;
        let mut crypto_update = false;
        for item in FrameIter::new(payload) {
            let f = item.map_err(|e| (e.code, e.frame_type, e.reason))?;
            ack_eliciting |= f.is_ack_eliciting();
            if space_id == SpaceId::Handshake && !f.allowed_in_handshake() {
                return Err((TransportErrorCode::PROTOCOL_VIOLATION, 0, "frame not allowed in handshake packets"));
            }
            let streams_err = |e: (TransportErrorCode, &'static str)| (e.0, 0, e.1);
            match f {
                Frame::Padding | Frame::Ping => {}
                Frame::ImmediateAck => ack_requested = true,
                Frame::Ack(ack) => self.on_ack_frame(now, space_id, &ack)?,
                Frame::Crypto { .. } if space_id == SpaceId::Data => {
                    return Err((
                        TransportErrorCode::PROTOCOL_VIOLATION,
                        frame::ty::CRYPTO,
                        "handshake data in 1-RTT packet",
                    ));
                }
                Frame::Crypto { offset, data } => {
                    let space = &mut self.spaces[space_id as usize];
                    space.crypto_recv.insert(offset, data, crypto::CLIENT_HELLO_MAX_LEN).map_err(|()| {
                        (TransportErrorCode::CRYPTO_BUFFER_EXCEEDED, frame::ty::CRYPTO, "handshake message too long")
                    })?;
                    crypto_update = true;
                }
                Frame::Close(c) => {
                    let reason = String::from_utf8_lossy(c.reason).into_owned();
                    let err = if c.application {
                        ConnectionError::ApplicationClosed {
                            code: c.error_code,
                            reason: Bytes::copy_from_slice(c.reason),
                        }
                    } else {
                        ConnectionError::ConnectionClosed { code: TransportErrorCode(c.error_code), reason }
                    };
                    self.lost(err);
                    if self.state == State::Handshake {
                        self.drain_now(now);
                    } else {
                        self.state = State::Draining;
                        self.start_close_timer(now);
                    }
                    return Ok(());
                }
                Frame::HandshakeDone => {
                    if self.side == Side::Server {
                        return Err((
                            TransportErrorCode::PROTOCOL_VIOLATION,
                            frame::ty::HANDSHAKE_DONE,
                            "HANDSHAKE_DONE from client",
                        ));
                    }
                    if !self.handshake_confirmed {
                        self.handshake_confirmed = true;
                        self.discard_space(SpaceId::Handshake);
                    }
                }
                Frame::PathChallenge(token) => self.path_response = Some(token),
                Frame::PathResponse(token) => self.on_path_response(token),
                Frame::Datagram(data) => {
                    if self.config.datagram_receive_buffer == 0 {
                        return Err((
                            TransportErrorCode::PROTOCOL_VIOLATION,
                            frame::ty::DATAGRAM,
                            "datagrams not enabled",
                        ));
                    }
                    self.stats.datagrams_received += 1;
                    if self.datagrams.receive(data, self.config.datagram_receive_buffer) {
                        self.events.push_back(Event::DatagramReceived);
                    }
                }
                other => {
                    let Some(streams) = self.streams.as_mut() else {
                        return Err((TransportErrorCode::PROTOCOL_VIOLATION, 0, "stream frame before handshake"));
                    };
                    match other {
                        Frame::Stream(s) => {
                            streams.on_stream_frame(&s).map_err(streams_err)?;
                            self.stats.stream_bytes_received += s.data.len() as u64;
                        }
                        Frame::ResetStream { id, error_code, final_size } => {
                            streams.on_reset_stream(id, error_code, final_size).map_err(streams_err)?
                        }
                        Frame::StopSending { id, error_code } => {
                            streams.on_stop_sending(id, error_code).map_err(streams_err)?
                        }
                        Frame::MaxData(max) => streams.on_max_data(max),
                        Frame::MaxStreamData { id, max } => streams.on_max_stream_data(id, max).map_err(streams_err)?,
                        Frame::MaxStreams { dir, count } => streams.on_max_streams(dir, count),
                        // Blocked signals are informational: our windows update on reads.
                        Frame::DataBlocked(_) | Frame::StreamDataBlocked { .. } | Frame::StreamsBlocked { .. } => {}
                        _ => {}
                    }
                }
            }
        }
        if ack_eliciting {
            self.on_ack_eliciting_received(now, space_id, out_of_order || ack_requested);
        }
        if crypto_update {
            self.advance_handshake(now).map_err(|(code, reason)| (code, frame::ty::CRYPTO, reason))?;
        }
        Ok(())
    }

    /// Fuzzing entry: processes `payload` as the plaintext of an authenticated 1-RTT packet.
    pub(crate) fn inject_decrypted_for_fuzzing(&mut self, now: Instant, payload: &mut [u8]) {
        if self.state != State::Established {
            return;
        }
        let pn = self.spaces[SpaceId::Data as usize].received.expected_pn();
        self.spaces[SpaceId::Data as usize].received.record(pn, now);
        if let Err(e) = self.process_frames(now, SpaceId::Data, payload, false) {
            self.close_with_error(now, e.0, e.1, e.2);
        }
    }

    /// ACK policy: at once for handshake packets, for packets out of order (so the peer's
    /// loss detection learns of the gap quickly), for packets carrying IMMEDIATE_ACK (the
    /// peer's window is full, it can send nothing until it hears from us) and every
    /// `ack_eliciting_threshold` packets; otherwise within `max_ack_delay`.
    fn on_ack_eliciting_received(&mut self, now: Instant, space_id: SpaceId, ack_now: bool) {
        let threshold = self.config.ack_eliciting_threshold;
        let recv = &mut self.spaces[space_id as usize].received;
        recv.unacked_eliciting += 1;
        if space_id == SpaceId::Handshake || recv.unacked_eliciting >= threshold || ack_now {
            recv.immediate_ack = true;
        } else if !self.timers.is_set(Timer::AckDelay) {
            self.timers.set(Timer::AckDelay, now + self.config.max_ack_delay);
        }
    }

    fn on_path_response(&mut self, token: [u8; 8]) {
        if self.path.challenge == Some(token) {
            self.path.challenge = None;
            self.path.challenge_pending = false;
            if !self.path.validated {
                self.path.validated = true;
                self.prev_path = None;
                self.timers.stop(Timer::PathValidation);
                self.events.push_back(Event::PeerAddressChanged { new: self.path.remote });
            }
        }
    }

    /// Feeds reassembled handshake bytes to the handshake once a whole message is there.
    fn advance_handshake(&mut self, now: Instant) -> Result<(), (TransportErrorCode, &'static str)> {
        let hs_space = &mut self.spaces[SpaceId::Handshake as usize];
        let recv = &mut hs_space.crypto_recv;
        if recv.consumed {
            // Duplicate handshake data: the peer did not get our reply; resend it.
            hs_space.crypto_send.requeue_unacked();
            return Ok(());
        }
        let avail = recv.contiguous_len();
        let Some(len) = crypto::message_len(&recv.buf[..avail]) else { return Ok(()) };
        if len > avail {
            return Ok(());
        }
        if len < avail {
            return Err((TransportErrorCode::PROTOCOL_VIOLATION, "data after the handshake message"));
        }
        recv.consumed = true;
        let mut msg = core::mem::take(&mut recv.buf);
        let step = core::mem::replace(&mut self.handshake, HandshakeStep::Done);
        match step {
            HandshakeStep::Client(hs) => match hs.finish(&mut msg[..len]) {
                Ok((secrets, params)) => self.client_complete(now, secrets, params),
                Err(e) => self.fail_handshake(now, e),
            },
            HandshakeStep::ServerAwaitingHello(keypair) => {
                match ServerHandshake::read_client_hello(self.config.crypto_backend, &keypair, &mut msg[..len]) {
                    Ok((hs, params)) => {
                        self.client_key = hs.client_key();
                        self.handshake = HandshakeStep::ServerAwaitingDecision(Box::new(hs), params);
                        Ok(())
                    }
                    Err(e) => self.fail_handshake(now, e),
                }
            }
            other => {
                self.handshake = other;
                Ok(())
            }
        }
    }

    fn fail_handshake(&mut self, now: Instant, e: HandshakeError) -> Result<(), (TransportErrorCode, &'static str)> {
        let code = match e {
            HandshakeError::TransportParameters(_) => TransportErrorCode::TRANSPORT_PARAMETER_ERROR,
            _ => TransportErrorCode::HANDSHAKE_FAILED,
        };
        self.lost(ConnectionError::Handshake(e));
        if self.side == Side::Server {
            self.reject(now, code);
        } else {
            let reason = Bytes::from_static(b"handshake failed");
            self.enter_closing(now, CloseFrame { application: false, code: code.0, frame_type: 0, reason });
        }
        Ok(())
    }

    /// Server: the handshake is authentic but refused, or failed. Answer with a close and
    /// release all state right after sending it.
    fn reject(&mut self, now: Instant, code: TransportErrorCode) {
        self.rejected = true;
        self.enter_closing(now, CloseFrame { application: false, code: code.0, frame_type: 0, reason: Bytes::new() });
    }

    /// Server: the accept policy's verdict is needed.
    pub(crate) fn awaiting_accept(&self) -> Option<Option<PublicKey>> {
        match &self.handshake {
            HandshakeStep::ServerAwaitingDecision(hs, _) => Some(hs.client_key()),
            _ => None,
        }
    }

    /// Server: applies the accept decision (`Err(code)` refuses); returns whether the
    /// connection was accepted (later checks may still refuse it).
    pub(crate) fn resolve_accept(&mut self, now: Instant, verdict: Result<(), TransportErrorCode>) -> bool {
        let step = core::mem::replace(&mut self.handshake, HandshakeStep::Done);
        let HandshakeStep::ServerAwaitingDecision(hs, client_params) = step else {
            self.handshake = step;
            return false;
        };
        if let Err(code) = verdict {
            self.reject(now, code);
            return false;
        }
        if client_params.initial_source_cid != self.remote_cid {
            // The client's header and its authenticated parameters disagree: tampering.
            self.reject(now, TransportErrorCode::TRANSPORT_PARAMETER_ERROR);
            return false;
        }
        let suite = match crypto::choose_suite(
            client_params.cipher_suites.iter(),
            self.config.prefer_aes,
            self.config.crypto_backend,
        ) {
            Ok(s) => s,
            Err(e) => {
                let _ = self.fail_handshake(now, e);
                return false;
            }
        };
        self.suite = suite;
        let params = local_params(&self.config, self.local_cid, SuiteList::from_slice(&[suite]));
        let mut eph = [0u8; 32];
        let mut enc = [0u8; 32];
        self.rng.fill_bytes(&mut eph);
        self.rng.fill_bytes(&mut enc);
        let (hello, secrets) = match hs.write_server_hello(&params, eph, enc) {
            Ok(v) => v,
            Err(e) => {
                let _ = self.fail_handshake(now, e);
                return false;
            }
        };
        let keys =
            DirectionalKeys::derive(self.config.crypto_backend, suite, secrets.server_to_client).and_then(|local| {
                Ok(SpaceKeys {
                    local,
                    remote: DirectionalKeys::derive(self.config.crypto_backend, suite, secrets.client_to_server)?,
                })
            });
        match keys.and_then(|k| Ok((KeyPhase::new(self.config.crypto_backend, &k)?, k))) {
            Ok((phase, k)) => {
                self.spaces[SpaceId::Data as usize].keys = Some(k);
                self.key_phase = Some(phase);
            }
            Err(e) => {
                let _ = self.fail_handshake(now, HandshakeError::Crypto(e));
                return false;
            }
        }
        self.spaces[SpaceId::Handshake as usize].crypto_send.data = hello;
        self.on_peer_params(client_params);
        self.state = State::Established;
        true
    }

    fn client_complete(
        &mut self,
        now: Instant,
        secrets: crypto::SessionSecrets,
        params: TransportParameters,
    ) -> Result<(), (TransportErrorCode, &'static str)> {
        if params.initial_source_cid != self.remote_cid {
            return Err((TransportErrorCode::TRANSPORT_PARAMETER_ERROR, "server connection ID mismatch"));
        }
        let Some(suite) = params.cipher_suites.first() else {
            return Err((TransportErrorCode::TRANSPORT_PARAMETER_ERROR, "server chose no cipher suite"));
        };
        let offered = suite == CipherSuite::ChaCha20Poly1305
            || (self.config.prefer_aes && self.config.crypto_backend.supports(CipherSuite::Aes256Gcm));
        if !offered {
            return Err((TransportErrorCode::TRANSPORT_PARAMETER_ERROR, "server chose a suite we did not offer"));
        }
        self.suite = suite;
        let backend = self.config.crypto_backend;
        let keys = DirectionalKeys::derive(backend, suite, secrets.client_to_server)
            .and_then(|local| {
                Ok(SpaceKeys { local, remote: DirectionalKeys::derive(backend, suite, secrets.server_to_client)? })
            })
            .map_err(|_| (TransportErrorCode::INTERNAL_ERROR, "key derivation failed"))?;
        let phase =
            KeyPhase::new(backend, &keys).map_err(|_| (TransportErrorCode::INTERNAL_ERROR, "key derivation failed"))?;
        self.spaces[SpaceId::Data as usize].keys = Some(keys);
        self.key_phase = Some(phase);
        self.on_peer_params(params);
        self.state = State::Established;
        self.events.push_back(Event::Connected);
        // Make sure a 1-RTT packet goes out promptly: it confirms the handshake to the server.
        self.ping_pending = true;
        self.set_loss_detection_timer(now);
        Ok(())
    }

    fn on_peer_params(&mut self, params: TransportParameters) {
        let cfg = &self.config;
        let peer = PeerLimits {
            max_data: params.initial_max_data,
            stream_data_bidi_local: params.initial_max_stream_data_bidi_local,
            stream_data_bidi_remote: params.initial_max_stream_data_bidi_remote,
            stream_data_uni: params.initial_max_stream_data_uni,
            max_streams_bidi: params.initial_max_streams_bidi,
            max_streams_uni: params.initial_max_streams_uni,
        };
        let local = LocalLimits {
            stream_window: cfg.stream_receive_window,
            connection_window: cfg.receive_window,
            send_window: cfg.send_window,
            max_streams_bidi: cfg.max_concurrent_bidi_streams,
            max_streams_uni: cfg.max_concurrent_uni_streams,
        };
        self.streams = Some(StreamsState::new(self.side, local, peer));
        let peer_idle = params.max_idle_timeout;
        if !peer_idle.is_zero() && (self.idle_timeout.is_zero() || peer_idle < self.idle_timeout) {
            self.idle_timeout = peer_idle;
        }
        self.rtt.set_max_ack_delay(params.max_ack_delay);
        let peer_mtu = u16::try_from(params.max_udp_payload_size).unwrap_or(u16::MAX);
        if peer_mtu < self.mtu {
            self.mtu = peer_mtu.max(packet::MIN_INITIAL_SIZE as u16);
            self.cc.on_mtu_update(self.mtu);
        }
        self.peer_params = Some(params);
    }

    /// Closes because of a protocol violation detected here.
    fn close_with_error(&mut self, now: Instant, code: TransportErrorCode, frame_type: u64, reason: &'static str) {
        if self.is_closed() {
            return;
        }
        self.lost(ConnectionError::TransportError { code, reason: reason.to_owned() });
        self.enter_closing(
            now,
            CloseFrame { application: false, code: code.0, frame_type, reason: Bytes::from_static(reason.as_bytes()) },
        );
    }

    fn enter_closing(&mut self, now: Instant, frame: CloseFrame) {
        // Before 1-RTT keys exist the application's close would travel in handshake packets,
        // readable by anyone who saw the connection ID: send a bare NO_ERROR close instead,
        // without the application's code and reason.
        let frame = if frame.application && self.spaces[SpaceId::Data as usize].keys.is_none() {
            CloseFrame { application: false, code: TransportErrorCode::NO_ERROR.0, frame_type: 0, reason: Bytes::new() }
        } else {
            frame
        };
        self.close = Some(frame);
        self.close_pending = true;
        self.state = State::Closing;
        self.start_close_timer(now);
    }

    fn start_close_timer(&mut self, now: Instant) {
        for t in
            [Timer::LossDetection, Timer::KeepAlive, Timer::AckDelay, Timer::Pacing, Timer::PathValidation, Timer::Idle]
        {
            self.timers.stop(t);
        }
        self.timers.set(Timer::Close, now + self.pto_duration() * 3);
    }

    /// Ends the connection immediately without a closing period.
    fn drain_now(&mut self, _now: Instant) {
        self.state = State::Drained;
        self.timers.stop_all();
    }

    /// Reports the connection's end to the application, once.
    fn lost(&mut self, reason: ConnectionError) {
        if self.is_closed() {
            return;
        }
        let event = if self.state == State::Handshake
            || (self.side == Side::Client && !self.handshake_confirmed && self.state != State::Established)
        {
            Event::HandshakeFailed(reason)
        } else {
            Event::ConnectionLost(reason)
        };
        self.events.push_back(event);
    }

    /// Fires expired timers.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        for timer in self.timers.expire(now) {
            match timer {
                Timer::LossDetection => self.on_loss_detection_timeout(now),
                Timer::Idle => {
                    self.lost(ConnectionError::TimedOut);
                    self.drain_now(now);
                    return;
                }
                Timer::KeepAlive => {
                    if self.state == State::Established {
                        self.ping_pending = true;
                    }
                }
                Timer::AckDelay => {
                    self.spaces[SpaceId::Data as usize].received.immediate_ack |= self.spaces[1].received.ack_pending;
                }
                Timer::Pacing => {}
                Timer::Close => {
                    self.drain_now(now);
                    return;
                }
                Timer::PathValidation => {
                    if !self.path.validated {
                        match self.prev_path.take() {
                            Some(old) => self.path = old,
                            None => {
                                self.lost(ConnectionError::TimedOut);
                                self.drain_now(now);
                                return;
                            }
                        }
                    }
                }
            }
        }
    }

    fn reset_idle_timer(&mut self, now: Instant) {
        if self.idle_timeout.is_zero() {
            self.timers.stop(Timer::Idle);
            return;
        }
        // Never shorter than three probe timeouts, so a few lost packets don't kill it.
        let timeout = self.idle_timeout.max(self.pto_duration() * 3);
        self.timers.set(Timer::Idle, now + timeout);
    }

    fn reset_keep_alive(&mut self, now: Instant) {
        match self.config.keep_alive_interval {
            Some(interval) if self.state == State::Established => self.timers.set(Timer::KeepAlive, now + interval),
            _ => self.timers.stop(Timer::KeepAlive),
        }
    }

    // ----- output --------------------------------------------------------------------------

    /// The next application event.
    pub(crate) fn poll_event(&mut self) -> Option<Event> {
        if let Some(e) = self.events.pop_front() {
            return Some(e);
        }
        self.streams.as_mut()?.events.pop_front().map(Event::Stream)
    }

    /// The earliest deadline at which [`Self::handle_timeout`] must run.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }
}

/// This side's transport parameters, from its config.
fn local_params(cfg: &TransportConfig, local_cid: ConnectionId, suites: SuiteList) -> TransportParameters {
    TransportParameters {
        max_idle_timeout: cfg.max_idle_timeout,
        max_udp_payload_size: u64::from(cfg.max_udp_payload_size),
        initial_max_data: cfg.receive_window,
        initial_max_stream_data_bidi_local: cfg.stream_receive_window,
        initial_max_stream_data_bidi_remote: cfg.stream_receive_window,
        initial_max_stream_data_uni: cfg.stream_receive_window,
        initial_max_streams_bidi: cfg.max_concurrent_bidi_streams,
        initial_max_streams_uni: cfg.max_concurrent_uni_streams,
        max_ack_delay: cfg.max_ack_delay,
        max_datagram_frame_size: if cfg.datagram_receive_buffer == 0 { 0 } else { 65535 },
        initial_source_cid: local_cid,
        cipher_suites: suites,
    }
}
