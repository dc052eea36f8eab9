//! Child processes of a benchmark: each measurement runs in a fresh process (no heap,
//! threads or socket state inherited from the previous one), killed if it overruns.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How often a waiting parent looks whether its child ended.
const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// Runs `command` to completion and returns what it printed on stdout; an error if it could
/// not start, failed, or ran longer than `limit` (then it is killed). Its stderr is
/// inherited, so its error message reaches the terminal.
pub fn output_within(command: &mut Command, limit: Duration) -> Result<String, String> {
    let mut child = ChildGuard::spawn(command.stdout(Stdio::piped()))?;
    // Read while waiting, so a child that prints more than a pipe holds cannot stall.
    let mut stdout = child.0.stdout.take().ok_or("the child has no stdout")?;
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        stdout.read_to_end(&mut out).map(|_| out)
    });
    let status = child.wait_within(limit)?;
    let out = reader.join().map_err(|_| "the reader thread panicked".to_string())?.map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("the child failed ({status})"));
    }
    String::from_utf8(out).map_err(|_| "the child printed invalid UTF-8".to_string())
}

/// A running child process that is killed and reaped when dropped, whatever path the
/// parent leaves by.
#[derive(Debug)]
pub struct ChildGuard(pub Child);

impl ChildGuard {
    /// Starts `command`.
    pub fn spawn(command: &mut Command) -> Result<Self, String> {
        command.spawn().map(ChildGuard).map_err(|e| format!("cannot start a child process: {e}"))
    }

    /// Waits for the child to exit, killing it after `limit`.
    pub fn wait_within(&mut self, limit: Duration) -> Result<std::process::ExitStatus, String> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.0.try_wait().map_err(|e| e.to_string())? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                let _ = self.0.kill();
                let _ = self.0.wait();
                return Err(format!("no result within {limit:?}; killed"));
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_stdout_and_reports_failure_and_overrun() {
        let out = output_within(Command::new("sh").args(["-c", "echo hello"]), Duration::from_secs(10));
        assert_eq!(out.as_deref(), Ok("hello\n"));
        assert!(output_within(Command::new("sh").args(["-c", "exit 3"]), Duration::from_secs(10)).is_err());
        let started = Instant::now();
        let slow = output_within(Command::new("sleep").arg("5"), Duration::from_millis(200));
        assert!(slow.is_err_and(|e| e.contains("killed")));
        assert!(started.elapsed() < Duration::from_secs(4));
    }
}
