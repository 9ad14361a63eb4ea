//! Request correlation: the request id every log line, upstream request and
//! audit record of one request carries, and W3C Trace Context propagation.
//!
//! **Request ids are always ours.** Each request gets a fresh 128-bit random
//! id, logged (the `request_id` field of the request's span), sent upstream as
//! `X-Request-Id` and returned to the caller. A caller's own `X-Request-Id` is
//! never adopted: the id keys this gateway's logs and audit records, and a
//! caller that could choose it could make two requests share one id, or make a
//! request look like another caller's. A well-formed caller id (at most 128
//! characters of `A-Z a-z 0-9 . _ : -`) is kept as `client_request_id` and
//! logged next to ours, so the caller's logs can still be joined; anything
//! else is dropped. End-to-end correlation across hops is the trace id's job.
//!
//! **Trace context** (W3C `traceparent`): a valid inbound `traceparent` keeps
//! its trace id and flags, and the request forwarded upstream carries a new
//! parent id (this hop's span id), with `tracestate` passed on unchanged. A
//! missing or invalid `traceparent` starts a new trace (flags `00`: not
//! sampled, since actgate records no spans itself) and any `tracestate` is
//! dropped, as the specification requires when `traceparent` cannot be parsed.
//!
//! With `[telemetry]` on, the ids are the exported spans' instead
//! ([`crate::telemetry::server_span`]): this hop's span id is the server
//! span's, a new trace is sampled by the configured ratio, and the upstream
//! request's parent is the upstream-call span (`proxy::forward`).

use http::header::{HeaderMap, HeaderName, HeaderValue};

/// `X-Request-Id`.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// `traceparent` (W3C Trace Context).
pub static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// `tracestate` (W3C Trace Context).
pub static TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Lower-case hex of `bytes` into `out` (twice as long).
fn hex_into(bytes: &[u8], out: &mut [u8]) {
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = HEX[(b >> 4) as usize];
        out[2 * i + 1] = HEX[(b & 15) as usize];
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // The system RNG does not fail on supported platforms; should it, a
    // zero id is still a usable (if non-unique) correlation value and the
    // request is not refused over it.
    let _ = aws_lc_rs::rand::fill(&mut b);
    b
}

/// A request id: 32 lower-case hex characters (128 random bits). Fixed
/// size, no allocation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RequestId([u8; 32]);

impl RequestId {
    pub fn generate() -> Self {
        Self::from_random(&random::<16>())
    }

    fn from_random(rnd: &[u8]) -> Self {
        let mut out = [0u8; 32];
        hex_into(rnd, &mut out);
        RequestId(out)
    }

    pub fn as_str(&self) -> &str {
        // Always ASCII hex by construction.
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    pub fn header_value(&self) -> HeaderValue {
        HeaderValue::from_bytes(&self.0).unwrap_or(HeaderValue::from_static("0"))
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RequestId({})", self.as_str())
    }
}

/// W3C trace context of one request, as forwarded upstream.
#[derive(Clone, Debug)]
pub struct TraceContext {
    /// 32 lower-case hex characters.
    trace_id: [u8; 32],
    /// This hop's span id: the parent id of the forwarded request.
    span_id: [u8; 16],
    /// The caller's span id, when it sent a valid `traceparent`.
    parent_id: Option<[u8; 16]>,
    /// Trace flags, 2 hex characters.
    flags: [u8; 2],
    /// Passed on only with a valid inbound `traceparent`.
    tracestate: Option<HeaderValue>,
}

impl TraceContext {
    pub fn trace_id(&self) -> &str {
        std::str::from_utf8(&self.trace_id).unwrap_or("")
    }
    pub fn span_id(&self) -> &str {
        std::str::from_utf8(&self.span_id).unwrap_or("")
    }
    /// The caller's span id, if the caller continued a trace.
    pub fn parent_id(&self) -> Option<&str> {
        self.parent_id
            .as_ref()
            .map(|p| std::str::from_utf8(p).unwrap_or(""))
    }

    /// The trace flags, 2 lower-case hex characters.
    pub fn flags(&self) -> &str {
        std::str::from_utf8(&self.flags).unwrap_or("00")
    }

    /// The `tracestate` passed on (only with a valid inbound `traceparent`).
    pub fn tracestate(&self) -> Option<&HeaderValue> {
        self.tracestate.as_ref()
    }

    /// Take the ids of this hop's span as the exporter made it (telemetry
    /// on): the trace id (the caller's, or a new one), the span id and the
    /// sampling decision. Other flag bits are kept.
    pub fn adopt(&mut self, trace_id: [u8; 16], span_id: [u8; 8], sampled: bool) {
        hex_into(&trace_id, &mut self.trace_id);
        hex_into(&span_id, &mut self.span_id);
        let f = u8::from_str_radix(self.flags(), 16).unwrap_or(0);
        hex_into(&[(f & !1) | u8::from(sampled)], &mut self.flags);
    }

