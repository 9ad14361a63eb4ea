//! Browser protections for the plain-HTTP listeners a web page on the same
//! machine can reach: the admin listener (without mTLS) and the egress
//! sidecar. One implementation, so both refuse the same things:
//!
//! - **DNS rebinding.** A page on `attacker.example` re-resolves its own
//!   name to 127.0.0.1 and then talks to the listener as "same-origin"; the
//!   only trace is the `Host` it sends. So `Host` must be a loopback name or
//!   address (or a configured name), with the listener's port.
//! - **Cross-site requests.** A page anywhere can send requests here (CORS
//!   only hides the answer, the request is still made). Browsers say where a
//!   request comes from in `Sec-Fetch-Site` and `Origin`; anything but this
//!   very origin (or a user typing the URL: `none`) is refused. A non-browser
//!   agent sends neither header, so it is not affected.
//! - **Preflight-free posts.** A cross-site page can only POST without a CORS
//!   preflight with `text/plain`, a form type, or no type at all; a JSON
//!   media type is required where a body is acted on.

use crate::metrics::text::{Exposition, Kind};
use http::header::{self, HeaderMap};
use http::{StatusCode, Uri};

/// Why a request was refused; each maps to one status, wire code, message
/// and metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the request has no Host header")]
    NoHost,
    #[error("the request has more than one Host")]
    ManyHosts,
    #[error(
        "the Host does not name this listener: only a loopback name or address \
         (localhost, 127.0.0.1, [::1]) or a configured host, with this listener's port, is answered \
         (DNS rebinding protection)"
    )]
    ForeignHost,
    #[error("cross-site requests are refused (Sec-Fetch-Site other than same-origin or none)")]
    CrossSite,
    #[error("cross-origin requests are refused (the Origin is not this listener's)")]
    CrossOrigin,
    #[error("send Content-Type: application/json (or another +json media type)")]
    NotJson,
}

impl Refusal {
    pub fn status(self) -> StatusCode {
        match self {
            Self::NoHost | Self::ManyHosts => StatusCode::BAD_REQUEST,
            Self::ForeignHost | Self::CrossSite | Self::CrossOrigin => StatusCode::FORBIDDEN,
            Self::NotJson => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }

    /// The wire error code (the gateway's `{"error": CODE}` format).
    pub fn code(self) -> &'static str {
        match self {
            Self::NoHost | Self::ManyHosts => "invalid_request",
            Self::ForeignHost | Self::CrossSite | Self::CrossOrigin => "forbidden",
            Self::NotJson => "unsupported_media_type",
        }
    }

    /// The metric label: what kind of attack the request looked like.
    pub fn label(self) -> &'static str {
        match self {
            Self::NoHost | Self::ManyHosts | Self::ForeignHost => "foreign_host",
            Self::CrossSite | Self::CrossOrigin => "cross_site",
            Self::NotJson => "not_json",
        }
    }
}

/// A host a listener answers to besides the loopback names: a name or
/// address, and the port the client names (`None`: the listener's own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    /// Lower-case; an IPv6 address without brackets.
    name: String,
    port: Option<u16>,
}

/// A configured host entry that is not `name` or `name:port`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "\"{0}\" is not a host name or host:port (like \"egress.agent.svc\" or \"egress.agent.svc:15001\"; \
     no scheme, path or wildcard)"
)]
pub struct BadHost(pub String);

impl AllowedHost {
    pub fn parse(s: &str) -> Result<AllowedHost, BadHost> {
        let bad = || BadHost(s.to_string());
        let (name, port) = split_authority(s).ok_or_else(bad)?;
        let is_ip = name.parse::<std::net::IpAddr>().is_ok();
        let dns_ok = name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
        if !is_ip && !dns_ok {
            return Err(bad());
        }
        Ok(AllowedHost {
            name: name.to_ascii_lowercase(),
            port,
        })
    }

    /// The same host with `port` when it names none (a URL's default port:
    /// `http://egress.svc` is reached as `Host: egress.svc`, port 80).
    pub fn with_default_port(mut self, port: u16) -> AllowedHost {
        self.port.get_or_insert(port);
        self
    }
}

/// Which `Host` values a listener answers to.
#[derive(Debug, Clone, Default)]
pub struct HostRule {
    /// The listener's port: a `Host` naming another port is refused. `None`:
    /// any port (the admin listener, which does not know its bound port here).
    pub port: Option<u16>,
    pub extra: Vec<AllowedHost>,
}

impl HostRule {
    /// Whether one `Host` value (or request-target authority) is answered.
    fn allows(&self, value: &str) -> bool {
        let Some((name, port)) = split_authority(value) else {
            return false;
        };
        // No port in Host means the scheme's default (80 for http).
        let port = port.unwrap_or(80);
        let port_ok = |want: Option<u16>| want.is_none_or(|p| p == port);
        let loopback = name.eq_ignore_ascii_case("localhost")
            || name
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if loopback && port_ok(self.port) {
            return true;
        }
        self.extra
            .iter()
            .any(|h| h.name.eq_ignore_ascii_case(name) && port_ok(h.port.or(self.port)))
    }
}

