//! The discrete-event engine: one server endpoint, one client endpoint per connection, a
//! two-direction path between them, all in virtual time.
//!
//! Events (datagram arrivals, endpoint timers, application ticks, scheduled network
//! changes, metric samples) sit in a priority queue ordered by time and then by insertion,
//! so ties resolve the same way on every run. Randomness comes from sub-streams of the run's
//! seed only; nothing reads a clock except the wall-time figure of the summary.

use crate::app::AppState;
use crate::link::{Fate, LinkDirection};
use crate::plot::{self, Line};
use crate::queue::EventQueue;
use crate::report::{ConnectionSummary, Histogram, LinkSummary, RunInfo, Summary, Totals};
use crate::rng::SimRng;
use crate::scenario::{Cipher, Congestion, RunSpec, Scenario};
use crate::trace::{MetricsLine, Tracer, Way};
use jetstream_core::congestion::{CubicConfig, NewRenoConfig};
use jetstream_core::{
    ClientConfig, Connection, ConnectionHandle, ConnectionStats, Endpoint, EndpointConfig, Event, Instant, RecvMeta,
    ServerConfig, Side, StaticKeypair, TransportConfig,
};
use std::collections::{HashMap, VecDeque};
use std::io::{self, BufWriter};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use thiserror::Error;

/// A run could not be carried out.
#[derive(Debug, Error)]
pub enum SimError {
    /// Writing the output failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: io::Error,
    },
    /// The scenario's transport settings were refused by the core.
    #[error("invalid transport settings: {0}")]
    Config(String),
}

/// GSO segments per transmit: fewer calls into the endpoints, same packets on the link.
const GSO_SEGMENTS: usize = 10;
/// Transmit buffer: a full GSO batch of the largest datagrams the endpoints send.
const TX_BUF: usize = GSO_SEGMENTS * 65_536;
/// A bottleneck queue counts as full from this fraction of its capacity.
const QUEUE_FULL: f64 = 0.9;

/// A datagram on the path.
#[derive(Debug)]
struct InTransit {
    at: Instant,
    way: Way,
    from: SocketAddr,
    to: SocketAddr,
    data: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Server,
    Client(usize),
}

#[derive(Debug)]
enum SimEvent {
    /// A held-back (reordered) datagram reaches the far end of the path.
    Arrive(InTransit),
    /// The datagram at the head of a direction's in-order queue arrives.
    LinkHead(Way),
    /// An endpoint's timer (possibly early: its deadline may have moved later since).
    Wake(Node),
    /// A client connects.
    Start(usize),
    /// A client's periodic application fires.
    Tick(usize),
    /// The scenario's `changes[i]`.
    Change(usize),
    /// `blackouts[i]` starts (`true`) or ends.
    Blackout(usize, bool),
    /// The scenario's `rebinds[i]`.
    Rebind(usize),
    /// Time to sample metrics.
    Sample,
    /// Client `i`'s application is done: close its connection gracefully.
    Close(usize),
}

/// Per-connection time series behind the plots.
#[derive(Debug, Default)]
struct ConnSeries {
    goodput: Vec<(f64, f64)>,
    cwnd: Vec<(f64, f64)>,
    srtt: Vec<(f64, f64)>,
}

#[derive(Debug)]
struct Client {
    endpoint: Endpoint,
    addr: SocketAddr,
    start: Instant,
    handle: Option<ConnectionHandle>,
    server_handle: Option<ConnectionHandle>,
    app: AppState,
    /// When the earliest wake-up queued for this endpoint fires.
    timer: Option<Instant>,
    connected: bool,
    completed: bool,
    error: Option<String>,
    rtt: Histogram,
    rtt_samples_seen: [u64; 2],
    /// The latest statistics of the client and server halves (kept after they are gone).
    stats: [ConnectionStats; 2],
    last_delivered: u64,
    last_metrics: Option<MetricsLine>,
    series: Option<ConnSeries>,
}

struct Server {
    endpoint: Endpoint,
    addr: SocketAddr,
    /// When the earliest wake-up queued for this endpoint fires.
    timer: Option<Instant>,
    clients: HashMap<ConnectionHandle, usize>,
}

