//! A CPU cap on one thread, through the cgroup v1 `cpu` controller.
//!
//! The handshake section's client needs as much CPU as the server, so on a 2-core machine
//! the server never runs flat out and its cost per handshake includes going to sleep and
//! waking up. Capping the server thread to part of a core makes the clients outrun it: it
//! then always has work queued (big receive batches, no idle wake-ups), which is how a
//! saturated server runs, and its CPU time per handshake is its capacity per core.
//!
//! The kernel enforces the cap per 10 ms period (`cpu.cfs_period_us`): the thread runs for
//! `percent`% of each period, then waits for the next one.

use std::path::{Path, PathBuf};

/// Length of the enforcement period: short, so a throttled server pauses for a few
/// milliseconds at a time (clients' handshake timers are far longer).
const PERIOD_US: u32 = 10_000;

/// A thread confined to a share of one core until this is dropped; then the thread goes
/// back to the controller's root group and the group is removed.
#[derive(Debug)]
pub(crate) struct CpuQuota {
    group: PathBuf,
    root: PathBuf,
    tid: u32,
}

impl CpuQuota {
    /// Confines thread `tid` (of this process) to `percent`% (1 to 100) of one core.
    ///
    /// Needs the cgroup v1 `cpu` controller mounted and writable (root); cgroup v2 moves
    /// single threads only within threaded subtrees, which this does not set up.
    pub(crate) fn confine(tid: u32, percent: u8) -> Result<Self, String> {
        if !(1..=100).contains(&percent) {
            return Err(format!("a CPU quota of {percent}%: give 1 to 100"));
        }
        let mounts = std::fs::read_to_string("/proc/self/mounts").map_err(|e| format!("/proc/self/mounts: {e}"))?;
        let root = cpu_controller_mount(&mounts).ok_or(
            "a CPU quota needs the cgroup v1 cpu controller (no `cgroup` mount with the `cpu` option in /proc/self/mounts)",
        )?;
        let group = root.join(format!("jetstream-bench-{}-{tid}", std::process::id()));
        std::fs::create_dir(&group).map_err(|e| failed("creating", &group, e))?;
        // From here on, dropping `quota` removes the group again.
        let quota = CpuQuota { group, root, tid };
        quota.write("cpu.cfs_period_us", PERIOD_US, "setting the period of")?;
        quota.write("cpu.cfs_quota_us", PERIOD_US / 100 * u32::from(percent), "setting the quota of")?;
        quota.write("tasks", tid, "moving the thread into")?;
        Ok(quota)
    }

    fn write(&self, file: &str, value: u32, what: &str) -> Result<(), String> {
        std::fs::write(self.group.join(file), value.to_string()).map_err(|e| failed(what, &self.group, e))
    }
}

impl Drop for CpuQuota {
    fn drop(&mut self) {
        // A thread that already ended has left the group by itself.
        let _ = std::fs::write(self.root.join("tasks"), self.tid.to_string());
        let _ = std::fs::remove_dir(&self.group);
    }
}

fn failed(what: &str, group: &Path, e: std::io::Error) -> String {
    format!("{what} the cgroup {}: {e} (a CPU quota needs root)", group.display())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::procfs::ThreadClock;
    use std::time::{Duration, Instant};

    #[test]
    fn finds_the_cpu_controller_among_mounts() {
        let mounts = "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n\
                      cgroup /sys/fs/cgroup/cpuacct cgroup rw,relatime,cpuacct 0 0\n\
                      cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,cpu,cpuacct 0 0\n";
        assert_eq!(cpu_controller_mount(mounts), Some(PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")));
        assert_eq!(cpu_controller_mount("cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n"), None);
    }

    #[test]
    fn refuses_quotas_outside_a_core() {
        for percent in [0, 101] {
            let err = CpuQuota::confine(1, percent).unwrap_err();
            assert!(err.contains("1 to 100"), "{err}");
        }
    }

    /// A spinning thread confined to 20% of a core gets about that much CPU; without the
    /// controller (or root) the error says what is missing.
    #[test]
    fn a_confined_thread_gets_its_share() {
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let spinner = std::thread::spawn(move || {
            let clock = ThreadClock::current().expect("/proc/thread-self");
            tid_tx.send(clock.tid()).expect("the test waits");
            go_rx.recv().expect("the test says go");
            let (start, cpu_start) = (Instant::now(), clock.cpu_time().expect("CPU time"));
            let mut x = 0u64;
            while start.elapsed() < Duration::from_millis(400) {
                x = std::hint::black_box(x.wrapping_add(1));
            }
            (clock.cpu_time().expect("CPU time") - cpu_start).as_secs_f64() / start.elapsed().as_secs_f64()
        });
        let tid = tid_rx.recv().expect("the spinner's thread id");
        let quota = CpuQuota::confine(tid, 20);
        go_tx.send(()).expect("the spinner waits");
        let share = spinner.join().expect("the spinner");
        match quota {
            Ok(quota) => {
                let group = quota.group.clone();
                assert!(share < 0.35, "a 20% quota let the thread use {:.0}% of a core", share * 100.0);
                drop(quota);
                assert!(!group.exists(), "the group {} outlived its quota", group.display());
            }
            Err(e) => assert!(e.contains("cgroup v1 cpu controller") || e.contains("needs root"), "{e}"),
        }
    }
}
