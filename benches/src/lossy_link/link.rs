//! The emulated link: two network namespaces joined by a veth pair, each end shaped by
//! `tc qdisc tbf` and each namespace dropping a share of the packets arriving on it with
//! an `nft` rule on its input hook. Deleted on drop.
//!
//! Loss sits on the *input* hooks: a drop on the sender's output hook comes back to the
//! sending socket as an error (EPERM), which no real path does. Both namespaces drop, so
//! data and acknowledgements are lost alike. Both veth ends are set to `gso_max_segs 1`:
//! a GSO or TSO batch is cut into wire-size packets before it crosses the pair, so the
//! loss rule and the shaper see one packet per datagram or TCP segment, as a real link
//! would, instead of dropping a whole 64 KiB batch at once. tbf's peak-rate bucket does the
//! same for its queue (see [`PEAK_BUCKET_BYTES`]).

use std::fs::File;
use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use nix::sched::{CloneFlags, setns};

use super::counters::{self, LinkCounters};

/// The client's address (the data sender).
pub(super) const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(10, 202, 0, 1);
/// The server's address (the data receiver).
pub(super) const SERVER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 202, 0, 2);

/// Every namespace of ours is named `PREFIX<pid>x<n>-client|server`.
const NAMESPACE_PREFIX: &str = "jetstream-lossy-";

/// The nft table (one per namespace) holding the loss rule.
const NFT_TABLE: &str = "jetstream_lossy";

/// tbf's peak rate as a multiple of its rate: the speed of the link feeding the bottleneck,
/// at which a full bucket drains after an idle moment (a 1 Gbit/s LAN in front of a
/// 100 Mbit/s link).
const PEAK_RATE_FACTOR: u64 = 10;

/// tbf's peak bucket (`mtu`): one 1514-byte frame with room to spare. It also makes tbf cut
/// every GSO batch larger than this into packets as it enqueues them, so the queue limit
/// drops single packets (and counts them), as a router's queue would, not whole batches.
const PEAK_BUCKET_BYTES: u32 = 1600;

/// Links made by this process so far: with the process id, a unique name for each.
static LINKS_MADE: AtomicU32 = AtomicU32::new(0);

/// How the link is shaped in each direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Shape {
    /// tbf rate, Mbit/s.
    pub(super) rate_mbit: u32,
    /// tbf bucket size in bytes: what may leave at once after an idle moment.
    pub(super) burst_bytes: u32,
    /// tbf queue limit in bytes: what waits for tokens before packets are dropped.
    pub(super) queue_bytes: u32,
}

/// One end of the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    /// Where the client (the data sender) runs.
    Client,
    /// Where the server (the data receiver) runs.
    Server,
}

/// Why the link could not be made.
#[derive(Debug)]
pub(super) enum LinkError {
    /// This process may not create network namespaces (not root, or a container without
    /// CAP_SYS_ADMIN).
    NotPermitted(String),
    /// Anything else: a missing tool, a command that failed.
    Failed(String),
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkError::NotPermitted(e) => write!(f, "creating network namespaces is not permitted (run as root): {e}"),
            LinkError::Failed(e) => f.write_str(e),
        }
    }
}

impl From<LinkError> for String {
    fn from(e: LinkError) -> String {
        e.to_string()
    }
}

/// The two namespaces and the veth pair; both namespaces (and with them the pair) are
/// deleted on drop.
#[derive(Debug)]
pub(super) struct LossyLink {
    client_ns: String,
    server_ns: String,
    client_dev: String,
    server_dev: String,
    loss_percent: u8,
}