/// One run of a scenario with one seed.
pub struct Simulation {
    scenario: Scenario,
    seed: u64,
    now: Instant,
    end: Instant,
    queue: EventQueue<SimEvent>,
    events: u64,
    server: Server,
    clients: Vec<Client>,
    by_addr: HashMap<SocketAddr, usize>,
    client_config: ClientConfig,
    links: [LinkDirection; 2],
    /// Per direction, the datagrams that arrive in sending order: only the head of each is
    /// in the event queue, which keeps the heap small (a window of packets in flight would
    /// otherwise be a heap entry each).
    in_order: [VecDeque<InTransit>; 2],
    link_rngs: [SimRng; 2],
    tx: Vec<u8>,
    pool: Vec<Vec<u8>>,
    trace: Tracer,
    completed: usize,
    samples: u64,
    queue_full_samples: [u64; 2],
    total_goodput: Vec<(f64, f64)>,
    queue_series: [Vec<(f64, f64)>; 2],
    last_total_delivered: u64,
}

impl std::fmt::Debug for Simulation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulation")
            .field("scenario", &self.scenario.name)
            .field("seed", &self.seed)
            .field("now", &self.now)
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

fn transport(s: &Scenario) -> TransportConfig {
    let t = &s.transport;
    let mut c = TransportConfig { prefer_aes: s.cipher == Cipher::Aes, ..TransportConfig::default() };
    if t.congestion.is_some() || t.hystart.is_some() {
        let hystart = t.hystart.unwrap_or(false);
        c.congestion_controller = match t.congestion.unwrap_or(Congestion::Cubic) {
            Congestion::Cubic => Arc::new(CubicConfig::default().hystart(hystart)),
            Congestion::Newreno => Arc::new(NewRenoConfig::default().hystart(hystart)),
        };
    }
    if let Some(d) = t.idle_timeout {
        c.max_idle_timeout = d.0;
    }
    c.keep_alive_interval = t.keep_alive.map(|d| d.0);
    if let Some(d) = t.initial_rtt {
        c.initial_rtt = d.0;
    }
    if let Some(w) = t.stream_window {
        c.stream_receive_window = w.0;
    }
    if let Some(w) = t.window {
        c.receive_window = w.0;
        c.send_window = w.0;
    }
    if let Some(p) = t.pacing {
        c.pacing = p;
    }
    if let Some(d) = t.max_ack_delay {
        c.max_ack_delay = d.0;
    }
    c
}

fn client_addr(index: usize, port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::new(10, 1, (index >> 8) as u8, (index & 0xff) as u8), port))
}

fn secs(t: Instant) -> f64 {
    t.as_nanos() as f64 / 1e9
}

