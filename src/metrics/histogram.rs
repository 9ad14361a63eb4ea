//! A fixed-bucket latency histogram: one relaxed `fetch_add` per bucket hit
//! and one for the sum, no lock and no allocation on the hot path.
//!
//! Why not the `prometheus-client` crate: its histogram takes a lock per
//! observation and its encoder writes OpenMetrics, while every other
//! family here is plain atomics rendered in the 0.0.4 text format that
//! `promtool check metrics` checks. The bucket layouts are fixed per kind
//! of latency ([`RequestLayout`], [`CryptoLayout`]), so a histogram is a
//! fixed array sized at compile time.

use std::fmt::Write as _;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::text::{Exposition, Kind};

/// Bounds per layout (the `+Inf` bucket comes on top).
const BOUNDS: usize = 14;

/// Upper bounds, in nanoseconds (exact integers, so the bucket choice never
/// depends on float rounding), in 1-2.5-5 steps from `first` (5·10^k).
const fn steps(first: u64) -> [u64; BOUNDS] {
    let mut out = [0u64; BOUNDS];
    let mut v = first;
    let mut i = 0;
    while i < BOUNDS {
        out[i] = v;
        // From a 5: ×2 (10), ×2.5 (25), ×2 (50), and again.
        v = if i % 3 == 1 { v * 5 / 2 } else { v * 2 };
        i += 1;
    }
    out
}

/// A bucket layout.
pub trait Layout {
    const BOUNDS: [u64; BOUNDS];
}

/// Whole requests, upstream answers and TLS handshakes: 0.5 ms to 10 s.
#[derive(Debug)]
pub struct RequestLayout;

impl Layout for RequestLayout {
    const BOUNDS: [u64; BOUNDS] = steps(500_000);
}

/// Signing and verifying tokens (microseconds when cached, tens to
/// hundreds of microseconds for a signature): 5 µs to 100 ms.
#[derive(Debug)]
pub struct CryptoLayout;

impl Layout for CryptoLayout {
    const BOUNDS: [u64; BOUNDS] = steps(5_000);
}

/// Observations in seconds, bucketed by the fixed layout `L`.
#[derive(Debug)]
pub struct Histogram<L: Layout = RequestLayout> {
    /// Per bucket (not cumulative; `+Inf` last), so an observation touches
    /// one counter only.
    counts: [AtomicU64; BOUNDS + 1],
    sum_nanos: AtomicU64,
    layout: PhantomData<L>,
}

impl<L: Layout> Default for Histogram<L> {
    fn default() -> Self {
        Histogram {
            counts: Default::default(),
            sum_nanos: AtomicU64::new(0),
            layout: PhantomData,
        }
    }
}

impl<L: Layout> Histogram<L> {
    pub fn observe(&self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        // Linear: at most 14 comparisons, and most latencies land early.
        let i = L::BOUNDS.iter().position(|&b| nanos <= b).unwrap_or(BOUNDS);
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// `name_bucket`, `name_sum` and `name_count` samples with `labels`
    /// (the family's `# HELP`/`# TYPE` are the caller's). `_count` is the
    /// sum of the buckets read, so it always equals the `+Inf` bucket.
    pub fn render(&self, out: &mut Exposition, name: &str, labels: &[(&str, &str)]) {
        // One buffer for every `le` of this series.
        let mut le = String::with_capacity(24);
        let mut cumulative = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            cumulative += c.load(Ordering::Relaxed);
            le.clear();
            match L::BOUNDS.get(i) {
                Some(b) => write_seconds(*b, &mut le),
                None => le.push_str("+Inf"),
            }
            out.sample_le(name, "_bucket", labels, &le, cumulative);
        }
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        out.sample_suffixed(name, "_sum", labels, sum);
        out.sample_suffixed(name, "_count", labels, cumulative);
    }
}

/// Which series of a histogram family are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Series {
    /// Every one, from 0 (a small, fixed label set).
    All,
    /// Only those observed at least once (label sets of which most pairs
    /// never happen: seven decisions per agent would multiply the scrape).
    Observed,
}

/// A histogram family: `# HELP`, `# TYPE`, then each `(labels, histogram)`.
pub fn family<'a, L: Layout + 'a, const N: usize>(
    out: &mut Exposition,
    (name, help): (&str, &str),
    which: Series,
    series: impl IntoIterator<Item = ([(&'a str, &'a str); N], &'a Histogram<L>)>,
) {
    out.family(name, Kind::Histogram, help);
    for (labels, h) in series {
        if which == Series::All || h.count() > 0 {
            h.render(out, name, &labels);
        }
    }
}

/// Nanoseconds as a decimal number of seconds, exactly and without
/// trailing zeros (`0.0005`, `2.5`, `10`): integer arithmetic, so a scrape
/// formats no float per bucket.
fn write_seconds(nanos: u64, out: &mut String) {
    let _ = write!(out, "{}", nanos / 1_000_000_000);
    let mut frac = nanos % 1_000_000_000;
    if frac == 0 {
        return;
    }
    let mut digits = [b'0'; 9];
    for d in digits.iter_mut().rev() {
        *d = b'0' + (frac % 10) as u8;
        frac /= 10;
    }
    let end = digits.iter().rposition(|&d| d != b'0').map_or(0, |p| p + 1);
    out.push('.');
    out.extend(digits[..end].iter().map(|&d| char::from(d)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_step_one_two_and_a_half_five() {
        let s = |b: &[u64]| {
            let mut out = String::new();
            for n in b {
                write_seconds(*n, &mut out);
                out.push(' ');
            }
            out.trim_end().to_owned()
        };
        assert_eq!(
            s(&RequestLayout::BOUNDS),
            "0.0005 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10"
        );
        assert_eq!(
            s(&CryptoLayout::BOUNDS),
            "0.000005 0.00001 0.000025 0.00005 0.0001 0.00025 0.0005 0.001 0.0025 0.005 0.01 0.025 0.05 0.1"
        );
    }

    #[test]
    fn observations_land_in_cumulative_buckets() {
        let h = Histogram::<RequestLayout>::default();
        h.observe(Duration::from_micros(400)); // <= 0.0005
        h.observe(Duration::from_micros(500)); // <= 0.0005 (inclusive)
        h.observe(Duration::from_millis(3)); // <= 0.005
        h.observe(Duration::from_secs(60)); // +Inf only
        assert_eq!(h.count(), 4);
        let mut out = Exposition::default();
        h.render(&mut out, "x_seconds", &[("agent", "a")]);
        let text = out.finish();
        for line in [
            "x_seconds_bucket{agent=\"a\",le=\"0.0005\"} 2",
            "x_seconds_bucket{agent=\"a\",le=\"0.0025\"} 2",
            "x_seconds_bucket{agent=\"a\",le=\"0.005\"} 3",
            "x_seconds_bucket{agent=\"a\",le=\"10\"} 3",
            "x_seconds_bucket{agent=\"a\",le=\"+Inf\"} 4",
            "x_seconds_count{agent=\"a\"} 4",
            "x_seconds_sum{agent=\"a\"} 60.0039",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
    }
}
