//! Peak resident memory and CPU time, as the kernel counts them.

use std::time::Duration;

/// CPU time (user and system, all threads) the process has used so far;
/// `None` if the kernel does not say. On a machine shared with other work,
/// commands per CPU-second move far less than commands per wall-second.
pub fn cpu_time() -> Option<Duration> {
    use nix::sys::resource::{getrusage, UsageWho};
    let usage = getrusage(UsageWho::RUSAGE_SELF).ok()?;
    let as_duration = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(u64::try_from(t.tv_sec()).ok()?)
            .checked_add(Duration::from_micros(u64::try_from(t.tv_usec()).ok()?))
    };
    as_duration(usage.user_time())?.checked_add(as_duration(usage.system_time())?)
}

/// The largest peak resident set of any child waited for so far, in KiB
/// (a fork-based backup's child); `None` if the kernel does not say.
pub fn children_peak_rss_kib() -> Option<u64> {
    use nix::sys::resource::{getrusage, UsageWho};
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).ok()?;
    // Linux reports `ru_maxrss` in KiB.
    u64::try_from(usage.max_rss()).ok()
}

/// The process's peak resident set (`VmHWM`), in KiB; `None` where
/// `/proc/self/status` is unavailable.
pub fn peak_rss_kib() -> Option<u64> {
    parse_vm_hwm(&std::fs::read_to_string("/proc/self/status").ok()?)
}

/// The `VmHWM:` figure of a `/proc/<pid>/status` text.
pub fn parse_vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line["VmHWM:".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    #[test]
    fn reads_the_high_water_mark() {
        let status = "Name:\tkvs-bench\nVmPeak:\t  99 kB\nVmHWM:\t   12345 kB\nVmRSS:\t 1 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(12345));
        assert_eq!(parse_vm_hwm("Name:\tx\n"), None);
        assert!(peak_rss_kib().is_some_and(|kib| kib > 0));
    }
}