impl Simulation {
    /// Prepares a run; `trace_out` receives `trace.jsonl` lines (if the scenario traces).
    pub fn new(spec: &RunSpec, trace_out: Option<Box<dyn io::Write>>) -> Result<Self, SimError> {
        let scenario = spec.scenario.clone();
        let seed = spec.seed;
        let transport = Arc::new(transport(&scenario));
        let mut keys = SimRng::fork(seed, "keys");
        let server_key = StaticKeypair::from_secret_bytes(keys.bytes32());
        let mut client_config = ClientConfig::new(server_key.public_key());
        client_config.transport = transport.clone();
        let mut server_config = ServerConfig::new(server_key);
        server_config.transport = transport;
        let endpoint_config =
            |seed: [u8; 32]| EndpointConfig { max_gso_segments: GSO_SEGMENTS, ..EndpointConfig::new(seed) };
        let server = Endpoint::new(endpoint_config(keys.bytes32()), Some(server_config))
            .map_err(|e| SimError::Config(e.to_string()))?;
        let mut clients = Vec::with_capacity(scenario.connection_count());
        let mut by_addr = HashMap::new();
        for group in &scenario.connections {
            for k in 0..group.count {
                let index = clients.len();
                let endpoint = Endpoint::new(endpoint_config(keys.bytes32()), None)
                    .map_err(|e| SimError::Config(e.to_string()))?;
                let addr = client_addr(index, 40_000);
                by_addr.insert(addr, index);
                clients.push(Client {
                    endpoint,
                    addr,
                    start: Instant::ZERO + group.start.0 + group.stagger.0 * k,
                    handle: None,
                    server_handle: None,
                    app: AppState::new(group.app.clone()),
                    timer: None,
                    connected: false,
                    completed: false,
                    error: None,
                    rtt: Histogram::default(),
                    rtt_samples_seen: [0; 2],
                    stats: [ConnectionStats::default(); 2],
                    last_delivered: 0,
                    last_metrics: None,
                    series: (index < scenario.output.plot_connections).then(ConnSeries::default),
                });
            }
        }
        let up = LinkDirection::new(scenario.link.overridden_by(&scenario.uplink));
        let down = LinkDirection::new(scenario.link.overridden_by(&scenario.downlink));
        let trace = Tracer::new(scenario.output.trace, trace_out);
        let mut sim = Simulation {
            end: Instant::ZERO + scenario.duration.0,
            scenario,
            seed,
            now: Instant::ZERO,
            queue: EventQueue::new(),
            events: 0,
            server: Server {
                endpoint: server,
                addr: SocketAddr::from((Ipv4Addr::new(10, 0, 0, 1), 443)),
                timer: None,
                clients: HashMap::new(),
            },
            clients,
            by_addr,
            client_config,
            links: [up, down],
            in_order: [VecDeque::new(), VecDeque::new()],
            link_rngs: [SimRng::fork(seed, "uplink"), SimRng::fork(seed, "downlink")],
            tx: vec![0; TX_BUF],
            pool: Vec::new(),
            trace,
            completed: 0,
            samples: 0,
            queue_full_samples: [0; 2],
            total_goodput: Vec::new(),
            queue_series: [Vec::new(), Vec::new()],
            last_total_delivered: 0,
        };
        for i in 0..sim.clients.len() {
            sim.schedule(sim.clients[i].start, SimEvent::Start(i));
        }
        for (i, c) in sim.scenario.changes.clone().iter().enumerate() {
            sim.schedule(Instant::ZERO + c.at.0, SimEvent::Change(i));
        }
        for (i, b) in sim.scenario.blackouts.clone().iter().enumerate() {
            sim.schedule(Instant::ZERO + b.at.0, SimEvent::Blackout(i, true));
            sim.schedule(Instant::ZERO + b.at.0 + b.duration.0, SimEvent::Blackout(i, false));
        }
        for (i, r) in sim.scenario.rebinds.clone().iter().enumerate() {
            sim.schedule(Instant::ZERO + r.at.0, SimEvent::Rebind(i));
        }
        sim.schedule(Instant::ZERO + sim.scenario.output.sample_interval.0, SimEvent::Sample);
        Ok(sim)
    }

    fn schedule(&mut self, at: Instant, event: SimEvent) {
        self.queue.push(at, event);
    }

