//! The endpoint: owns every connection, routes datagrams to them by connection ID, accepts
//! new ones (server), and multiplexes their output, events and timers.

use crate::config::{ClientConfig, ConfigError, EndpointConfig, IncomingInfo, ServerConfig};
use crate::connection::{BufferTooSmall, Connection, ConnectionIds, Event, PacketOutcome, Transmit};
use crate::crypto::{HandshakeError, StaticKeypair};
use crate::packet::{self, ConnectionId, HeaderForm, LongType, PacketError, PartialPacket};
use crate::time::Instant;
use crate::transport_error::TransportErrorCode;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use thiserror::Error;

/// Identifies a connection within its endpoint. Handles are not reused while the connection
/// exists; after its `Drained` event the handle is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionHandle {
    index: u32,
    generation: u32,
}

/// Explicit Congestion Notification codepoint of a received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcnCodepoint {
    /// ECN-capable transport (0).
    Ect0,
    /// ECN-capable transport (1).
    Ect1,
    /// Congestion experienced.
    Ce,
}

/// Metadata of a received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvMeta {
    /// The sender's address.
    pub source: SocketAddr,
    /// Our local address it arrived on, when the socket reports it.
    pub destination: Option<IpAddr>,
    /// ECN bits, when the socket reports them.
    pub ecn: Option<EcnCodepoint>,
}

impl RecvMeta {
    /// Metadata with only the source address.
    pub fn from_source(source: SocketAddr) -> Self {
        RecvMeta { source, destination: None, ecn: None }
    }
}

/// Datagrams and packets dropped, by reason. Every drop is counted; none is silent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropStats {
    /// Unparseable header or payload, or a header with reserved bits set.
    pub malformed: u64,
    /// Datagram larger than the largest UDP payload accepted.
    pub oversized: u64,
    /// No connection with that ID (and not a new handshake).
    pub unknown_connection: u64,
    /// Failed authentication (forged, corrupted, or keys long gone).
    pub decrypt_failed: u64,
    /// A packet number already received, or too old to tell (replay).
    pub duplicate: u64,
    /// Long header with an unsupported version.
    pub unsupported_version: u64,
    /// Keys for the packet's space do not exist (yet or anymore).
    pub no_keys: u64,
    /// Client handshake datagram below 1200 bytes.
    pub short_initial: u64,
    /// New handshake refused because the endpoint is at capacity.
    pub capacity: u64,
    /// Packets arriving for a connection that is closing or draining.
    pub closing: u64,
}

/// Endpoint-wide counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Datagrams handed to [`Endpoint::handle_datagram`].
    pub datagrams_received: u64,
    /// Datagrams produced by [`Endpoint::poll_transmit`] (each GSO segment counts).
    pub datagrams_sent: u64,
    /// Server handshakes accepted.
    pub accepted: u64,
    /// Server handshakes refused by the allow-list, the accept policy or the checks after
    /// them (connection ID mismatch, no common cipher suite).
    pub refused: u64,
    /// Drops by reason.
    pub dropped: DropStats,
}

/// Why `connect` failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConnectError {
    /// The transport configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The endpoint holds its maximum number of connections.
    #[error("too many connections")]
    TooManyConnections,
    /// The handshake could not start.
    #[error("handshake setup failed: {0}")]
    Handshake(#[from] HandshakeError),
}

/// Hashes connection IDs on the per-packet path. Keyed from the endpoint's RNG, so a peer
/// that picks IDs (clients choose the first one) cannot aim for collisions without knowing
/// the key; deterministic for a given seed, with no hidden OS randomness. Connection IDs are
/// short, so a multiply-xorshift mix per 8-byte word is enough and costs a few cycles,
/// against ~20 ns for SipHash.
#[derive(Clone)]
struct CidHasherBuilder {
    keys: [u64; 2],
}

impl BuildHasher for CidHasherBuilder {
    type Hasher = CidHasher;

    fn build_hasher(&self) -> CidHasher {
        CidHasher { state: self.keys[0], multiplier: self.keys[1] | 1 }
    }
}

struct CidHasher {
    state: u64,
    multiplier: u64,
}

