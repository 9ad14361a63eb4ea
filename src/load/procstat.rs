//! Server process figures from Linux `/proc`: CPU time (`/proc/PID/stat`
//! utime + stime) and memory (`/proc/PID/status` VmRSS, VmHWM).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

/// How often VmRSS is sampled during the measured interval.
pub const RSS_PERIOD: Duration = Duration::from_millis(100);

/// Clock ticks per second for `/proc/PID/stat` times (`getconf CLK_TCK`;
/// 100 on every mainstream Linux if `getconf` is missing).
pub fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// utime + stime of `pid`, in clock ticks.
pub fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("--server-pid {pid}: cannot read {path}"))?;
    parse_stat_cpu(&text).with_context(|| format!("{path}: unexpected format"))
}

/// Fields 14 and 15 (utime, stime) of a stat line. The command name (field 2)
/// is in parentheses and may contain spaces or ')', so split after the last ')'.
pub fn parse_stat_cpu(text: &str) -> Option<u64> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14 → index 11.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// `(VmRSS, VmHWM)` of `pid` in kB.
pub fn memory_kb(pid: u32) -> anyhow::Result<(u64, u64)> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("--server-pid {pid}: cannot read {path}"))?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    match (field("VmRSS:"), field("VmHWM:")) {
        (Some(rss), Some(hwm)) => Ok((rss, hwm)),
        _ => anyhow::bail!("{path}: no VmRSS/VmHWM (is {pid} a kernel thread or a zombie?)"),
    }
}

/// Samples a process's RSS every [`RSS_PERIOD`] until stopped, keeping the
/// maximum, and its CPU time between `start` and `stop`.
pub struct Sampler {
    pid: u32,
    ticks_at_start: u64,
    max_rss: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

/// What a [`Sampler`] measured.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub cpu_seconds: f64,
    pub rss_max_kb: u64,
    pub vm_hwm_kb: u64,
}

impl Sampler {
    pub fn start(pid: u32) -> anyhow::Result<Sampler> {
        let ticks_at_start = cpu_ticks(pid)?;
        let (rss, _) = memory_kb(pid)?;
        let max_rss = Arc::new(AtomicU64::new(rss));
        let stop = Arc::new(AtomicBool::new(false));
        let task = {
            let (max_rss, stop) = (max_rss.clone(), stop.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(RSS_PERIOD);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                while !stop.load(Ordering::Relaxed) {
                    tick.tick().await;
                    if let Ok((rss, _)) = memory_kb(pid) {
                        max_rss.fetch_max(rss, Ordering::Relaxed);
                    }
                }
            })
        };
        Ok(Sampler {
            pid,
            ticks_at_start,
            max_rss,
            stop,
            task,
        })
    }

    pub fn stop(self) -> anyhow::Result<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.abort();
        let ticks = cpu_ticks(self.pid)?.saturating_sub(self.ticks_at_start);
        let (rss, hwm) = memory_kb(self.pid)?;
        Ok(Sample {
            cpu_seconds: ticks as f64 / clock_ticks() as f64,
            rss_max_kb: self.max_rss.load(Ordering::Relaxed).max(rss),
            vm_hwm_kb: hwm,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_command_name() {
        let line = "1234 (a) b (c) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0 5 0 0";
        assert_eq!(parse_stat_cpu(line), Some(325));
        assert_eq!(parse_stat_cpu("garbage"), None);
        assert_eq!(parse_stat_cpu("1 (x) S 1"), None);
    }
}