impl LossyLink {
    /// Creates the namespaces, the veth pair, the shaping and a loss rule at 0%.
    pub(super) fn create(shape: Shape) -> Result<LossyLink, LinkError> {
        remove_stale_namespaces();
        let tag = format!("{}x{}", std::process::id(), LINKS_MADE.fetch_add(1, Ordering::Relaxed));
        let client_ns = format!("{NAMESPACE_PREFIX}{tag}-client");
        let server_ns = format!("{NAMESPACE_PREFIX}{tag}-server");
        // Interface names have at most 15 bytes: "jlc" + pid (at most 7 digits) + "x" + n.
        let (client_dev, server_dev) = (format!("jlc{tag}"), format!("jls{tag}"));
        if let Err(e) = run(&["ip", "netns", "add", &client_ns]) {
            return Err(if e.contains("Operation not permitted") || e.contains("Permission denied") {
                LinkError::NotPermitted(e)
            } else {
                LinkError::Failed(e)
            });
        }
        // `server_ns` may not exist yet when a step below fails; deleting it then fails
        // quietly in drop.
        let link = LossyLink { client_ns, server_ns, client_dev, server_dev, loss_percent: 0 };
        link.build(shape).map_err(LinkError::Failed)?;
        Ok(link)
    }

    fn build(&self, shape: Shape) -> Result<(), String> {
        let (client_ns, server_ns) = (&self.client_ns, &self.server_ns);
        let (client_dev, server_dev) = (&self.client_dev, &self.server_dev);
        run_line(&format!("ip netns add {server_ns}"))?;
        // Made inside the client namespace with its peer inside the server's: neither end
        // ever appears in the namespace this process runs in.
        run_line(&format!(
            "ip -n {client_ns} link add {client_dev} type veth peer name {server_dev} netns {server_ns}"
        ))?;
        let Shape { rate_mbit, burst_bytes, queue_bytes } = shape;
        let peak_mbit = u64::from(rate_mbit) * PEAK_RATE_FACTOR;
        for side in [Side::Client, Side::Server] {
            let (ns, dev, addr) = (self.namespace(side), self.device(side), address(side));
            run_line(&format!("ip -n {ns} addr add {addr}/24 dev {dev}"))?;
            run_line(&format!("ip -n {ns} link set {dev} gso_max_segs 1 up"))?;
            run_line(&format!("ip -n {ns} link set lo up"))?;
            run_line(&format!(
                "tc -n {ns} qdisc add dev {dev} root tbf rate {rate_mbit}mbit burst {burst_bytes} limit {queue_bytes} \
                 peakrate {peak_mbit}mbit mtu {PEAK_BUCKET_BYTES}"
            ))?;
            nft(ns, &format!("add table inet {NFT_TABLE}"))?;
            nft(ns, &format!("add chain inet {NFT_TABLE} input {{ type filter hook input priority 0 ; }}"))?;
        }
        self.install_loss_rule(0)
    }

    /// Drops `percent`% of the packets arriving in each namespace from now on (and
    /// restarts the drop counters).
    pub(super) fn set_loss(&mut self, percent: u8) -> Result<(), String> {
        if percent > 100 {
            return Err(format!("a loss of {percent}% is not a percentage"));
        }
        self.install_loss_rule(percent)?;
        self.loss_percent = percent;
        Ok(())
    }

    fn install_loss_rule(&self, percent: u8) -> Result<(), String> {
        for side in [Side::Client, Side::Server] {
            let (ns, dev) = (self.namespace(side), self.device(side));
            nft(ns, &format!("flush chain inet {NFT_TABLE} input"))?;
            nft(
                ns,
                &format!(
                    "add rule inet {NFT_TABLE} input iifname {dev} numgen random mod 100 < {percent} counter drop"
                ),
            )?;
        }
        Ok(())
    }

    /// The loss the rules apply now, in percent.
    pub(super) fn loss_percent(&self) -> u8 {
        self.loss_percent
    }

