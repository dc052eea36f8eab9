//! A CPU cap on one thread, through the cgroup v1 `cpu` controller.
//!
//! The handshake section's client needs as much CPU as the server, so on a 2-core machine
//! the server never runs flat out and its cost per handshake could include going to sleep
//! and waking up. Capping the server thread to part of a core makes the clients outrun it:
//! it then always has work queued (big receive batches, no idle wake-ups), which is how a
//! saturated server runs, and its CPU time per handshake is its capacity per core.
//!
//! The kernel enforces the cap per period (`cpu.cfs_period_us`): the thread runs for
//! `percent`% of each period, then waits for the next one.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The enforcement period: short, so a throttled server pauses for a few milliseconds at
/// a time (clients' handshake timers are far longer).
const PERIOD_US: u32 = 10_000;

/// The kernel refuses quotas below 1 ms; small shares get a longer period instead.
const MIN_QUOTA_US: u32 = 1_000;

/// How long `Drop` retries removing the group: a thread that just ended can still be
/// listed in it for a moment after `join` returned.
const REMOVE_PATIENCE: Duration = Duration::from_millis(200);

/// How an [`QuotaError::Unavailable`] message starts.
pub(crate) const UNAVAILABLE: &str = "no CPU quota on this machine";

/// Why a thread could not be confined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum QuotaError {
    /// This machine offers no way to cap a thread: no cgroup v1 `cpu` controller, or no
    /// permission to use it.
    Unavailable(String),
    /// The controller is there and usable, and still refused (a bug, or a bad value).
    Failed(String),
}

impl std::fmt::Display for QuotaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QuotaError::Unavailable(reason) => write!(f, "{UNAVAILABLE}: {reason}"),
            QuotaError::Failed(reason) => write!(f, "the CPU quota failed: {reason}"),
        }
    }
}

impl From<QuotaError> for String {
    fn from(e: QuotaError) -> String {
        e.to_string()
    }
}

/// A thread confined to a share of one core until this is dropped; then the thread goes
/// back to the group it was in and the new group is removed.
#[derive(Debug)]
pub(crate) struct CpuQuota {
    group: PathBuf,
    tid: u32,
    /// The thread's group before, once it was moved out of it.
    moved_from: Option<PathBuf>,
}

impl CpuQuota {
    /// Confines thread `tid` (of this process) to `percent`% (1 to 100) of one core.
    ///
    /// Needs the cgroup v1 `cpu` controller mounted and writable (root); cgroup v2 moves
    /// single threads only within threaded subtrees, which this does not set up.
    pub(crate) fn confine(tid: u32, percent: u8) -> Result<Self, QuotaError> {
        if !(1..=100).contains(&percent) {
            return Err(QuotaError::Failed(format!("the CPU quota must be 1 to 100%, not {percent}%")));
        }
        let mounts = read("/proc/self/mounts")?;
        let root = cpu_controller_mount(&mounts).ok_or_else(|| {
            QuotaError::Unavailable(
                "a CPU quota needs the cgroup v1 cpu controller (no `cgroup` mount with the `cpu` option in \
                 /proc/self/mounts)"
                    .into(),
            )
        })?;
        let membership = read(&format!("/proc/self/task/{tid}/cgroup"))?;
        let current = cpu_group_of(&membership)
            .ok_or_else(|| QuotaError::Failed(format!("thread {tid} is in no cgroup of the cpu controller")))?;
        let original = root.join(current.trim_start_matches('/'));
        let group = root.join(format!("jetstream-bench-{}-{tid}", std::process::id()));
        std::fs::create_dir(&group).map_err(|e| failed("creating", &group, e))?;
        // From here on, dropping `quota` removes the group again.
        let mut quota = CpuQuota { group, tid, moved_from: None };
        let (period, runtime) = period_and_quota_us(percent);
        quota.write("cpu.cfs_period_us", period, "setting the period of")?;
        quota.write("cpu.cfs_quota_us", runtime, "setting the quota of")?;
        quota.write("tasks", tid, "moving the thread into")?;
        quota.moved_from = Some(original);
        Ok(quota)
    }

    fn write(&self, file: &str, value: u32, what: &str) -> Result<(), QuotaError> {
        std::fs::write(self.group.join(file), value.to_string()).map_err(|e| failed(what, &self.group, e))
    }
}

impl Drop for CpuQuota {
    fn drop(&mut self) {
        if let Some(original) = &self.moved_from {
            // Fails only if the thread already ended, and then it left the group by itself.
            let _ = std::fs::write(original.join("tasks"), self.tid.to_string());
        }
        let deadline = Instant::now() + REMOVE_PATIENCE;
        loop {
            match std::fs::remove_dir(&self.group) {
                Ok(()) => return,
                Err(e) if e.kind() == io::ErrorKind::ResourceBusy && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => {
                    eprintln!("warning: the cgroup {} stays behind: {e}", self.group.display());
                    return;
                }
            }
        }
    }
}

/// The period and the quota in it, in microseconds, that give `percent`% of a core.
fn period_and_quota_us(percent: u8) -> (u32, u32) {
    let percent = u32::from(percent);
    let period = PERIOD_US.max((MIN_QUOTA_US * 100).div_ceil(percent));
    (period, period * percent / 100)
}

fn read(path: &str) -> Result<String, QuotaError> {
    std::fs::read_to_string(path).map_err(|e| QuotaError::Unavailable(format!("{path}: {e}")))
}

