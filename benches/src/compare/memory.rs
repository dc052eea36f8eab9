//! Memory of idle connections: the resident set (VmRSS) of a server process holding N
//! established connections on which nothing is sent.
//!
//! The server is a child process (the binary's hidden `idle-server` command) running one
//! thread's server (see `server`) that keeps every connection until its client closes it;
//! it prints how to reach it on its first line and answers `count` on stdin with its live
//! connection count. The clients run in the measuring process, on one endpoint (TCP: one
//! socket each). For each level in increasing order the clients open connections up to
//! the level, 128 handshakes at a time; once the server reports exactly that many live
//! connections and half a second has passed (post-handshake packets and acknowledgements
//! settle), the count is checked again and the server's VmRSS read. The baseline is the
//! server's VmRSS before any connection; the increment per connection is
//! `(RSS(N) - baseline) / N`. Allocator pages freed but kept are included, as in any
//! server's RSS.

use std::cell::{Cell, RefCell};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{ChildStdin, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::procfs::rss_kib;
use super::server::{Counters, ServerThread, run_client};
use super::transport::{Conn, Dialer, Peer, Ticket};
use crate::child::ChildGuard;

/// The hidden command that runs the server process.
pub const SERVER_COMMAND: &str = "idle-server";

/// Handshakes the clients run at once while filling a level.
const PARALLEL: usize = 128;

/// Time for post-handshake traffic to settle before RSS is read.
const SETTLE: Duration = Duration::from_millis(500);

/// How long one memory measurement may take.
pub const TIME_LIMIT: Duration = Duration::from_secs(600);

/// How long the idle server lives at most: beyond the measurement's limit.
const SERVER_LIFETIME: Duration = Duration::from_secs(660);

/// How long the server may take to answer one line.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// Lines the idle server answers at most.
const MAX_REQUESTS: usize = 10_000_000;

/// File descriptors beyond the connections (stdio, sockets, epoll, runtime).
const SPARE_FDS: u64 = 256;

/// The server's RSS with a number of idle connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Level {
    /// Live connections the server reported when RSS was read.
    pub connections: usize,
    /// The server's VmRSS, in KiB.
    pub rss_kib: u64,
}

/// What one run measured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Footprint {
    /// The server's VmRSS with no connection, in KiB.
    pub baseline_kib: u64,
    /// One entry per level, in increasing order.
    pub levels: Vec<Level>,
}

impl Footprint {
    /// The memory each connection adds at `level`, in KiB: `(RSS - baseline) / N`.
    pub fn per_connection_kib(&self, level: &Level) -> f64 {
        (level.rss_kib as f64 - self.baseline_kib as f64) / level.connections.max(1) as f64
    }
}

/// Measures `peer` at each of `levels` (increasing), with the server run from
/// `server_exe` (the comparison binary).
pub fn run(peer: Peer, levels: &[usize], server_exe: &Path) -> Result<Footprint, String> {
    if levels.is_empty() || levels.windows(2).any(|w| w[0] >= w[1]) || levels[0] == 0 {
        return Err(format!("levels must be positive and increasing: {levels:?}"));
    }
    let top = levels[levels.len() - 1];
    raise_fd_limit(top as u64 + SPARE_FDS)?;
    let mut server = ServerProcess::start(server_exe, peer)?;
    let footprint = run_client(TIME_LIMIT, async {
        let dialer = Rc::new(Dialer::new(peer, &server.ticket)?);
        tokio::time::sleep(SETTLE).await;
        let baseline_kib = rss_kib(server.pid())?;
        let mut conns = Vec::with_capacity(top);
        let mut measured = Vec::new();
        for &level in levels {
            connect_many(&dialer, level - conns.len(), &mut conns).await?;
            server.wait_for_live(level, Duration::from_secs(30) + Duration::from_millis(level as u64)).await?;
            tokio::time::sleep(SETTLE).await;
            let live = server.live().await?;
            if live != level as u64 {
                return Err(format!("{peer}: {live} live connections of {level} after settling"));
            }
            measured.push(Level { connections: level, rss_kib: rss_kib(server.pid())? });
        }
        conns.into_iter().for_each(Conn::close);
        dialer.wait_idle().await;
        Ok(Footprint { baseline_kib, levels: measured })
    });
    server.finish();
    footprint
}

/// Opens `n` more connections, `PARALLEL` handshakes at a time.
async fn connect_many(dialer: &Rc<Dialer>, n: usize, conns: &mut Vec<Conn>) -> Result<(), String> {
    let opened = Rc::new(RefCell::new(Vec::with_capacity(n)));
    let started = Rc::new(Cell::new(0usize));
    let tasks: Vec<_> = (0..PARALLEL.min(n))
        .map(|_| {
            let (dialer, opened, started) = (dialer.clone(), opened.clone(), started.clone());
            tokio::task::spawn_local(async move {
                while started.get() < n {
                    started.set(started.get() + 1);
                    let conn = dialer.connect().await?;
                    opened.borrow_mut().push(conn);
                }
                Ok::<_, String>(())
            })
        })
        .collect();
    for task in tasks {
        task.await.map_err(|e| format!("a client task failed: {e}"))??;
    }
    conns.append(&mut opened.borrow_mut());
    Ok(())
}