    /// Reads every counter of the link: nft drops, tbf drops, TCP retransmissions.
    pub(super) fn counters(&self) -> Result<LinkCounters, String> {
        let nft_drops = |side| {
            let listing = nft(self.namespace(side), &format!("list chain inet {NFT_TABLE} input"))?;
            counters::nft_dropped_packets(&listing)
        };
        let tbf_drops = |side| {
            let listing = run_line(&format!("tc -n {} -s qdisc show dev {}", self.namespace(side), self.device(side)))?;
            counters::tbf_dropped_packets(&listing)
        };
        let snmp = self.in_namespace(Side::Client, || std::fs::read_to_string("/proc/thread-self/net/snmp"))?;
        Ok(LinkCounters {
            nft_dropped_at_server: nft_drops(Side::Server)?,
            nft_dropped_at_client: nft_drops(Side::Client)?,
            tbf_dropped_at_client: tbf_drops(Side::Client)?,
            tbf_dropped_at_server: tbf_drops(Side::Server)?,
            client_tcp_retransmitted: counters::tcp_retransmitted_segments(&snmp)?,
        })
    }

    /// Runs `f` on a thread that has entered `side`'s network namespace: a socket `f`
    /// creates belongs to that namespace for its whole life, whichever thread uses it
    /// later. The thread ends with `f`, so no other thread changes namespace.
    pub(super) fn in_namespace<T: Send>(
        &self,
        side: Side,
        f: impl FnOnce() -> std::io::Result<T> + Send,
    ) -> Result<T, String> {
        let path = format!("/var/run/netns/{}", self.namespace(side));
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let ns = File::open(&path).map_err(|e| format!("{path}: {e}"))?;
                    setns(&ns, CloneFlags::CLONE_NEWNET).map_err(|e| format!("setns {path}: {e}"))?;
                    f().map_err(|e| format!("in namespace {}: {e}", self.namespace(side)))
                })
                .join()
                .map_err(|_| "a namespace thread panicked".to_string())?
        })
    }

    fn namespace(&self, side: Side) -> &str {
        match side {
            Side::Client => &self.client_ns,
            Side::Server => &self.server_ns,
        }
    }

    fn device(&self, side: Side) -> &str {
        match side {
            Side::Client => &self.client_dev,
            Side::Server => &self.server_dev,
        }
    }
}

impl Drop for LossyLink {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth end in it, and with it the other end.
        for ns in [&self.client_ns, &self.server_ns] {
            let _ = run(&["ip", "netns", "del", ns]);
        }
    }
}

/// Deletes the namespaces of processes that no longer run: a run killed by a signal gets
/// no chance to drop its link. Best effort; a namespace that cannot be deleted stays.
fn remove_stale_namespaces() {
    let Ok(listing) = run(&["ip", "netns", "list"]) else { return };
    for name in listing.lines().filter_map(|line| line.split_whitespace().next()) {
        let Some(pid) = name.strip_prefix(NAMESPACE_PREFIX).and_then(|rest| rest.split('x').next()) else { continue };
        if pid.parse::<u32>().is_ok() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = run(&["ip", "netns", "del", name]);
        }
    }
}

/// The address of `side`.
pub(super) fn address(side: Side) -> Ipv4Addr {
    match side {
        Side::Client => CLIENT_ADDR,
        Side::Server => SERVER_ADDR,
    }
}

/// Runs the `nft` command `line` (words separated by spaces) inside namespace `ns`.
fn nft(ns: &str, line: &str) -> Result<String, String> {
    run_line(&format!("ip netns exec {ns} nft {line}"))
}

/// [`run`] with the words of `line` (every name used here is free of spaces).
fn run_line(line: &str) -> Result<String, String> {
    run(&line.split_whitespace().collect::<Vec<_>>())
}

/// Runs a command to completion and returns its standard output, or fails with its
/// standard error. These are short configuration commands (ip, tc, nft) that do not wait
/// on the network.
pub(super) fn run(args: &[&str]) -> Result<String, String> {
    let (program, rest) = args.split_first().ok_or("an empty command")?;
    let out = Command::new(program).args(rest).output().map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("{} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}