    /// Continue the trace in `headers`, or start a new one.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        Self::from_headers_with(headers, &random::<24>())
    }

    /// `rnd`: 8 bytes for the span id, 16 for a new trace id.
    fn from_headers_with(headers: &HeaderMap, rnd: &[u8; 24]) -> Self {
        let mut span_id = [0u8; 16];
        hex_into(&rnd[..8], &mut span_id);
        if let Some((trace_id, parent, flags)) =
            single(headers, &TRACEPARENT).and_then(|v| parse_traceparent(v.as_bytes()))
        {
            return TraceContext {
                trace_id,
                span_id,
                parent_id: Some(parent),
                flags,
                tracestate: single(headers, &TRACESTATE).cloned(),
            };
        }
        let mut trace_id = [0u8; 32];
        hex_into(&rnd[8..], &mut trace_id);
        TraceContext {
            trace_id,
            span_id,
            parent_id: None,
            flags: *b"00",
            tracestate: None,
        }
    }

    /// The `traceparent` to send upstream: version 00, our span as parent.
    pub fn traceparent(&self) -> HeaderValue {
        let mut v = [0u8; 55];
        v[..3].copy_from_slice(b"00-");
        v[3..35].copy_from_slice(&self.trace_id);
        v[35] = b'-';
        v[36..52].copy_from_slice(&self.span_id);
        v[52] = b'-';
        v[53..55].copy_from_slice(&self.flags);
        HeaderValue::from_bytes(&v).unwrap_or(HeaderValue::from_static(""))
    }
}

/// The one value of `name`; several copies count as none (ambiguous).
fn single<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a HeaderValue> {
    let mut it = headers.get_all(name).iter();
    let v = it.next()?;
    it.next().is_none().then_some(v)
}

fn is_lower_hex(b: &[u8]) -> bool {
    b.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

/// `version-traceid-parentid-flags` (W3C Trace Context §3.2). Version `00`
/// must be exactly 55 characters; a later version may append `-…` fields,
/// which are ignored; version `ff`, all-zero ids and upper-case hex are invalid.
fn parse_traceparent(v: &[u8]) -> Option<([u8; 32], [u8; 16], [u8; 2])> {
    if v.len() < 55 {
        return None;
    }
    let (version, rest) = v.split_at(2);
    if !is_lower_hex(version) || version == b"ff" {
        return None;
    }
    if version == b"00" && v.len() != 55 {
        return None;
    }
    if v.len() > 55 && v[55] != b'-' {
        return None;
    }
    if rest[0] != b'-' || rest[33] != b'-' || rest[50] != b'-' {
        return None;
    }
    let (trace, parent, flags) = (&rest[1..33], &rest[34..50], &rest[51..53]);
    if !is_lower_hex(trace) || !is_lower_hex(parent) || !is_lower_hex(flags) {
        return None;
    }
    if trace.iter().all(|c| *c == b'0') || parent.iter().all(|c| *c == b'0') {
        return None;
    }
    let mut t = [0u8; 32];
    t.copy_from_slice(trace);
    let mut p = [0u8; 16];
    p.copy_from_slice(parent);
    // A later version's flags may carry bits this version does not know:
    // keep only the sampled bit then (§4.3).
    let f = if version == b"00" {
        [flags[0], flags[1]]
    } else {
        let low = match flags[1] {
            c @ b'0'..=b'9' => c - b'0',
            c => c - b'a' + 10,
        };
        [b'0', if low & 1 == 1 { b'1' } else { b'0' }]
    };
    Some((t, p, f))
}

/// A caller's `X-Request-Id` worth logging: 1..=128 of `A-Za-z0-9._:-`.
fn well_formed_client_id(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'-'))
}

/// What identifies one request across logs, the upstream and the audit
/// record. Built once at the start of a request.
#[derive(Clone, Debug)]
pub struct RequestMeta {
    /// Our id for this request (never the caller's).
    pub id: RequestId,
    /// The caller's `X-Request-Id`, when well-formed; for correlation only.
    pub client_request_id: Option<HeaderValue>,
    pub trace: TraceContext,
}

