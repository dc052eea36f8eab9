//! A one-line description of the machine a benchmark ran on, printed before its tables
//! (figures from different CPUs or kernels are not comparable).

/// `machine: <CPU model>, <N> cores, Linux <release>`, from /proc and the standard library.
pub fn describe() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("machine: {cpu}, {cores} cores, Linux {}", kernel.trim())
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_the_core_count() {
        let line = super::describe();
        assert!(line.starts_with("machine: "), "{line}");
        assert!(line.contains(" cores, Linux "), "{line}");
    }
}
