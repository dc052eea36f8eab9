//! What the kernel reports about a process or thread, read from /proc (the crate forbids
//! `unsafe`, so no `getrusage`/`clock_gettime` calls).

use std::path::PathBuf;
use std::time::Duration;

/// Clock ticks per second of the `stat` CPU fields: 100 on every Linux platform this runs
/// on (`USER_HZ`); only the fallback below uses it.
const USER_HZ: u64 = 100;

/// The resident set size of process `pid` in KiB (`VmRSS` of /proc/PID/status).
pub(crate) fn rss_kib(pid: u32) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| format!("/proc/{pid}: {e}"))?;
    parse_vm_rss(&status).ok_or_else(|| format!("no VmRSS in /proc/{pid}/status"))
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One thread's CPU time, readable from any thread of the process.
#[derive(Debug, Clone)]
pub(crate) struct ThreadClock {
    task: PathBuf,
    tid: u32,
}

impl ThreadClock {
    /// The calling thread's clock (/proc/thread-self names it as `PID/task/TID`).
    pub(crate) fn current() -> Result<Self, String> {
        let link = std::fs::read_link("/proc/thread-self").map_err(|e| format!("/proc/thread-self: {e}"))?;
        let tid = link.file_name().and_then(|name| name.to_str()?.parse().ok());
        let tid = tid.ok_or_else(|| format!("/proc/thread-self links to {}, not PID/task/TID", link.display()))?;
        Ok(ThreadClock { task: PathBuf::from("/proc").join(link), tid })
    }

    /// The thread's id.
    pub(crate) fn tid(&self) -> u32 {
        self.tid
    }

    /// CPU time the thread used so far (user and system): nanoseconds from `schedstat`,
    /// or clock ticks from `stat` where the kernel has no scheduler statistics.
    pub(crate) fn cpu_time(&self) -> Result<Duration, String> {
        if let Some(ns) = std::fs::read_to_string(self.task.join("schedstat")).ok().as_deref().and_then(parse_schedstat)
        {
            return Ok(Duration::from_nanos(ns));
        }
        let stat =
            std::fs::read_to_string(self.task.join("stat")).map_err(|e| format!("{}: {e}", self.task.display()))?;
        let ticks = parse_stat_ticks(&stat).ok_or("unreadable thread stat")?;
        Ok(Duration::from_millis(ticks * 1000 / USER_HZ))
    }
}

/// The first field of `schedstat`: nanoseconds on a CPU.
fn parse_schedstat(schedstat: &str) -> Option<u64> {
    schedstat.split_whitespace().next()?.parse().ok()
}

/// `utime + stime` (fields 14 and 15) of a `stat` line; the command name in parentheses may
/// contain spaces, so fields are counted after its closing parenthesis.
fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_formats() {
        assert_eq!(parse_vm_rss("Name:\tx\nVmRSS:\t  12345 kB\nVmSwap:\t0 kB\n"), Some(12345));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
        assert_eq!(parse_schedstat("545151793 129432 38\n"), Some(545_151_793));
        let stat = "42 (a b) R 1 42 42 0 -1 4194304 100 0 0 0 52 7 0 0 20 0 1 0";
        assert_eq!(parse_stat_ticks(stat), Some(59));
    }

    #[test]
    fn reads_this_process_and_thread() {
        assert!(rss_kib(std::process::id()).is_ok_and(|kib| kib > 0));
        let clock = ThreadClock::current().expect("/proc/thread-self");
        assert_ne!(clock.tid(), std::process::id(), "a test runs on a thread of its own");
        let before = clock.cpu_time().expect("a CPU time");
        let spin = std::time::Instant::now();
        let mut x = 0u64;
        while spin.elapsed() < Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(clock.cpu_time().expect("a CPU time") > before);
    }
}