    /// Runs to completion (every application done) or the scenario's time limit, calling
    /// `progress` with the simulated seconds at every sample.
    pub fn run(&mut self, progress: &mut dyn FnMut(f64)) -> io::Result<bool> {
        while let Some((at, event)) = self.queue.pop() {
            if at > self.end {
                self.now = self.end;
                return Ok(false);
            }
            self.now = at;
            self.events += 1;
            if matches!(event, SimEvent::Sample) {
                progress(secs(self.now));
            }
            self.handle(event)?;
            if self.completed == self.clients.len() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn handle(&mut self, event: SimEvent) -> io::Result<()> {
        match event {
            SimEvent::Arrive(datagram) => self.arrive(datagram),
            SimEvent::LinkHead(way) => {
                let queue = &mut self.in_order[way as usize];
                let Some(datagram) = queue.pop_front() else { return Ok(()) };
                if let Some(next) = queue.front() {
                    let at = next.at;
                    self.schedule(at, SimEvent::LinkHead(way));
                }
                self.arrive(datagram)
            }
            SimEvent::Wake(node) => {
                let now = self.now;
                let (ep, timer) = self.node_mut(node);
                if *timer != Some(now) {
                    // Superseded by an earlier wake-up that has already happened.
                    return Ok(());
                }
                *timer = None;
                if ep.poll_timeout().is_some_and(|t| t <= now) {
                    ep.handle_timeout(now);
                }
                // Either way `drive` re-arms for the endpoint's current deadline.
                self.drive(node)
            }
            SimEvent::Start(i) => self.start(i),
            SimEvent::Tick(i) => {
                let now = self.now;
                let (app, conn) = self.app_and_connection(i, Side::Client);
                if let Some(at) = conn.and_then(|conn| app.on_tick(conn, now)) {
                    self.schedule(at, SimEvent::Tick(i));
                }
                self.drive(Node::Client(i))?;
                self.note_completion(i)
            }
            SimEvent::Change(k) => {
                let change = self.scenario.changes[k].clone();
                for (way, link) in self.links.iter_mut().enumerate() {
                    if change.direction.covers(way == 0) {
                        link.apply(&change.set);
                    }
                }
                self.trace.network(self.now, "link_changed", &change.set.describe())
            }
            SimEvent::Blackout(k, on) => {
                let direction = self.scenario.blackouts[k].direction;
                for (way, link) in self.links.iter_mut().enumerate() {
                    if direction.covers(way == 0) {
                        link.set_blackout(on);
                    }
                }
                let what = if on { "blackout_started" } else { "blackout_ended" };
                self.trace.network(self.now, what, &format!("{direction:?}").to_lowercase())
            }
            SimEvent::Rebind(k) => {
                let targets = self.scenario.rebinds[k].connections.clone();
                let all: Vec<usize> = (0..self.clients.len()).collect();
                for &i in targets.as_deref().unwrap_or(&all) {
                    let old = self.clients[i].addr;
                    let new = SocketAddr::new(old.ip(), old.port().wrapping_add(1));
                    self.by_addr.remove(&old);
                    self.by_addr.insert(new, i);
                    self.clients[i].addr = new;
                    self.trace.conn_event(self.now, i, "client", "nat_rebinding", &format!("{old} -> {new}"))?;
                }
                Ok(())
            }
            SimEvent::Close(i) => {
                let now = self.now;
                if let Some(conn) = self.connection(i, Side::Client) {
                    conn.close(now, 0, b"done");
                }
                self.drive(Node::Client(i))
            }
            SimEvent::Sample => {
                self.sample()?;
                let next = self.now + self.scenario.output.sample_interval.0;
                self.schedule(next, SimEvent::Sample);
                Ok(())
            }
        }
    }

    fn start(&mut self, i: usize) -> io::Result<()> {
        let config = self.client_config.clone();
        let c = &mut self.clients[i];
        match c.endpoint.connect(self.now, config, self.server.addr) {
            Ok(h) => c.handle = Some(h),
            Err(e) => c.error = Some(e.to_string()),
        }
        self.trace.conn_event(self.now, i, "client", "connection_started", "")?;
        self.drive(Node::Client(i))
    }

    /// Drains an endpoint's transmits and events until it is quiet, then re-arms its timer.
    fn drive(&mut self, node: Node) -> io::Result<()> {
        // The transmit buffer leaves `self` while the endpoint writes into it, and always
        // comes back (even on a trace write error).
        let mut tx = std::mem::take(&mut self.tx);
        let drained = self.drain(node, &mut tx);
        self.tx = tx;
        drained?;
        let now = self.now;
        let (ep, timer) = self.node_mut(node);
        // Deadlines mostly move later (every ACK pushes the loss timer out): keep the wake-up
        // already queued and re-check when it fires; queue a new one only when the deadline
        // moves earlier, so the queue does not fill with stale wake-ups.
        let next = ep.poll_timeout().map(|t| t.max(now));
        if let Some(at) = next
            && timer.is_none_or(|queued| at < queued)
        {
            *timer = Some(at);
            self.schedule(at, SimEvent::Wake(node));
        }
        Ok(())
    }

    fn drain(&mut self, node: Node, tx: &mut [u8]) -> io::Result<()> {
        let now = self.now;
        loop {
            let mut busy = false;
            while let Ok(Some(t)) = self.node_mut(node).0.poll_transmit(now, tx) {
                busy = true;
                let segment = t.segment_size.unwrap_or(t.size).max(1);
                for datagram in tx[..t.size].chunks(segment) {
                    self.send(node, t.destination, datagram)?;
                }
            }
            while let Some((handle, event)) = self.node_mut(node).0.poll_event() {
                busy = true;
                self.on_event(node, handle, event)?;
            }
            if !busy {
                return Ok(());
            }
        }
    }

    /// The endpoint at `node` and the time of its queued wake-up.
    fn node_mut(&mut self, node: Node) -> (&mut Endpoint, &mut Option<Instant>) {
        match node {
            Node::Server => (&mut self.server.endpoint, &mut self.server.timer),
            Node::Client(i) => {
                let c = &mut self.clients[i];
                (&mut c.endpoint, &mut c.timer)
            }
        }
    }

    /// Puts `datagram`, sent by `node` to `to`, on the path.
    fn send(&mut self, node: Node, to: SocketAddr, datagram: &[u8]) -> io::Result<()> {
        let len = datagram.len();
        let (way, from, conn) = match node {
            Node::Client(i) => (Way::Up, self.clients[i].addr, i),
            Node::Server => (Way::Down, self.server.addr, self.by_addr.get(&to).copied().unwrap_or(usize::MAX)),
        };
        let w = way as usize;
        self.trace.packet_sent(self.now, conn, way, len)?;
        match self.links[w].send(self.now, len, &mut self.link_rngs[w]) {
            Fate::Dropped(reason) => self.trace.packet_dropped(self.now, conn, way, len, reason),
            Fate::Delivered(first, second) => {
                for arrival in std::iter::once(first).chain(second) {
                    let mut data = self.pool.pop().unwrap_or_default();
                    data.clear();
                    data.extend_from_slice(datagram);
                    if let Some(bit) = arrival.flipped_bit {
                        data[bit / 8] ^= 1 << (bit % 8);
                    }
                    let datagram = InTransit { at: arrival.at, way, from, to, data };
                    if arrival.held_back {
                        self.schedule(arrival.at, SimEvent::Arrive(datagram));
                    } else {
                        let queue = &mut self.in_order[w];
                        let was_empty = queue.is_empty();
                        queue.push_back(datagram);
                        if was_empty {
                            self.schedule(arrival.at, SimEvent::LinkHead(way));
                        }
                    }
                }
                Ok(())
            }
        }
    }

    fn arrive(&mut self, datagram: InTransit) -> io::Result<()> {
        let InTransit { way, from, to, mut data, .. } = datagram;
        let now = self.now;
        let result = match way {
            Way::Up => {
                let conn = self.by_addr.get(&from).copied().unwrap_or(usize::MAX);
                self.trace.packet_received(now, conn, way, data.len())?;
                self.server.endpoint.handle_datagram(now, RecvMeta::from_source(from), &mut data);
                if conn != usize::MAX {
                    self.record_rtt(conn, Side::Server)?;
                }
                self.drive(Node::Server)
            }
            Way::Down => match self.by_addr.get(&to).copied() {
                // The NAT no longer maps this address: nobody receives it.
                None => self.trace.unroutable(now, data.len()),
                Some(i) => {
                    self.trace.packet_received(now, i, way, data.len())?;
                    self.clients[i].endpoint.handle_datagram(now, RecvMeta::from_source(from), &mut data);
                    self.record_rtt(i, Side::Client)?;
                    self.drive(Node::Client(i))
                }
            },
        };
        self.pool.push(data);
        result
    }

    /// The connection of client `i` on `side`, if it still exists.
    fn connection(&mut self, i: usize, side: Side) -> Option<&mut Connection> {
        self.app_and_connection(i, side).1
    }

    /// Client `i`'s application and its connection on `side` (if that still exists).
    fn app_and_connection(&mut self, i: usize, side: Side) -> (&mut AppState, Option<&mut Connection>) {
        let c = &mut self.clients[i];
        let conn = match side {
            Side::Client => c.handle.and_then(|h| c.endpoint.connection(h)),
            Side::Server => c.server_handle.and_then(|h| self.server.endpoint.connection(h)),
        };
        (&mut c.app, conn)
    }

    /// Records a new RTT sample of client `i`'s connection on `side`, if one was taken.
    fn record_rtt(&mut self, i: usize, side: Side) -> io::Result<()> {
        let Some(stats) = self.connection(i, side).map(|c| c.stats()) else { return Ok(()) };
        let s = side as usize;
        let c = &mut self.clients[i];
        c.stats[s] = stats;
        if stats.rtt_samples != c.rtt_samples_seen[s] {
            c.rtt_samples_seen[s] = stats.rtt_samples;
            let us = stats.latest_rtt.as_micros() as u64;
            c.rtt.record(us);
            self.trace.rtt_sample(self.now, i, us)?;
        }
        Ok(())
    }

    fn on_event(&mut self, node: Node, handle: ConnectionHandle, event: Event) -> io::Result<()> {
        let now = self.now;
        let (i, side) = match node {
            Node::Client(i) => (i, Side::Client),
            Node::Server => {
                let known = self.server.clients.get(&handle).copied();
                let i = match (known, &event) {
                    (Some(i), _) => i,
                    (None, Event::Connected) => {
                        let remote = self.server.endpoint.connection(handle).map(|c| c.remote_address());
                        let Some(&i) = remote.and_then(|r| self.by_addr.get(&r)) else { return Ok(()) };
                        self.server.clients.insert(handle, i);
                        self.clients[i].server_handle = Some(handle);
                        i
                    }
                    // A handshake that never completed: no application to tell.
                    (None, _) => return Ok(()),
                };
                (i, Side::Server)
            }
        };
        let side_name = if side == Side::Client { "client" } else { "server" };
        match event {
            Event::Connected => {
                self.clients[i].connected = true;
                self.trace.conn_event(now, i, side_name, "connected", "")?;
                let (app, conn) = self.app_and_connection(i, side);
                if let Some(at) = conn.and_then(|conn| app.on_connected(side, conn, now)) {
                    self.schedule(at, SimEvent::Tick(i));
                }
            }
            Event::HandshakeFailed(e) | Event::ConnectionLost(e) => {
                let what = if self.clients[i].connected { "connection_lost" } else { "handshake_failed" };
                self.trace.conn_event(now, i, side_name, what, &e.to_string())?;
                let c = &mut self.clients[i];
                if !c.completed {
                    c.error.get_or_insert_with(|| format!("{side_name}: {e}"));
                }
            }
            Event::Stream(se) => {
                if let (app, Some(conn)) = self.app_and_connection(i, side) {
                    app.on_stream_event(side, conn, se, now);
                }
            }
            Event::DatagramReceived => {
                if let (app, Some(conn)) = self.app_and_connection(i, side) {
                    app.on_datagrams(conn, now);
                }
            }
            Event::PeerAddressChanged { new } => {
                self.trace.conn_event(now, i, side_name, "peer_address_changed", &new.to_string())?;
            }
            Event::Drained => {
                if side == Side::Server {
                    self.server.clients.remove(&handle);
                    self.clients[i].server_handle = None;
                } else {
                    self.clients[i].handle = None;
                }
                self.trace.conn_event(now, i, side_name, "drained", "")?;
            }
        }
        self.note_completion(i)
    }

    /// Counts client `i`'s application as done once it says so, and closes its connection.
    fn note_completion(&mut self, i: usize) -> io::Result<()> {
        let c = &mut self.clients[i];
        if !c.completed && c.app.progress().completed_at.is_some() {
            c.completed = true;
            self.completed += 1;
            self.trace.conn_event(self.now, i, "client", "app_completed", "")?;
            self.schedule(self.now, SimEvent::Close(i));
        }
        Ok(())
    }

    /// One metrics sample: time series for the plots, metric and loss events for the trace.
    fn sample(&mut self) -> io::Result<()> {
        let now = self.now;
        let t = secs(now);
        let interval = self.scenario.output.sample_interval.0.as_secs_f64();
        self.samples += 1;
        for w in 0..2 {
            let queued = self.links[w].queue_bytes(now);
            let capacity = self.links[w].queue_capacity();
            if self.links[w].rate().is_some() && queued as f64 >= QUEUE_FULL * capacity as f64 {
                self.queue_full_samples[w] += 1;
            }
            self.queue_series[w].push((t, queued as f64 / 1024.0));
        }
        let mut total = 0;
        for i in 0..self.clients.len() {
            for side in [Side::Client, Side::Server] {
                if let Some(stats) = self.connection(i, side).map(|c| c.stats()) {
                    self.clients[i].stats[side as usize] = stats;
                }
            }
            let c = &mut self.clients[i];
            let delivered = c.app.progress().delivered;
            total += delivered;
            let sender = c.stats[c.app.data_sender() as usize];
            let metrics = MetricsLine {
                cwnd: sender.cwnd,
                bytes_in_flight: sender.bytes_in_flight,
                srtt_us: sender.rtt.as_micros() as u64,
                min_rtt_us: sender.min_rtt.as_micros() as u64,
                pacing_bps: sender.pacing_rate_bps,
                lost: sender.packets_lost,
                delivered,
            };
            if let Some(series) = c.series.as_mut() {
                series.goodput.push((t, (delivered - c.last_delivered) as f64 * 8.0 / interval / 1e6));
                series.cwnd.push((t, sender.cwnd as f64 / 1024.0));
                series.srtt.push((t, sender.rtt.as_secs_f64() * 1e3));
            }
            c.last_delivered = delivered;
            if c.handle.is_some() && c.last_metrics != Some(metrics) {
                let lost_before = c.last_metrics.map_or(0, |m| m.lost);
                c.last_metrics = Some(metrics);
                if metrics.lost > lost_before {
                    let side = if c.app.data_sender() == Side::Client { "client" } else { "server" };
                    self.trace.packets_lost(now, i, side, metrics.lost - lost_before)?;
                }
                self.trace.metrics(now, i, &metrics)?;
            }
        }
        self.total_goodput.push((t, (total - self.last_total_delivered) as f64 * 8.0 / interval / 1e6));
        self.last_total_delivered = total;
        Ok(())
    }

    /// The run's results (`wall_s` filled in by the caller).
    pub fn summary(&mut self, completed: bool) -> Summary {
        let end = self.now;
        let mut all_rtt = Histogram::default();
        let mut connections = Vec::with_capacity(self.clients.len());
        for i in 0..self.clients.len() {
            for side in [Side::Client, Side::Server] {
                if let Some(stats) = self.connection(i, side).map(|c| c.stats()) {
                    self.clients[i].stats[side as usize] = stats;
                }
            }
            let c = &self.clients[i];
            let p = c.app.progress();
            let finish = p.completed_at.unwrap_or(end);
            let active = finish.saturating_duration_since(c.start).as_secs_f64();
            all_rtt.merge(&c.rtt);
            connections.push(ConnectionSummary {
                connection: i,
                app: c.app.kind().into(),
                delivered_bytes: p.delivered,
                expected_bytes: p.expected,
                corrupted_bytes: p.corrupted,
                goodput_mbps: round3(if active > 0.0 { p.delivered as f64 * 8.0 / active / 1e6 } else { 0.0 }),
                completion_s: p.completed_at.map(|t| round6(t.saturating_duration_since(c.start).as_secs_f64())),
                connected: c.connected,
                retransmitted_packets: c.stats.iter().map(|s| s.packets_retransmitted).sum(),
                lost_packets: c.stats.iter().map(|s| s.packets_lost).sum(),
                rtt_p50_ms: c.rtt.quantile(0.5).map(|us| round3(us / 1000.0)),
                rtt_p99_ms: c.rtt.quantile(0.99).map(|us| round3(us / 1000.0)),
                rtt_min_ms: c.rtt.min().map(|v| round3(v / 1000.0)),
                error: c.error.clone(),
            });
        }
        let first_start = self.clients.iter().map(|c| c.start).min().unwrap_or(Instant::ZERO);
        let all_done = connections.iter().all(|c| c.completion_s.is_some());
        let last = if all_done {
            self.clients.iter().filter_map(|c| c.app.progress().completed_at).max().unwrap_or(end)
        } else {
            end
        };
        let span = last.saturating_duration_since(first_start).as_secs_f64();
        let delivered: u64 = connections.iter().map(|c| c.delivered_bytes).sum();
        let total = Totals {
            connections: connections.len(),
            completed: connections.iter().filter(|c| c.completion_s.is_some()).count(),
            delivered_bytes: delivered,
            expected_bytes: connections.iter().map(|c| c.expected_bytes).sum(),
            corrupted_bytes: connections.iter().map(|c| c.corrupted_bytes).sum(),
            goodput_mbps: round3(if span > 0.0 { delivered as f64 * 8.0 / span / 1e6 } else { 0.0 }),
            completion_s: all_done.then(|| round6(span)),
            retransmitted_packets: connections.iter().map(|c| c.retransmitted_packets).sum(),
            lost_packets: connections.iter().map(|c| c.lost_packets).sum(),
            rtt_p50_ms: all_rtt.quantile(0.5).map(|v| round3(v / 1000.0)),
            rtt_p99_ms: all_rtt.quantile(0.99).map(|v| round3(v / 1000.0)),
        };
        let fraction = |n: u64| if self.samples == 0 { 0.0 } else { round3(n as f64 / self.samples as f64) };
        Summary {
            run: RunInfo {
                scenario: self.scenario.name.clone(),
                sweep: None,
                seed: self.seed,
                sim_s: round6(secs(end)),
                sim_events: self.events,
                sim_packets: self.links.iter().map(|l| l.stats().offered).sum(),
                wall_s: 0.0,
                stopped: if completed { "completed" } else { "time_limit" }.into(),
            },
            total,
            connections,
            links: LinkSummary {
                up: self.links[0].stats(),
                down: self.links[1].stats(),
                up_queue_full_fraction: fraction(self.queue_full_samples[0]),
                down_queue_full_fraction: fraction(self.queue_full_samples[1]),
            },
        }
    }

    /// The plots: goodput, congestion window, RTT and (with a bottleneck) queue occupancy.
    pub fn plots(&self) -> Vec<(&'static str, String)> {
        let per_conn = |pick: fn(&ConnSeries) -> &Vec<(f64, f64)>| -> Vec<Line> {
            self.clients
                .iter()
                .enumerate()
                .filter_map(|(i, c)| {
                    c.series.as_ref().map(|s| Line { name: format!("conn {i}"), points: pick(s).clone() })
                })
                .collect()
        };
        let mut goodput = vec![Line { name: "total".into(), points: self.total_goodput.clone() }];
        if self.clients.len() > 1 {
            goodput.extend(per_conn(|s| &s.goodput));
        }
        let mut plots = vec![
            ("goodput.svg", plot::line_chart("Goodput", "time (s)", "Mbit/s", &goodput)),
            (
                "cwnd.svg",
                plot::line_chart("Congestion window (data sender)", "time (s)", "KiB", &per_conn(|s| &s.cwnd)),
            ),
            ("rtt.svg", plot::line_chart("Smoothed RTT (data sender)", "time (s)", "ms", &per_conn(|s| &s.srtt))),
        ];
        if self.links.iter().any(|l| l.rate().is_some()) {
            let lines = vec![
                Line { name: "uplink".into(), points: self.queue_series[0].clone() },
                Line { name: "downlink".into(), points: self.queue_series[1].clone() },
            ];
            plots.push(("queue.svg", plot::line_chart("Bottleneck queue", "time (s)", "KiB", &lines)));
        }
        plots
    }

    /// Flushes the trace.
    pub fn finish_trace(&mut self) -> io::Result<()> {
        self.trace.flush()
    }

    /// The smallest RTT the path allows: both directions' minimum transit times.
    pub fn path_min_rtt(&self) -> jetstream_core::Duration {
        self.links[0].min_delay() + self.links[1].min_delay()
    }
}

fn round3(v: f64) -> f64 {
    (v * 1e3).round() / 1e3
}

fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// Runs one scenario/seed, writing `summary.json`, `trace.jsonl` and the plots into `out`
/// (when given). `progress` receives simulated seconds as the run advances.
pub fn run(spec: &RunSpec, out: Option<&Path>, progress: &mut dyn FnMut(f64)) -> Result<Summary, SimError> {
    let io_err = |path: &Path| {
        let path = path.display().to_string();
        move |source: io::Error| SimError::Io { path: path.clone(), source }
    };
    let wall = std::time::Instant::now();
    let trace_out: Option<Box<dyn io::Write>> = match out {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
            let path = dir.join("trace.jsonl");
            let file = std::fs::File::create(&path).map_err(io_err(&path))?;
            Some(Box::new(BufWriter::with_capacity(1 << 20, file)))
        }
        None => None,
    };
    let trace_path = out.map(|d| d.join("trace.jsonl")).unwrap_or_default();
    let mut sim = Simulation::new(spec, trace_out)?;
    let completed = sim.run(progress).map_err(io_err(&trace_path))?;
    sim.finish_trace().map_err(io_err(&trace_path))?;
    let mut summary = sim.summary(completed);
    summary.run.sweep.clone_from(&spec.sweep_label);
    summary.run.wall_s = round3(wall.elapsed().as_secs_f64());
    if let Some(dir) = out {
        if spec.scenario.output.trace == crate::scenario::TraceLevel::Off {
            let _ = std::fs::remove_file(&trace_path);
        }
        let path = dir.join("summary.json");
        let json = serde_json::to_string_pretty(&summary).map_err(|e| io_err(&path)(io::Error::other(e)))?;
        std::fs::write(&path, json + "\n").map_err(io_err(&path))?;
        for (name, svg) in sim.plots() {
            let path = dir.join(name);
            std::fs::write(&path, svg).map_err(io_err(&path))?;
        }
    }
    Ok(summary)
}