impl Hasher for CidHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, v: u64) {
        let x = (self.state ^ v).wrapping_mul(self.multiplier);
        self.state = x ^ (x >> 29);
    }

    fn write_u8(&mut self, v: u8) {
        self.write_u64(u64::from(v));
    }

    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }

    fn finish(&self) -> u64 {
        let x = self.state.wrapping_mul(self.multiplier);
        x ^ (x >> 32)
    }
}

struct Slot {
    generation: u32,
    conn: Option<Connection>,
    /// Deadline last pushed to the timer heap.
    deadline: Option<Instant>,
    in_active: bool,
    in_events: bool,
    /// A server handshake not yet confirmed, counted in `incoming_handshakes`.
    handshaking: bool,
    /// Queued in `timer_dirty`.
    timer_dirty: bool,
}

struct Server {
    config: ServerConfig,
    keypair: Arc<StaticKeypair>,
}

/// A stateless reply (version negotiation) waiting to be sent.
struct StatelessReply {
    destination: SocketAddr,
    data: Vec<u8>,
}

/// Most stateless replies queued; beyond it they are not sent (the sender will retry).
const MAX_STATELESS_QUEUE: usize = 64;

/// A JetStreamProto endpoint: the Sans-IO state for one UDP socket.
///
/// Drive it like this (see the crate documentation for a complete loop):
/// 1. feed every received datagram to [`handle_datagram`](Self::handle_datagram);
/// 2. call [`handle_timeout`](Self::handle_timeout) when the deadline from
///    [`poll_timeout`](Self::poll_timeout) passes;
/// 3. after each input, drain [`poll_transmit`](Self::poll_transmit) and
///    [`poll_event`](Self::poll_event) until they return `None`, then ask `poll_timeout` again.
pub struct Endpoint {
    config: EndpointConfig,
    server: Option<Server>,
    rng: ChaCha20Rng,
    slots: Vec<Slot>,
    free: Vec<u32>,
    cids: HashMap<ConnectionId, ConnectionHandle, CidHasherBuilder>,
    /// Connections that may have output, in round-robin order.
    active: VecDeque<u32>,
    /// Connections that may have events.
    with_events: VecDeque<u32>,
    /// Events of connections already freed, then their `Drained` event.
    orphan_events: VecDeque<(ConnectionHandle, Event)>,
    timers: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    /// Connections whose deadline may have changed since the heap was updated.
    timer_dirty: Vec<u32>,
    stateless: VecDeque<StatelessReply>,
    incoming_handshakes: usize,
    stats: EndpointStats,
    last_now: Instant,
}

