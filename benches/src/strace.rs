//! Syscall counts of a child process, from `strace -f -c` (counting every thread).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// How many times each syscall was made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyscallCounts(pub BTreeMap<String, u64>);

impl SyscallCounts {
    /// Runs `command` under `strace -f -c` and returns its counts, or why it could not.
    pub fn of(command: &Command) -> Result<SyscallCounts, String> {
        let out = std::env::temp_dir().join(format!("jetstream-bench-strace-{}.txt", std::process::id()));
        let mut traced = Command::new("strace");
        traced.args(["-f", "-c", "-qq", "-o"]).arg(&out).arg(command.get_program()).args(command.get_args());
        traced.stdout(std::process::Stdio::null());
        for (key, value) in command.get_envs() {
            match value {
                Some(value) => traced.env(key, value),
                None => traced.env_remove(key),
            };
        }
        let status = traced.status().map_err(|e| format!("strace could not run ({e}); install it"))?;
        let counts = read_summary(&out);
        let _ = std::fs::remove_file(&out);
        if !status.success() {
            return Err(format!("the traced run failed: {status}"));
        }
        counts
    }

    /// Parses the summary table `strace -c` writes.
    pub fn parse(summary: &str) -> Result<SyscallCounts, String> {
        let mut counts = BTreeMap::new();
        for line in summary.lines() {
            // "% time  seconds  usecs/call  calls  [errors]  syscall"; skip the header, the
            // rules and the total.
            if line.trim_start().starts_with(['%', '-']) {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(&name), Some(calls)) = (fields.last(), fields.get(3)) else { continue };
            if fields.len() < 5 || name == "total" {
                continue;
            }
            let calls: u64 = calls.parse().map_err(|_| format!("unexpected strace line: {line:?}"))?;
            *counts.entry(name.to_string()).or_insert(0) += calls;
        }
        if counts.is_empty() {
            return Err("strace wrote no summary".into());
        }
        Ok(SyscallCounts(counts))
    }

    /// Every syscall.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// The calls that move data through sockets: the `send*`/`recv*` family (UDP uses
    /// `sendmsg`/`recvmmsg`, std's TCP streams `sendto`/`recvfrom`). Plain `read`/`write`
    /// are left out: here they are the runtimes' eventfd wake-ups.
    pub fn socket_io(&self) -> u64 {
        self.0
            .iter()
            .filter(|(name, _)| name.starts_with("send") || name.starts_with("recv"))
            .map(|(_, calls)| calls)
            .sum()
    }
}

fn read_summary(path: &Path) -> Result<SyscallCounts, String> {
    let summary = std::fs::read_to_string(path).map_err(|e| format!("strace summary: {e}"))?;
    SyscallCounts::parse(&summary)
}

#[cfg(test)]
mod tests {
    use super::SyscallCounts;

    const SUMMARY: &str = "\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 61.20    0.412000          19     21500           sendmsg
 30.00    0.200000           9     20011      2011 recvmmsg
  5.00    0.030000           3     10000           epoll_wait
  0.10    0.000100           1       100           write
------ ----------- ----------- --------- --------- ----------------
100.00    0.642100                 51611      2011 total
";

    #[test]
    fn parses_calls_with_and_without_an_error_column() {
        let counts = SyscallCounts::parse(SUMMARY).expect("a valid summary");
        assert_eq!(counts.0.get("sendmsg"), Some(&21500));
        assert_eq!(counts.0.get("recvmmsg"), Some(&20011));
        assert_eq!(counts.total(), 51611);
        assert_eq!(counts.socket_io(), 21500 + 20011);
    }

    #[test]
    fn refuses_garbage() {
        assert!(SyscallCounts::parse("").is_err());
        assert!(SyscallCounts::parse(" 1.0 0.1 2 many  sendmsg\n").is_err());
    }
}
