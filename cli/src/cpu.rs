//! CPU time of this process, for the `perf` reports: how much work a transfer cost, not
//! just how long it took.

use std::time::Duration;

/// Clock ticks per second in `/proc` (USER_HZ). Linux fixes it at 100 for user space on
/// every architecture it runs on, whatever the kernel's internal tick rate.
const TICKS_PER_SECOND: u64 = 100;

/// User plus system CPU time of this process (all threads) so far, at 10 ms resolution;
/// `None` where `/proc/self/stat` is missing or unreadable.
pub(crate) fn process_cpu_time() -> Option<Duration> {
    parse_stat(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// `utime + stime` from the text of `/proc/PID/stat`. The command name (field 2) is in
/// parentheses and may hold spaces or parentheses itself, so fields are counted from the
/// last `)`.
fn parse_stat(stat: &str) -> Option<Duration> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Field 3 (state) is the first after the name; utime and stime are fields 14 and 15.
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 1000 / TICKS_PER_SECOND))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_counted_after_the_command_name() {
        let stat = "4242 (my (odd) cmd) R 1 4242 4242 0 -1 4194304 120 0 0 0 250 37 0 0 20 0 1 0 99 0 0";
        assert_eq!(parse_stat(stat), Some(Duration::from_millis(2870)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn this_process_has_a_cpu_time_that_grows() {
        let before = process_cpu_time().expect("/proc/self/stat on Linux");
        let deadline = std::time::Instant::now() + Duration::from_millis(100);
        let mut spin = 0u64;
        while std::time::Instant::now() < deadline {
            spin = std::hint::black_box(spin.wrapping_add(1));
        }
        assert!(process_cpu_time().expect("readable") >= before + Duration::from_millis(50));
    }
}