impl core::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Endpoint")
            .field("connections", &(self.slots.len() - self.free.len()))
            .field("server", &self.server.is_some())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// A new endpoint; pass a [`ServerConfig`] to accept connections. Fails if the server's
    /// transport configuration is invalid (client configurations are checked by `connect`).
    pub fn new(config: EndpointConfig, server: Option<ServerConfig>) -> Result<Self, ConfigError> {
        if let Some(s) = &server {
            s.transport.validate()?;
        }
        let mut rng = ChaCha20Rng::from_seed(config.rng_seed);
        let keys = [rng.next_u64(), rng.next_u64()];
        let server = server.map(|config| Server { keypair: Arc::new(config.keypair.clone()), config });
        Ok(Endpoint {
            config,
            server,
            rng,
            slots: Vec::new(),
            free: Vec::new(),
            cids: HashMap::with_hasher(CidHasherBuilder { keys }),
            active: VecDeque::new(),
            with_events: VecDeque::new(),
            orphan_events: VecDeque::new(),
            timers: BinaryHeap::new(),
            timer_dirty: Vec::new(),
            stateless: VecDeque::new(),
            incoming_handshakes: 0,
            stats: EndpointStats::default(),
            last_now: Instant::ZERO,
        })
    }

    // ----- getters -------------------------------------------------------------------------

    /// Endpoint-wide counters, including drops by reason.
    pub fn stats(&self) -> &EndpointStats {
        &self.stats
    }

    /// Number of connections held (including handshakes in progress and closing ones).
    pub fn connection_count(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// The server's public key, for clients to pin.
    pub fn server_public_key(&self) -> Option<crate::crypto::PublicKey> {
        self.server.as_ref().map(|s| s.keypair.public_key())
    }

    /// Access to a connection to open streams, read, write or close. Returns `None` for a
    /// handle that is no longer valid.
    pub fn connection(&mut self, handle: ConnectionHandle) -> Option<&mut Connection> {
        let slot = self.slots.get(handle.index as usize)?;
        if slot.generation != handle.generation || slot.conn.is_none() {
            return None;
        }
        // The caller may change anything: schedule output, events and timers for a look.
        self.touch(handle.index);
        self.slots[handle.index as usize].conn.as_mut()
    }

    /// Maximum GSO segments per transmit (see [`EndpointConfig::max_gso_segments`]); adapters
    /// lower it when the kernel refuses GSO.
    pub fn set_max_gso_segments(&mut self, segments: usize) {
        self.config.max_gso_segments = segments.max(1);
    }

    // ----- mutators ------------------------------------------------------------------------

    /// Starts a connection to a server whose static key the client pins.
    pub fn connect(
        &mut self,
        now: Instant,
        config: ClientConfig,
        remote: SocketAddr,
    ) -> Result<ConnectionHandle, ConnectError> {
        config.transport.validate()?;
        if self.connection_count() >= self.config.max_connections {
            return Err(ConnectError::TooManyConnections);
        }
        self.last_now = now;
        let local_cid = self.new_cid();
        let rng = self.child_rng();
        let conn = Connection::new_client(now, &config, local_cid, remote, rng)?;
        let handle = self.insert(conn);
        self.cids.insert(local_cid, handle);
        Ok(handle)
    }

    fn new_cid(&mut self) -> ConnectionId {
        loop {
            let mut bytes = [0u8; packet::LOCAL_CID_LEN];
            self.rng.fill_bytes(&mut bytes);
            if let Some(cid) = ConnectionId::new(&bytes)
                && !self.cids.contains_key(&cid)
            {
                return cid;
            }
        }
    }

    fn child_rng(&mut self) -> ChaCha20Rng {
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        ChaCha20Rng::from_seed(seed)
    }

    fn insert(&mut self, conn: Connection) -> ConnectionHandle {
        let index = match self.free.pop() {
            Some(i) => {
                let slot = &mut self.slots[i as usize];
                slot.generation = slot.generation.wrapping_add(1);
                slot.conn = Some(conn);
                slot.deadline = None;
                slot.handshaking = false;
                i
            }
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    conn: Some(conn),
                    deadline: None,
                    in_active: false,
                    in_events: false,
                    handshaking: false,
                    timer_dirty: false,
                });
                (self.slots.len() - 1) as u32
            }
        };
        self.touch(index);
        ConnectionHandle { index, generation: self.slots[index as usize].generation }
    }

    fn touch(&mut self, index: u32) {
        let slot = &mut self.slots[index as usize];
        if !slot.in_active {
            slot.in_active = true;
            self.active.push_back(index);
        }
        if !slot.in_events {
            slot.in_events = true;
            self.with_events.push_back(index);
        }
        self.mark_timer_dirty(index);
    }

    /// Queues a connection for a deadline refresh, once.
    fn mark_timer_dirty(&mut self, index: u32) {
        let slot = &mut self.slots[index as usize];
        if !slot.timer_dirty {
            slot.timer_dirty = true;
            self.timer_dirty.push(index);
        }
    }

    fn handle_of(&self, index: u32) -> ConnectionHandle {
        ConnectionHandle { index, generation: self.slots[index as usize].generation }
    }

    /// Processes one received UDP datagram, decrypting it in place.
    pub fn handle_datagram(&mut self, now: Instant, meta: RecvMeta, data: &mut [u8]) {
        self.last_now = now;
        self.stats.datagrams_received += 1;
        if data.len() > usize::from(u16::MAX) {
            self.stats.dropped.oversized += 1;
            return;
        }
        if data.is_empty() {
            self.stats.dropped.malformed += 1;
            return;
        }
        let datagram_len = data.len();
        let mut offset = 0;
        let mut first_dcid: Option<ConnectionId> = None;
        while offset < data.len() {
            let rest = &mut data[offset..];
            let partial = match PartialPacket::parse(rest) {
                Ok(p) => p,
                Err(PacketError::UnsupportedVersion(_)) => {
                    self.stats.dropped.unsupported_version += 1;
                    if offset == 0 && self.server.is_some() {
                        self.version_negotiation(meta.source, rest, datagram_len);
                    }
                    return;
                }
                Err(_) => {
                    self.stats.dropped.malformed += 1;
                    return;
                }
            };
            let dcid = *partial.form.dcid();
            if first_dcid.is_some_and(|d| d != dcid) {
                // Coalesced packets must share a destination (RFC 9000 §12.2).
                self.stats.dropped.malformed += 1;
                return;
            }
            first_dcid = Some(dcid);
            let packet = &mut rest[..partial.len];
            self.route(now, meta, &partial, packet, offset == 0, datagram_len);
            offset += partial.len;
        }
    }

    fn route(
        &mut self,
        now: Instant,
        meta: RecvMeta,
        partial: &PartialPacket,
        packet: &mut [u8],
        first_in_datagram: bool,
        datagram_len: usize,
    ) {
        let handle = match self.cids.get(partial.form.dcid()) {
            Some(h) => *h,
            None => match self.accept_new(now, meta, partial, datagram_len) {
                Some(h) => h,
                None => return,
            },
        };
        let idx = handle.index as usize;
        let Some(conn) = self.slots[idx].conn.as_mut() else { return };
        if first_in_datagram {
            conn.on_datagram_received(meta.source, datagram_len);
        }
        let was_closing = conn.is_closed();
        let outcome = conn.handle_packet(now, meta.source, partial, packet);
        let d = &mut self.stats.dropped;
        match outcome {
            PacketOutcome::Processed => {}
            PacketOutcome::NoKeys => d.no_keys += 1,
            PacketOutcome::Malformed => d.malformed += 1,
            PacketOutcome::DecryptFailed => d.decrypt_failed += 1,
            PacketOutcome::Duplicate => d.duplicate += 1,
            PacketOutcome::Ignored if was_closing => d.closing += 1,
            PacketOutcome::Ignored => d.malformed += 1,
        }
        // A server connection whose very first packet did not authenticate holds nothing
        // worth keeping: free it at once.
        if conn.is_handshaking_server() && outcome != PacketOutcome::Processed && !conn.has_received_anything() {
            self.remove(handle.index, false);
            return;
        }
        if core::mem::take(&mut conn.retire_original_dcid) && self.cids.get(&conn.original_dcid()) == Some(&handle) {
            // Handshake confirmed: the client no longer uses the ID it made up.
            self.cids.remove(&conn.original_dcid());
        }
        if conn.awaiting_accept().is_some() {
            self.decide_accept(now, handle.index, meta.source);
        }
        self.touch(handle.index);
        self.reap_if_drained(handle.index);
    }

    /// Creates server state for a client's first handshake packet, if acceptable.
    fn accept_new(
        &mut self,
        now: Instant,
        meta: RecvMeta,
        partial: &PartialPacket,
        datagram_len: usize,
    ) -> Option<ConnectionHandle> {
        let HeaderForm::Long { ty: LongType::Handshake, dcid, scid, .. } = partial.form else {
            self.stats.dropped.unknown_connection += 1;
            return None;
        };
        let Some(server) = self.server.as_ref() else {
            self.stats.dropped.unknown_connection += 1;
            return None;
        };
        if datagram_len < packet::MIN_INITIAL_SIZE {
            self.stats.dropped.short_initial += 1;
            return None;
        }
        // Short headers carry IDs of exactly LOCAL_CID_LEN bytes, so other lengths could not be
        // routed once the handshake is over; a too short first ID would weaken the keys.
        if dcid.len() < packet::LOCAL_CID_LEN || scid.len() != packet::LOCAL_CID_LEN {
            self.stats.dropped.malformed += 1;
            return None;
        }
        if self.connection_count() >= self.config.max_connections
            || self.incoming_handshakes >= self.config.max_incoming_handshakes
        {
            self.stats.dropped.capacity += 1;
            return None;
        }
        let transport = server.config.transport.clone();
        let keypair = server.keypair.clone();
        let local_cid = self.new_cid();
        let rng = self.child_rng();
        let ids = ConnectionIds { local: local_cid, remote: scid, original_dcid: dcid };
        let conn = match Connection::new_server(now, transport, keypair, ids, meta.source, rng) {
            Ok(c) => c,
            Err(_) => {
                self.stats.dropped.malformed += 1;
                return None;
            }
        };
        let handle = self.insert(conn);
        self.cids.insert(local_cid, handle);
        self.cids.insert(dcid, handle);
        self.slots[handle.index as usize].handshaking = true;
        self.incoming_handshakes += 1;
        Some(handle)
    }

    fn decide_accept(&mut self, now: Instant, index: u32, remote: SocketAddr) {
        let Some(server) = self.server.as_mut() else { return };
        let Some(conn) = self.slots[index as usize].conn.as_mut() else { return };
        let Some(client_key) = conn.awaiting_accept() else { return };
        let allowed = match (&server.config.allowed_clients, client_key) {
            (None, _) => true,
            (Some(list), Some(key)) => list.contains(&key),
            (Some(_), None) => false,
        };
        let verdict = if !allowed {
            Err(TransportErrorCode::CLIENT_NOT_AUTHORIZED)
        } else if let Some(policy) = server.config.accept_policy.as_mut()
            && !policy(&IncomingInfo { remote, client_key })
        {
            Err(TransportErrorCode::CONNECTION_REFUSED)
        } else {
            Ok(())
        };
        if conn.resolve_accept(now, verdict) {
            self.stats.accepted += 1;
        } else {
            self.stats.refused += 1;
        }
    }

    fn version_negotiation(&mut self, source: SocketAddr, packet: &[u8], datagram_len: usize) {
        // Only answer datagrams as large as a client's first flight, so the reply is smaller
        // than what provoked it.
        if datagram_len < packet::MIN_INITIAL_SIZE || self.stateless.len() >= MAX_STATELESS_QUEUE {
            return;
        }
        let Some((dcid, scid)) = parse_long_cids(packet) else { return };
        let mut data = vec![0u8; 1 + 4 + 2 + dcid.len() + scid.len() + 4];
        let mut w = crate::coding::Writer::new(&mut data);
        let bits = self.rng.next_u32() as u8;
        packet::write_version_negotiation(&mut w, bits, &scid, &dcid);
        self.stateless.push_back(StatelessReply { destination: source, data });
    }

    /// Fires the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = now;
        self.refresh_timers();
        while let Some(Reverse((deadline, index, generation))) = self.timers.peek().copied() {
            if deadline > now {
                break;
            }
            self.timers.pop();
            let slot = &mut self.slots[index as usize];
            if slot.generation != generation || slot.deadline != Some(deadline) {
                continue; // stale entry
            }
            slot.deadline = None;
            if let Some(conn) = slot.conn.as_mut() {
                conn.handle_timeout(now);
                self.touch(index);
                self.reap_if_drained(index);
            }
        }
    }

    fn reap_if_drained(&mut self, index: u32) {
        if self.slots[index as usize].conn.as_ref().is_some_and(Connection::is_drained) {
            self.remove(index, true);
        }
    }

    /// Frees a connection, keeping its unread events and announcing `Drained`.
    fn remove(&mut self, index: u32, announce: bool) {
        let handle = self.handle_of(index);
        let slot = &mut self.slots[index as usize];
        let Some(mut conn) = slot.conn.take() else { return };
        slot.deadline = None;
        if core::mem::take(&mut slot.handshaking) {
            self.incoming_handshakes -= 1;
        }
        self.cids.remove(&conn.local_cid());
        if self.cids.get(&conn.original_dcid()) == Some(&handle) {
            self.cids.remove(&conn.original_dcid());
        }
        if conn.is_visible() && announce {
            while let Some(e) = conn.poll_event() {
                self.orphan_events.push_back((handle, e));
            }
            self.orphan_events.push_back((handle, Event::Drained));
        }
        self.free.push(index);
    }

    // ----- output --------------------------------------------------------------------------

    /// Writes the next datagram(s) to send into `buf`; `Ok(None)` when nothing is ready.
    ///
    /// `buf` must hold at least one datagram of the connection's size (the transport's
    /// `initial_mtu`, 1200 bytes by default), or this returns [`BufferTooSmall`] and sends
    /// nothing; several datagrams' worth lets the endpoint batch GSO segments.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Result<Option<Transmit>, BufferTooSmall> {
        self.last_now = now;
        if self.stateless.front().is_some_and(|r| r.data.len() <= buf.len())
            && let Some(reply) = self.stateless.pop_front()
        {
            buf[..reply.data.len()].copy_from_slice(&reply.data);
            self.stats.datagrams_sent += 1;
            return Ok(Some(Transmit { destination: reply.destination, size: reply.data.len(), segment_size: None }));
        }
        while let Some(index) = self.active.pop_front() {
            let slot = &mut self.slots[index as usize];
            let Some(conn) = slot.conn.as_mut() else {
                slot.in_active = false;
                continue;
            };
            let outcome = match conn.poll_transmit(now, buf, self.config.max_gso_segments) {
                Ok(outcome) => outcome,
                Err(e) => {
                    // Keep the connection first in line for a call with a proper buffer.
                    self.active.push_front(index);
                    return Err(e);
                }
            };
            match outcome {
                Some(t) => {
                    let refused = conn.is_handshaking_server() && conn.is_drained();
                    // Round robin: back of the queue, so one busy connection can't starve others.
                    self.active.push_back(index);
                    self.mark_timer_dirty(index);
                    if refused {
                        self.remove(index, false);
                    } else {
                        self.reap_if_drained(index);
                    }
                    self.stats.datagrams_sent += t.segments() as u64;
                    return Ok(Some(t));
                }
                None => {
                    slot.in_active = false;
                    self.mark_timer_dirty(index);
                    self.reap_if_drained(index);
                }
            }
        }
        Ok(None)
    }

    /// The next event of any connection.
    pub fn poll_event(&mut self) -> Option<(ConnectionHandle, Event)> {
        if let Some(e) = self.orphan_events.pop_front() {
            return Some(e);
        }
        while let Some(&index) = self.with_events.front() {
            let handle = self.handle_of(index);
            let slot = &mut self.slots[index as usize];
            if let Some(conn) = slot.conn.as_mut()
                && conn.is_visible()
                && let Some(e) = conn.poll_event()
            {
                if core::mem::take(&mut slot.handshaking) {
                    self.incoming_handshakes -= 1;
                }
                return Some((handle, e));
            }
            slot.in_events = false;
            self.with_events.pop_front();
        }
        None
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next. Returns the last
    /// `now` seen when output or events may already be waiting (drain them first).
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        if !self.active.is_empty()
            || !self.with_events.is_empty()
            || !self.orphan_events.is_empty()
            || !self.stateless.is_empty()
        {
            return Some(self.last_now);
        }
        self.refresh_timers();
        while let Some(Reverse((deadline, index, generation))) = self.timers.peek().copied() {
            let slot = &self.slots[index as usize];
            if slot.generation == generation && slot.deadline == Some(deadline) && slot.conn.is_some() {
                return Some(deadline);
            }
            self.timers.pop();
        }
        None
    }

    fn refresh_timers(&mut self) {
        while let Some(index) = self.timer_dirty.pop() {
            let slot = &mut self.slots[index as usize];
            slot.timer_dirty = false;
            let deadline = slot.conn.as_ref().and_then(Connection::poll_timeout);
            if deadline != slot.deadline {
                slot.deadline = deadline;
                if let Some(d) = deadline {
                    self.timers.push(Reverse((d, index, slot.generation)));
                }
            }
        }
    }
}

/// Destination and source connection IDs of any long header, whatever its version.
fn parse_long_cids(packet: &[u8]) -> Option<(ConnectionId, ConnectionId)> {
    let mut r = crate::coding::Reader::new(packet);
    r.bytes(5).ok()?;
    let dlen = usize::from(r.u8().ok()?);
    let dcid = ConnectionId::new(r.bytes(dlen).ok()?)?;
    let slen = usize::from(r.u8().ok()?);
    let scid = ConnectionId::new(r.bytes(slen).ok()?)?;
    Some((dcid, scid))
}

#[cfg(test)]
#[path = "endpoint_tests.rs"]
mod tests;