/// `name[:port]` or `[v6][:port]`; `None` when it is neither.
fn split_authority(s: &str) -> Option<(&str, Option<u16>)> {
    let (name, port) = match s.strip_prefix('[') {
        Some(rest) => {
            let (v6, after) = rest.split_once(']')?;
            v6.parse::<std::net::Ipv6Addr>().ok()?;
            match after {
                "" => (v6, None),
                p => (v6, Some(p.strip_prefix(':')?)),
            }
        }
        None => match s.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (s, None),
        },
    };
    if name.is_empty() {
        return None;
    }
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => Some(p.parse().ok()?),
        Some(_) => return None,
    };
    Some((name, port))
}

/// The request's `Host` must be one `rule` answers to. The request-target's
/// authority (absolute form, HTTP/2 `:authority`) is checked as well when
/// present, so the two cannot disagree.
pub fn check_host(headers: &HeaderMap, uri: &Uri, rule: &HostRule) -> Result<(), Refusal> {
    let mut hosts = headers.get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(Refusal::ManyHosts);
    }
    let authority = uri.authority().map(|a| a.as_str());
    if host.is_none() && authority.is_none() {
        return Err(Refusal::NoHost);
    }
    if let Some(h) = host {
        let ok = h.to_str().is_ok_and(|h| rule.allows(h));
        if !ok {
            return Err(Refusal::ForeignHost);
        }
    }
    match authority {
        Some(a) if !rule.allows(a) => Err(Refusal::ForeignHost),
        _ => Ok(()),
    }
}

/// Refuse what a browser marks as coming from another site or origin:
/// `Sec-Fetch-Site` must be `same-origin` or `none` (typed by the user), and
/// an `Origin` must be this listener's own (`http(s)://` + the `Host`).
/// Absent headers pass: agents are not browsers, and browsers old enough not
/// to send `Sec-Fetch-Site` still send `Origin` on every cross-origin POST.
pub fn check_same_origin(headers: &HeaderMap) -> Result<(), Refusal> {
    let mut sites = headers.get_all("sec-fetch-site").iter();
    if let Some(site) = sites.next() {
        let ok = matches!(site.as_bytes(), b"same-origin" | b"none");
        if !ok || sites.next().is_some() {
            return Err(Refusal::CrossSite);
        }
    }
    let mut origins = headers.get_all(header::ORIGIN).iter();
    if let Some(origin) = origins.next() {
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
        // `Origin: null` (sandboxed frames, file: pages) never matches.
        let ok = origin.to_str().ok().zip(host).is_some_and(|(o, host)| {
            o.strip_prefix("http://")
                .or_else(|| o.strip_prefix("https://"))
                .is_some_and(|o| o.eq_ignore_ascii_case(host))
        });
        if !ok || origins.next().is_some() {
            return Err(Refusal::CrossOrigin);
        }
    }
    Ok(())
}

/// The body must be declared JSON: `application/json` or a `+json` type
/// (`application/a2a+json`), parameters allowed. None of these is a
/// CORS-safelisted type, so a cross-site page cannot send one without a
/// preflight, which these listeners never answer.
pub fn check_json(headers: &HeaderMap) -> Result<(), Refusal> {
    let mut types = headers.get_all(header::CONTENT_TYPE).iter();
    let ct = types.next().ok_or(Refusal::NotJson)?;
    if types.next().is_some() {
        return Err(Refusal::NotJson);
    }
    let essence = ct
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .unwrap_or("");
    let Some((top, sub)) = essence.split_once('/') else {
        return Err(Refusal::NotJson);
    };
    let sub = sub.to_ascii_lowercase();
    let json = top.eq_ignore_ascii_case("application")
        && (sub == "json" || (sub.len() > 5 && sub.ends_with("+json")));
    if json {
        Ok(())
    } else {
        Err(Refusal::NotJson)
    }
}

/// Refusal counts by [`Refusal::label`], for a listener's metrics.
#[derive(Debug, Default)]
pub struct RefusalCounters([std::sync::atomic::AtomicU64; 3]);

