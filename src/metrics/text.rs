//! The Prometheus text exposition format (0.0.4), written by one writer so
//! every family gets its `# HELP` and `# TYPE` lines and every label value
//! is escaped, whoever renders it (the gateway's listeners, the sidecar's).

use std::fmt::Write as _;

/// The `Content-Type` of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A family's type, as its `# TYPE` line says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A sample value: counters are integers (exact past 2^53), gauges may not be.
pub trait Value {
    fn write(&self, out: &mut String);
}

impl Value for u64 {
    fn write(&self, out: &mut String) {
        let _ = write!(out, "{self}");
    }
}

impl Value for i64 {
    fn write(&self, out: &mut String) {
        let _ = write!(out, "{self}");
    }
}

impl Value for f64 {
    fn write(&self, out: &mut String) {
        // Rust prints infinities as `inf`; the format spells them `+Inf`.
        if self.is_nan() {
            out.push_str("NaN");
        } else if self.is_infinite() {
            out.push_str(if *self > 0.0 { "+Inf" } else { "-Inf" });
        } else {
            let _ = write!(out, "{self}");
        }
    }
}

/// An exposition being written.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// Start a family: its `# HELP` and `# TYPE` lines.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let _ = write!(self.out, "# HELP {name} ");
        // HELP text escapes backslash and newline (not quotes).
        for c in help.chars() {
            match c {
                '\\' => self.out.push_str("\\\\"),
                '\n' => self.out.push_str("\\n"),
                c => self.out.push(c),
            }
        }
        let _ = writeln!(self.out, "\n# TYPE {name} {}", kind.as_str());
    }

    /// One sample of the family begun last.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: impl Value) {
        self.sample_suffixed(name, "", labels, v);
    }

    /// A sample named `name` + `suffix` (a histogram's `_sum`, `_count`).
    pub fn sample_suffixed(
        &mut self,
        name: &str,
        suffix: &str,
        labels: &[(&str, &str)],
        v: impl Value,
    ) {
        self.out.push_str(name);
        self.out.push_str(suffix);
        self.labels(labels, None);
        self.out.push(' ');
        v.write(&mut self.out);
        self.out.push('\n');
    }

    /// A histogram bucket: `labels` plus `le`.
    pub fn sample_le(
        &mut self,
        name: &str,
        suffix: &str,
        labels: &[(&str, &str)],
        le: &str,
        v: u64,
    ) {
        self.out.push_str(name);
        self.out.push_str(suffix);
        self.labels(labels, Some(le));
        self.out.push(' ');
        v.write(&mut self.out);
        self.out.push('\n');
    }

    /// A family of one unlabelled sample.
    pub fn single(&mut self, name: &str, kind: Kind, help: &str, v: impl Value) {
        self.family(name, kind, help);
        self.sample(name, &[], v);
    }

    fn labels(&mut self, labels: &[(&str, &str)], le: Option<&str>) {
        if labels.is_empty() && le.is_none() {
            return;
        }
        self.out.push('{');
        let le = le.map(|v| ("le", v));
        for (i, (k, v)) in labels.iter().copied().chain(le).enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.out.push_str(k);
            self.out.push_str("=\"");
            escape_label_value(v, &mut self.out);
            self.out.push('"');
        }
        self.out.push('}');
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// A label value as the text format writes it: backslash, double quote
/// and newline escaped, so no value (an issuer URL, a configured name) can
/// end the value early or start a sample of its own.
pub fn escape_label_value(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_have_help_and_type_and_values_are_escaped() {
        let mut e = Exposition::default();
        e.family(
            "x_total",
            Kind::Counter,
            "Things, \\ counted\nover two lines.",
        );
        e.sample("x_total", &[("issuer", "https://a\"b\\c\nd")], 3u64);
        e.single("y", Kind::Gauge, "A gauge.", f64::INFINITY);
        e.single("z", Kind::Gauge, "Another.", -0.25);
        assert_eq!(
            e.finish(),
            "# HELP x_total Things, \\\\ counted\\nover two lines.\n\
             # TYPE x_total counter\n\
             x_total{issuer=\"https://a\\\"b\\\\c\\nd\"} 3\n\
             # HELP y A gauge.\n# TYPE y gauge\ny +Inf\n\
             # HELP z Another.\n# TYPE z gauge\nz -0.25\n"
        );
    }
}