impl RequestMeta {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        // One call to the system RNG per request: 16 bytes of request id,
        // 8 of span id, 16 of trace id (used when a trace starts here).
        let rnd = random::<40>();
        let mut trace_rnd = [0u8; 24];
        trace_rnd.copy_from_slice(&rnd[16..]);
        RequestMeta {
            id: RequestId::from_random(&rnd[..16]),
            client_request_id: single(headers, &REQUEST_ID)
                .filter(|v| well_formed_client_id(v))
                .cloned(),
            trace: TraceContext::from_headers_with(headers, &trace_rnd),
        }
    }

    /// The caller's id as text (`-` when none), for log fields.
    pub fn client_request_id_str(&self) -> &str {
        self.client_request_id
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
    }

    /// Set the correlation headers of the request forwarded upstream,
    /// replacing whatever the caller sent under those names.
    pub fn apply(&self, headers: &mut HeaderMap) {
        headers.insert(REQUEST_ID.clone(), self.id.header_value());
        headers.insert(TRACEPARENT.clone(), self.trace.traceparent());
        match &self.trace.tracestate {
            Some(ts) => {
                headers.insert(TRACESTATE.clone(), ts.clone());
            }
            None => {
                headers.remove(&TRACESTATE);
            }
        }
    }

    /// The tracing span a request's log lines are recorded in.
    pub fn span(&self) -> tracing::Span {
        tracing::info_span!(
            "request",
            request_id = %self.id,
            trace_id = %self.trace.trace_id(),
            client_request_id = %self.client_request_id_str(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn request_ids_are_fresh_hex() {
        let a = RequestId::generate();
        let b = RequestId::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32);
        assert!(is_lower_hex(a.as_str().as_bytes()));
    }

    #[test]
    fn a_valid_traceparent_is_continued_with_a_new_span() {
        let m =
            RequestMeta::from_headers(&headers(&[("traceparent", TP), ("tracestate", "vendor=x")]));
        assert_eq!(m.trace.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(m.trace.parent_id(), Some("00f067aa0ba902b7"));
        assert_ne!(m.trace.span_id(), "00f067aa0ba902b7");
        let mut out = HeaderMap::new();
        m.apply(&mut out);
        let tp = out["traceparent"].to_str().unwrap();
        assert!(
            tp.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
            "{tp}"
        );
        assert!(tp.ends_with("-01"), "{tp}");
        assert_eq!(&tp[36..52], m.trace.span_id());
        assert_eq!(out["tracestate"], "vendor=x");
    }

    #[test]
    fn invalid_traceparents_start_a_new_trace_and_drop_tracestate() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            let m = RequestMeta::from_headers(&headers(&[
                ("traceparent", bad),
                ("tracestate", "vendor=x"),
            ]));
            assert_ne!(
                m.trace.trace_id(),
                "4bf92f3577b34da6a3ce929d0e0e4736",
                "{bad}"
            );
            assert_eq!(m.trace.parent_id(), None, "{bad}");
            let mut out = headers(&[("tracestate", "vendor=x")]);
            m.apply(&mut out);
            assert!(out.get("tracestate").is_none(), "{bad}");
            assert!(out["traceparent"].to_str().unwrap().ends_with("-00"));
        }
        // Two traceparent headers are ambiguous: a new trace.
        let m = RequestMeta::from_headers(&headers(&[("traceparent", TP), ("traceparent", TP)]));
        assert_eq!(m.trace.parent_id(), None);
    }

    #[test]
    fn adopted_ids_replace_ours_and_keep_other_flags() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02";
        let mut m = RequestMeta::from_headers(&headers(&[("traceparent", tp)]));
        m.trace.adopt([0xab; 16], [0x01; 8], true);
        assert_eq!(m.trace.trace_id(), "ab".repeat(16));
        assert_eq!(m.trace.span_id(), "0101010101010101");
        assert_eq!(m.trace.flags(), "03");
        assert_eq!(m.trace.parent_id(), Some("00f067aa0ba902b7"));
    }

    #[test]
    fn later_versions_parse_their_first_fields() {
        let v = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-what-ever";
        let m = RequestMeta::from_headers(&headers(&[("traceparent", v)]));
        assert_eq!(m.trace.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        let tp = m.trace.traceparent();
        assert!(tp.to_str().unwrap().starts_with("00-"));
        assert!(tp.to_str().unwrap().ends_with("-01"));
    }

    #[test]
    fn caller_request_ids_are_logged_never_adopted() {
        let m = RequestMeta::from_headers(&headers(&[("x-request-id", "abc-123:x.y_z")]));
        assert_eq!(m.client_request_id_str(), "abc-123:x.y_z");
        let mut out = headers(&[("x-request-id", "abc-123:x.y_z")]);
        m.apply(&mut out);
        assert_eq!(out["x-request-id"], m.id.as_str());
        for bad in ["has space", "quote\"", &"x".repeat(129)] {
            let m = RequestMeta::from_headers(&headers(&[("x-request-id", bad)]));
            assert_eq!(m.client_request_id, None, "{bad}");
        }
    }
}