impl RefusalCounters {
    const LABELS: [&'static str; 3] = ["foreign_host", "cross_site", "not_json"];

    pub fn count(&self, r: Refusal) {
        let i = Self::LABELS
            .iter()
            .position(|l| *l == r.label())
            .unwrap_or(0);
        self.0[i].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// The family `name`, one `NAME{reason="..."} N` sample per reason.
    pub fn render(&self, out: &mut Exposition, name: &str) {
        out.family(
            name,
            Kind::Counter,
            "Requests refused as possibly browser-driven, by reason.",
        );
        for (label, c) in Self::LABELS.iter().zip(&self.0) {
            let n = c.load(std::sync::atomic::Ordering::Relaxed);
            out.sample(name, &[("reason", label)], n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn hosts() {
        let rule = HostRule {
            port: Some(15001),
            extra: vec![
                AllowedHost::parse("Egress.svc").unwrap(),
                AllowedHost::parse("web.svc:80").unwrap(),
            ],
        };
        let uri = Uri::from_static("/agents");
        let check = |h: &'static str| check_host(&headers(&[("host", h)]), &uri, &rule);
        for ok in [
            "localhost:15001",
            "LocalHost:15001",
            "127.0.0.1:15001",
            "127.9.9.9:15001",
            "[::1]:15001",
            "egress.svc:15001",
            "web.svc",
            "web.svc:80",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        for bad in [
            "attacker.example:15001",
            "localhost",
            "localhost:15002",
            "localhost.:15001",
            "a.localhost:15001",
            "127.0.0.1:15001:1",
            "[::1:15001",
            "::1:15001",
            "user@localhost:15001",
            "localhost:",
            "localhost:99999",
            "egress.svc:1",
            "web.svc:15001",
            "10.0.0.1:15001",
            "",
        ] {
            assert_eq!(check(bad), Err(Refusal::ForeignHost), "{bad}");
        }
        assert_eq!(
            check_host(&HeaderMap::new(), &uri, &rule),
            Err(Refusal::NoHost)
        );
        let two = headers(&[("host", "localhost:15001"), ("host", "localhost:15001")]);
        assert_eq!(check_host(&two, &uri, &rule), Err(Refusal::ManyHosts));
        // The absolute-form target must agree.
        let abs = Uri::from_static("http://attacker.example:15001/agents");
        let h = headers(&[("host", "localhost:15001")]);
        assert_eq!(check_host(&h, &abs, &rule), Err(Refusal::ForeignHost));
        // Any port when the rule has none (the admin listener).
        let any = HostRule::default();
        assert_eq!(check_host(&h, &uri, &any), Ok(()));
        let h = headers(&[("host", "attacker.example:9901")]);
        assert_eq!(check_host(&h, &uri, &any), Err(Refusal::ForeignHost));
    }

    #[test]
    fn configured_host_syntax() {
        for ok in [
            "egress.svc",
            "egress.svc:15001",
            "10.0.0.5",
            "[fd00::1]:80",
            "a-b.c",
        ] {
            assert!(AllowedHost::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "http://egress.svc",
            "egress.svc/",
            "*.svc",
            "egress..svc",
            "egress.svc:",
            "egress.svc:70000",
            "[fd00::1",
            "a b",
        ] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn origins() {
        let ok = |pairs: &[(&'static str, &'static str)]| check_same_origin(&headers(pairs));
        assert_eq!(ok(&[("host", "localhost:1")]), Ok(()));
        assert_eq!(ok(&[("sec-fetch-site", "same-origin")]), Ok(()));
        assert_eq!(ok(&[("sec-fetch-site", "none")]), Ok(()));
        assert_eq!(
            ok(&[("host", "localhost:1"), ("origin", "http://localhost:1")]),
            Ok(())
        );
        for site in ["cross-site", "same-site", "Same-Origin", ""] {
            let h = HeaderMap::from_iter([(
                http::header::HeaderName::from_static("sec-fetch-site"),
                HeaderValue::from_str(site).unwrap(),
            )]);
            assert_eq!(check_same_origin(&h), Err(Refusal::CrossSite), "{site}");
        }
        for origin in [
            "https://attacker.example",
            "null",
            "http://localhost:2",
            "http://localhost:1.attacker.example",
            "localhost:1",
        ] {
            let mut h = headers(&[("host", "localhost:1")]);
            h.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
            assert_eq!(check_same_origin(&h), Err(Refusal::CrossOrigin), "{origin}");
        }
        // An Origin with no Host to compare with cannot be this origin.
        assert_eq!(
            ok(&[("origin", "http://localhost:1")]),
            Err(Refusal::CrossOrigin)
        );
    }

    #[test]
    fn json_types() {
        for ok in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/a2a+json",
            "application/json-rpc+json",
        ] {
            let h = HeaderMap::from_iter([(header::CONTENT_TYPE, HeaderValue::from_static(ok))]);
            assert_eq!(check_json(&h), Ok(()), "{ok}");
        }
        for bad in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "text/json",
            "application/+json",
            "application/jsonx",
            "",
        ] {
            let h = HeaderMap::from_iter([(header::CONTENT_TYPE, HeaderValue::from_static(bad))]);
            assert_eq!(check_json(&h), Err(Refusal::NotJson), "{bad}");
        }
        assert_eq!(check_json(&HeaderMap::new()), Err(Refusal::NotJson));
    }

    #[test]
    fn counters_render() {
        let c = RefusalCounters::default();
        c.count(Refusal::ManyHosts);
        c.count(Refusal::CrossOrigin);
        c.count(Refusal::CrossSite);
        let mut out = Exposition::default();
        c.render(&mut out, "x_total");
        let text = out.finish();
        assert!(
            text.contains("x_total{reason=\"foreign_host\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("x_total{reason=\"cross_site\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("x_total{reason=\"not_json\"} 0\n"), "{text}");
    }
}
