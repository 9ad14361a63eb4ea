//! The families every actgate process exports, gateway and sidecar alike:
//! `actgate_build_info` and the standard `process_*` families (the names
//! and meanings of the Prometheus client libraries, so existing dashboards
//! and alerts work), read from `/proc/self` at scrape time (Linux only;
//! elsewhere the `process_*` families are left out).

use super::text::{Exposition, Kind};

/// `/proc` reports CPU times in USER_HZ ticks, which the kernel fixes at
/// 100 for user space on every architecture Rust targets (the Go client's
/// procfs assumes the same).
const USER_HZ: f64 = 100.0;

/// `actgate_build_info` and the `process_*` families.
pub fn render(out: &mut Exposition) {
    out.family(
        "actgate_build_info",
        Kind::Gauge,
        "Always 1; the version of the running actgate in the label.",
    );
    out.sample(
        "actgate_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1u64,
    );
    if let Some(p) = read() {
        render_process(out, &p);
    }
}

/// What `/proc/self` says of this process.
#[derive(Debug, Default, PartialEq)]
struct Process {
    cpu_seconds: f64,
    /// In the order of [`GAUGES`]; `None` when unreadable.
    gauges: [Option<f64>; 5],
}

/// The gauges of [`Process::gauges`]: name and help.
const GAUGES: [(&str, &str); 5] = [
    (
        "process_resident_memory_bytes",
        "Resident memory size in bytes.",
    ),
    (
        "process_virtual_memory_bytes",
        "Virtual memory size in bytes.",
    ),
    ("process_open_fds", "Number of open file descriptors."),
    (
        "process_max_fds",
        "Maximum number of open file descriptors (the soft limit).",
    ),
    (
        "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.",
    ),
];

fn render_process(out: &mut Exposition, p: &Process) {
    out.single(
        "process_cpu_seconds_total",
        Kind::Counter,
        "Total user and system CPU time spent in seconds.",
        p.cpu_seconds,
    );
    for ((name, help), v) in GAUGES.iter().zip(p.gauges) {
        if let Some(v) = v {
            out.single(name, Kind::Gauge, help, v);
        }
    }
}

#[cfg(target_os = "linux")]
fn read() -> Option<Process> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let (ticks, start_ticks) = parse_stat(&stat)?;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let boot = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| parse_btime(&s));
    let bytes = |key| status_kib(&status, key).map(|k| (k * 1024) as f64);
    let open_fds = std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count());
    let max_fds = rlimit::Resource::NOFILE.get().ok().map(|(soft, _)| soft);
    Some(Process {
        cpu_seconds: ticks as f64 / USER_HZ,
        gauges: [
            bytes("VmRSS:"),
            bytes("VmSize:"),
            open_fds.map(|n| n as f64),
            max_fds.map(|n| n as f64),
            boot.map(|b| b as f64 + start_ticks as f64 / USER_HZ),
        ],
    })
}

#[cfg(not(target_os = "linux"))]
fn read() -> Option<Process> {
    None
}

/// `utime + stime` and `starttime` (ticks) of a `/proc/PID/stat` line. The
/// command name (field 2) is in parentheses and may hold spaces and `)`,
/// so the fields are counted from its last `)`.
fn parse_stat(stat: &str) -> Option<(u64, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After the name: field 3 (state) is index 0, so field N is N - 3.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some((field(14)? + field(15)?, field(22)?))
}

/// The boot time (`btime`, unix seconds) in `/proc/stat`.
fn parse_btime(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// A `kB` value of `/proc/PID/status` (`VmRSS:    1234 kB`).
fn status_kib(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        // A name with a space and a ')' in it must not shift the fields.
        let line = "42 (a) b) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0 1234 1000 10";
        assert_eq!(parse_stat(line), Some((300, 1234)));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(
            parse_btime("cpu 1 2\nbtime 1700000000\n"),
            Some(1_700_000_000)
        );
        assert_eq!(
            status_kib("Name: x\nVmRSS:\t  2048 kB\n", "VmRSS:"),
            Some(2048)
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_is_read() {
        let p = read().expect("/proc/self is readable");
        let [rss, _, fds, _, started] = p.gauges.map(|g| g.unwrap_or(0.0));
        assert!(rss > 0.0);
        assert!(fds >= 3.0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        assert!(
            started <= now + 1.0 && started > now - 3600.0,
            "{started} vs {now}"
        );
        let mut out = Exposition::default();
        render(&mut out);
        let text = out.finish();
        assert!(text.contains("actgate_build_info{version=\""), "{text}");
        assert!(
            text.contains("\n# TYPE process_cpu_seconds_total counter\n"),
            "{text}"
        );
    }
}