fn failed(what: &str, group: &Path, e: io::Error) -> QuotaError {
    let message = format!("{what} the cgroup {}: {e}", group.display());
    match e.kind() {
        io::ErrorKind::PermissionDenied => QuotaError::Unavailable(format!("{message} (a CPU quota needs root)")),
        io::ErrorKind::ReadOnlyFilesystem => QuotaError::Unavailable(message),
        _ => QuotaError::Failed(message),
    }
}

/// Where the cgroup v1 hierarchy with the `cpu` controller is mounted: a `cgroup` mount
/// whose options list `cpu` (alone or beside `cpuacct`).
fn cpu_controller_mount(mounts: &str) -> Option<PathBuf> {
    mounts.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let (_, dir, kind, options) = (fields.next()?, fields.next()?, fields.next()?, fields.next()?);
        (kind == "cgroup" && options.split(',').any(|o| o == "cpu")).then(|| Path::new(dir).to_path_buf())
    })
}

/// A thread's group in the `cpu` hierarchy, from its `/proc/.../cgroup` lines
/// (`ID:CONTROLLERS:PATH`).
fn cpu_group_of(membership: &str) -> Option<&str> {
    membership.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        controllers.split(',').any(|c| c == "cpu").then_some(path)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::procfs::ThreadClock;
    use std::sync::mpsc;

    #[test]
    fn parses_mounts_and_memberships() {
        let mounts = "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n\
                      cgroup /sys/fs/cgroup/cpuacct cgroup rw,relatime,cpuacct 0 0\n\
                      cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,cpu,cpuacct 0 0\n";
        assert_eq!(cpu_controller_mount(mounts), Some(PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")));
        assert_eq!(cpu_controller_mount("cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n"), None);
        let membership = "12:cpuacct:/a\n4:cpu,cpuacct:/user.slice/x\n0::/init.scope\n";
        assert_eq!(cpu_group_of(membership), Some("/user.slice/x"));
        assert_eq!(cpu_group_of("0::/\n"), None);
    }

    #[test]
    fn small_shares_get_a_longer_period() {
        assert_eq!(period_and_quota_us(50), (10_000, 5_000));
        assert_eq!(period_and_quota_us(100), (10_000, 10_000));
        assert_eq!(period_and_quota_us(10), (10_000, 1_000));
        assert_eq!(period_and_quota_us(5), (20_000, 1_000));
        assert_eq!(period_and_quota_us(3), (33_334, 1_000));
        for percent in 1..=100 {
            let (period, quota) = period_and_quota_us(percent);
            assert!(quota >= MIN_QUOTA_US && period >= PERIOD_US, "{percent}%: {period} {quota}");
        }
    }

    #[test]
    fn refuses_quotas_outside_a_core() {
        for percent in [0, 101] {
            let err = CpuQuota::confine(1, percent).unwrap_err();
            assert!(err.to_string().contains("1 to 100%"), "{err}");
        }
    }

    /// A spinning thread confined to `percent`% of a core gets about that much CPU, and
    /// is back in its own group, with the new group gone, once the quota is dropped while
    /// it still runs. Where the machine offers no cgroup v1 cpu controller (or no root),
    /// `confine` must say so, and nothing else is checked.
    fn confine_a_spinner(percent: u8) {
        let (tid_tx, tid_rx) = mpsc::channel();
        let (measured_tx, measured_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let spinner = std::thread::spawn(move || {
            let clock = ThreadClock::current().expect("/proc/thread-self");
            tid_tx.send(clock.tid()).expect("the test waits");
            let spin_until = |end: Instant| {
                let mut x = 0u64;
                while Instant::now() < end {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            };
            spin_until(Instant::now() + Duration::from_millis(50)); // the quota applies meanwhile
            let (start, cpu_start) = (Instant::now(), clock.cpu_time().expect("CPU time"));
            spin_until(start + Duration::from_millis(500));
            let cpu = clock.cpu_time().expect("CPU time") - cpu_start;
            measured_tx.send(cpu.as_secs_f64() / start.elapsed().as_secs_f64()).expect("the test waits");
            let _ = stop_rx.recv_timeout(Duration::from_secs(10));
        });
        let tid = tid_rx.recv().expect("the spinner's thread id");
        let membership = || std::fs::read_to_string(format!("/proc/self/task/{tid}/cgroup")).expect("membership");
        let before = membership();
        match CpuQuota::confine(tid, percent) {
            Ok(quota) => {
                let share = measured_rx.recv().expect("the spinner's share");
                let wanted = f64::from(percent) / 100.0;
                assert!(
                    share > wanted * 0.5 && share < wanted * 1.5 + 0.05,
                    "a {percent}% quota let the thread use {:.0}% of a core",
                    share * 100.0
                );
                let group = quota.group.clone();
                drop(quota);
                assert_eq!(membership(), before, "the thread is back in its own group");
                assert!(!group.exists(), "the group {} outlived its quota", group.display());
            }
            Err(e @ QuotaError::Unavailable(_)) => eprintln!("skipped: {e}"),
            Err(e) => panic!("{e}"),
        }
        stop_tx.send(()).expect("the spinner waits");
        spinner.join().expect("the spinner");
    }

    #[test]
    fn a_confined_thread_gets_its_share() {
        confine_a_spinner(20);
    }

    #[test]
    fn a_share_below_a_tenth_still_applies() {
        confine_a_spinner(5);
    }
}