/// Raises this process's open-file limit to at least `needed` (up to the hard limit), for
/// the TCP sockets.
fn raise_fd_limit(needed: u64) -> Result<(), String> {
    let granted = rlimit::increase_nofile_limit(needed).map_err(|e| format!("RLIMIT_NOFILE: {e}"))?;
    if granted < needed {
        return Err(format!("{needed} open files needed, the hard limit allows {granted} (raise `ulimit -Hn`)"));
    }
    Ok(())
}

/// The server child as the measuring process sees it.
struct ServerProcess {
    child: ChildGuard,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
    ticket: Ticket,
}

impl ServerProcess {
    fn start(exe: &Path, peer: Peer) -> Result<Self, String> {
        let peer_arg = serde_json::to_string(&peer).map_err(|e| e.to_string())?;
        let mut command = Command::new(exe);
        command.args([SERVER_COMMAND, &peer_arg]).stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut child = ChildGuard::spawn(&mut command)?;
        let stdout = child.0.stdout.take().ok_or("the server has no stdout")?;
        let stdin = child.0.stdin.take();
        let (tx, mut lines) = mpsc::unbounded_channel();
        // Ends when the server's stdout closes, i.e. when the server exits.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let first = first_line(&mut lines, ANSWER_TIMEOUT).ok_or("the idle server did not start")?;
        let ticket = serde_json::from_str(&first).map_err(|e| format!("the idle server said {first:?}: {e}"))?;
        Ok(ServerProcess { child, stdin, lines, ticket })
    }

    fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// The server's live connection count.
    async fn live(&mut self) -> Result<u64, String> {
        let stdin = self.stdin.as_mut().ok_or("the server's stdin is closed")?;
        stdin.write_all(b"count\n").and_then(|()| stdin.flush()).map_err(|e| format!("to the server: {e}"))?;
        let line = tokio::time::timeout(ANSWER_TIMEOUT, self.lines.recv())
            .await
            .ok()
            .flatten()
            .ok_or("the server did not answer")?;
        line.trim().parse().map_err(|_| format!("the server answered {line:?}"))
    }

    /// Waits until the server reports `level` live connections.
    async fn wait_for_live(&mut self, level: usize, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        loop {
            let live = self.live().await?;
            if live == level as u64 {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("the server holds {live} connections, not {level}"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Closes the server's stdin (it exits) and reaps it; kills it if it lingers.
    fn finish(mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait_within(Duration::from_secs(5));
    }
}

/// The first line from `lines`, waited for outside any runtime, within `timeout`.
fn first_line(lines: &mut mpsc::UnboundedReceiver<String>, timeout: Duration) -> Option<String> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        match lines.try_recv() {
            Ok(line) => return Some(line),
            Err(mpsc::error::TryRecvError::Empty) => std::thread::sleep(Duration::from_millis(5)),
            Err(mpsc::error::TryRecvError::Disconnected) => return None,
        }
    }
    None
}

/// The `idle-server` command: serves `peer`, keeping connections until their clients close
/// them; prints its ticket, then answers each `count` line on stdin with the live count;
/// exits when stdin closes (the measuring process finished or died) or after its lifetime.
pub fn serve_idle(peer_arg: &str) -> Result<(), String> {
    let peer: Peer = serde_json::from_str(peer_arg).map_err(|e| format!("peer {peer_arg:?}: {e}"))?;
    // As many sockets as the hard limit allows: the client decides how many it opens.
    let limit = rlimit::getrlimit(rlimit::Resource::NOFILE).map_err(|e| e.to_string())?.1;
    let _ = rlimit::increase_nofile_limit(limit);
    let server = ServerThread::spawn(peer, SERVER_LIFETIME, |mut conn| async move { conn.closed().await })?;
    let mut stdout = std::io::stdout().lock();
    let say = |out: &mut std::io::StdoutLock<'_>, line: &str| writeln!(out, "{line}").and_then(|()| out.flush());
    let ticket = serde_json::to_string(&server.ticket).map_err(|e| e.to_string())?;
    say(&mut stdout, &ticket).map_err(|e| e.to_string())?;
    for line in std::io::stdin().lines().map_while(Result::ok).take(MAX_REQUESTS) {
        if line.trim() == "count" {
            say(&mut stdout, &Counters::get(&server.counters.live).to_string()).map_err(|e| e.to_string())?;
        }
    }
    server.stop()
}
