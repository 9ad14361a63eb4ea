//! SPIFFE ID and trust domain parsing, strictly per SPIFFE-ID.md, and ID patterns.
//!
//! Parsing is deliberately strict and never normalises: the spec calls the
//! scheme and trust domain case-insensitive but only *permits* lowercase, so an
//! uppercase ID is rejected rather than case-folded. Two IDs are equal only if
//! their strings are byte-for-byte equal, which keeps every comparison in the
//! gateway (bundle selection, policy, audit) on the same footing.

use std::borrow::Borrow;
use std::fmt;

/// The only accepted scheme prefix. `SPIFFE://` and `spiffe:/x` are rejected.
const SCHEME: &str = "spiffe://";
/// SPIFFE-ID.md §2.3: implementations MUST accept up to 2048 bytes; we refuse
/// longer IDs so that a hostile certificate cannot make us carry arbitrary data.
pub const MAX_ID_LEN: usize = 2048;
/// SPIFFE-ID.md §2.1: the trust domain name is at most 255 bytes.
pub const MAX_TRUST_DOMAIN_LEN: usize = 255;

/// Why a string is not a SPIFFE ID, trust domain or ID pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpiffeIdError {
    #[error("SPIFFE ID is empty")]
    Empty,
    #[error("SPIFFE ID must start with the literal lowercase prefix `spiffe://`")]
    WrongScheme,
    #[error("SPIFFE ID is {len} bytes long; at most {MAX_ID_LEN} are allowed")]
    TooLong { len: usize },
    #[error("trust domain is empty")]
    EmptyTrustDomain,
    #[error("trust domain is {len} bytes long; at most {MAX_TRUST_DOMAIN_LEN} are allowed")]
    TrustDomainTooLong { len: usize },
    #[error(
        "trust domain contains {ch:?}{hint}; only lowercase a-z, 0-9, '.', '-' and '_' are allowed"
    )]
    TrustDomainChar { ch: char, hint: &'static str },
    #[error("SPIFFE ID has no path; a workload ID needs a non-root path such as `spiffe://example.org/service`")]
    MissingPath,
    #[error("SPIFFE ID path ends with '/'; trailing slashes are not allowed")]
    TrailingSlash,
    #[error("SPIFFE ID path has an empty segment ('//')")]
    EmptySegment,
    #[error("SPIFFE ID path has a '.' or '..' segment; relative segments are not allowed")]
    DotSegment,
    #[error(
        "SPIFFE ID path contains {ch:?}{hint}; only a-z, A-Z, 0-9, '.', '-' and '_' are allowed"
    )]
    PathChar { ch: char, hint: &'static str },
    #[error("pattern uses '*' inside segment {segment:?}; a wildcard must be a whole segment")]
    PartialWildcard { segment: String },
    #[error("pattern uses '**' before its last segment; '**' may only end a pattern")]
    DoubleStarNotLast,
}

/// Explain the characters people most often get wrong, so the error says *why*.
fn char_hint(ch: char) -> &'static str {
    match ch {
        ':' => " (ports are not allowed)",
        '@' => " (userinfo is not allowed)",
        '%' => " (percent-encoding is not allowed)",
        '?' => " (a query is not allowed)",
        '#' => " (a fragment is not allowed)",
        '*' => " (wildcards are only allowed in patterns, as whole path segments)",
        c if c.is_ascii_uppercase() => " (uppercase is not allowed in a trust domain)",
        _ => "",
    }
}

/// A validated trust domain name (lowercase, `[a-z0-9._-]`, at most 255 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrustDomain(String);

impl TrustDomain {
    /// Parse a bare trust domain name such as `example.org` (no scheme).
    pub fn parse(s: &str) -> Result<Self, SpiffeIdError> {
        validate_trust_domain(s)?;
        Ok(TrustDomain(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The trust domain's own SPIFFE ID, `spiffe://<td>` (no path).
    pub fn id_string(&self) -> String {
        format!("{SCHEME}{}", self.0)
    }
}

// `Borrow<str>` lets a `HashMap<TrustDomain, _>` be queried with the `&str`
// from `SpiffeId::trust_domain()` without allocating. It is sound because
// `TrustDomain` hashes and compares exactly like its inner string.
impl Borrow<str> for TrustDomain {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TrustDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn validate_trust_domain(td: &str) -> Result<(), SpiffeIdError> {
    if td.is_empty() {
        return Err(SpiffeIdError::EmptyTrustDomain);
    }
    if td.len() > MAX_TRUST_DOMAIN_LEN {
        return Err(SpiffeIdError::TrustDomainTooLong { len: td.len() });
    }
    // IPv4-looking names pass (digits and dots); IPv6 literals fail on '[' or
    // ':'. Both kinds are treated exactly like DNS-looking names, as required.
    if let Some(ch) = td
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '.' | '-' | '_'))
    {
        return Err(SpiffeIdError::TrustDomainChar {
            ch,
            hint: char_hint(ch),
        });
    }
    Ok(())
}

fn validate_segment(seg: &str) -> Result<(), SpiffeIdError> {
    if seg.is_empty() {
        return Err(SpiffeIdError::EmptySegment);
    }
    if seg == "." || seg == ".." {
        return Err(SpiffeIdError::DotSegment);
    }
    if let Some(ch) = seg
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
    {
        return Err(SpiffeIdError::PathChar {
            ch,
            hint: char_hint(ch),
        });
    }
    Ok(())
}

/// Split `spiffe://td/path` into `(td, path)` where `path` is `""` or starts
/// with `/`. Checks the scheme and overall length only.
fn split_id(s: &str) -> Result<(&str, &str), SpiffeIdError> {
    if s.is_empty() {
        return Err(SpiffeIdError::Empty);
    }
    if s.len() > MAX_ID_LEN {
        return Err(SpiffeIdError::TooLong { len: s.len() });
    }
    let rest = s.strip_prefix(SCHEME).ok_or(SpiffeIdError::WrongScheme)?;
    Ok(match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    })
}

/// Validate a non-empty path (starting with `/`) segment by segment.
fn validate_path(path: &str, allow_wildcards: bool) -> Result<(), SpiffeIdError> {
    let body = path.strip_prefix('/').ok_or(SpiffeIdError::MissingPath)?;
    if body.is_empty() || body.ends_with('/') {
        // `spiffe://td/` is the root with a trailing slash; `/a/` likewise.
        return Err(SpiffeIdError::TrailingSlash);
    }
    let count = body.split('/').count();
    for (i, seg) in body.split('/').enumerate() {
        if allow_wildcards && seg.contains('*') {
            match seg {
                "*" => {}
                "**" if i + 1 == count => {}
                "**" => return Err(SpiffeIdError::DoubleStarNotLast),
                _ => {
                    return Err(SpiffeIdError::PartialWildcard {
                        segment: seg.to_owned(),
                    })
                }
            }
            continue;
        }
        validate_segment(seg)?;
    }
    Ok(())
}

/// A validated SPIFFE ID with a non-root path (a workload ID).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpiffeId {
    full: String,
    td_end: usize,
}

impl SpiffeId {
    /// Parse a workload SPIFFE ID (path required).
    pub fn parse(s: &str) -> Result<Self, SpiffeIdError> {
        let (td, path) = split_id(s)?;
        validate_trust_domain(td)?;
        if path.is_empty() {
            // A trust-domain ID names the domain itself, never a workload; an
            // X509-SVID leaf carrying one must be refused (X509-SVID §2).
            return Err(SpiffeIdError::MissingPath);
        }
        validate_path(path, false)?;
        Ok(SpiffeId {
            full: s.to_owned(),
            td_end: SCHEME.len() + td.len(),
        })
    }

    /// Build `spiffe://<td><path>` from parts; `path` must start with `/`.
    pub fn from_parts(td: &TrustDomain, path: &str) -> Result<Self, SpiffeIdError> {
        Self::parse(&format!("{SCHEME}{td}{path}"))
    }

    pub fn as_str(&self) -> &str {
        &self.full
    }

    pub fn trust_domain(&self) -> &str {
        // The bounds were established by `parse`; `get` keeps this panic-free
        // even if that invariant were ever broken.
        self.full.get(SCHEME.len()..self.td_end).unwrap_or_default()
    }

    /// The trust domain as its validated type.
    pub fn trust_domain_owned(&self) -> TrustDomain {
        TrustDomain(self.trust_domain().to_owned())
    }

    /// The path, starting with `/`.
    pub fn path(&self) -> &str {
        self.full.get(self.td_end..).unwrap_or_default()
    }

    /// The path segments, in order (never empty for a parsed ID).
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.path().split('/').skip(1)
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

impl std::str::FromStr for SpiffeId {
    type Err = SpiffeIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl std::str::FromStr for TrustDomain {
    type Err = SpiffeIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// One segment of a [`SpiffePattern`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum PatternSegment {
    Literal(String),
    /// `*`: exactly one segment, any value.
    One,
}

/// An authorization pattern over SPIFFE IDs.
///
/// `spiffe://example.org/agent/*` matches exactly one segment in place of `*`;
/// `spiffe://example.org/ns/**` matches one or more remaining segments; a
/// pattern without wildcards matches exactly one ID. The trust domain is always
/// literal: a policy must never grant across trust domains by accident
/// (SPIFFE-ID.md §4.1.2, WIMSE: never evaluate only the path).
///
/// Matching works on the parsed `(trust domain, segments)` pair, never on
/// string prefixes, so `spiffe://foo/*/bar` cannot match `spiffe://foox/a/bar`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpiffePattern {
    source: String,
    trust_domain: TrustDomain,
    segments: Vec<PatternSegment>,
    /// The pattern ended in `**`: one or more further segments.
    rest: bool,
}

impl SpiffePattern {
    pub fn parse(s: &str) -> Result<Self, SpiffeIdError> {
        let (td, path) = split_id(s)?;
        validate_trust_domain(td)?;
        if path.is_empty() {
            // A root pattern could never match a workload ID; refuse it rather
            // than accept a rule that silently grants nothing.
            return Err(SpiffeIdError::MissingPath);
        }
        validate_path(path, true)?;
        let mut segments = Vec::new();
        let mut rest = false;
        for seg in path.split('/').skip(1) {
            match seg {
                "**" => rest = true,
                "*" => segments.push(PatternSegment::One),
                lit => segments.push(PatternSegment::Literal(lit.to_owned())),
            }
        }
        Ok(SpiffePattern {
            source: s.to_owned(),
            trust_domain: TrustDomain(td.to_owned()),
            segments,
            rest,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    pub fn matches(&self, id: &SpiffeId) -> bool {
        if id.trust_domain() != self.trust_domain.as_str() {
            return false;
        }
        let mut ids = id.segments();
        for pat in &self.segments {
            match (pat, ids.next()) {
                (_, None) => return false,
                (PatternSegment::One, Some(_)) => {}
                (PatternSegment::Literal(l), Some(seg)) if l == seg => {}
                (PatternSegment::Literal(_), Some(_)) => return false,
            }
        }
        let remaining = ids.count();
        if self.rest {
            remaining >= 1
        } else {
            remaining == 0
        }
    }
}

impl fmt::Display for SpiffePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

macro_rules! serde_via_parse {
    ($t:ty, $what:literal) => {
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                <$t>::parse(&s).map_err(|e| serde::de::Error::custom(format!("{}: {e}", $what)))
            }
        }
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

serde_via_parse!(SpiffeId, "invalid SPIFFE ID");
serde_via_parse!(TrustDomain, "invalid trust domain");
serde_via_parse!(SpiffePattern, "invalid SPIFFE ID pattern");

#[cfg(test)]
mod tests {
    use super::*;
    use SpiffeIdError as E;

    #[test]
    fn valid_ids() {
        for (s, td, path) in [
            (
                "spiffe://example.org/ns/prod/sa/invoice-agent",
                "example.org",
                "/ns/prod/sa/invoice-agent",
            ),
            ("spiffe://10.0.0.1/x", "10.0.0.1", "/x"),
            ("spiffe://a_b-c.d/A.b-C_9", "a_b-c.d", "/A.b-C_9"),
            ("spiffe://td/.../a..b/.x", "td", "/.../a..b/.x"),
        ] {
            let id = SpiffeId::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(id.as_str(), s);
            assert_eq!(id.trust_domain(), td);
            assert_eq!(id.path(), path);
            assert_eq!(id.trust_domain_owned().as_str(), td);
        }
    }

    #[test]
    fn invalid_ids() {
        let long_td = format!("spiffe://{}/x", "a".repeat(256));
        let long_id = format!("spiffe://example.org/{}", "a".repeat(2048));
        let cases: Vec<(&str, SpiffeIdError)> = vec![
            ("", E::Empty),
            (
                "spiffe://Example.org/x",
                E::TrustDomainChar {
                    ch: 'E',
                    hint: char_hint('E'),
                },
            ),
            (
                "spiffe://example.org:443/x",
                E::TrustDomainChar {
                    ch: ':',
                    hint: char_hint(':'),
                },
            ),
            (
                "spiffe://u@example.org/x",
                E::TrustDomainChar {
                    ch: '@',
                    hint: char_hint('@'),
                },
            ),
            ("spiffe:///x", E::EmptyTrustDomain),
            ("spiffe://", E::EmptyTrustDomain),
            ("spiffe://example.org/", E::TrailingSlash),
            ("spiffe://example.org/a/", E::TrailingSlash),
            ("spiffe://example.org//x", E::EmptySegment),
            ("spiffe://example.org/a/../b", E::DotSegment),
            ("spiffe://example.org/a/./b", E::DotSegment),
            (
                "spiffe://example.org/a%20b",
                E::PathChar {
                    ch: '%',
                    hint: char_hint('%'),
                },
            ),
            (
                "spiffe://exa%6dple.org/a",
                E::TrustDomainChar {
                    ch: '%',
                    hint: char_hint('%'),
                },
            ),
            (
                "spiffe://example.org/x?q=1",
                E::PathChar {
                    ch: '?',
                    hint: char_hint('?'),
                },
            ),
            (
                "spiffe://example.org/x#f",
                E::PathChar {
                    ch: '#',
                    hint: char_hint('#'),
                },
            ),
            (
                "spiffe://example.org?q=1",
                E::TrustDomainChar {
                    ch: '?',
                    hint: char_hint('?'),
                },
            ),
            (
                "spiffe://example.org#f",
                E::TrustDomainChar {
                    ch: '#',
                    hint: char_hint('#'),
                },
            ),
            (
                "spiffe://example.org/a b",
                E::PathChar { ch: ' ', hint: "" },
            ),
            ("spiffe://example.org/ä", E::PathChar { ch: 'ä', hint: "" }),
            ("spiffe://example.org", E::MissingPath),
            ("SPIFFE://example.org/x", E::WrongScheme),
            ("spiffe:/example.org/x", E::WrongScheme),
            ("spiff://example.org/x", E::WrongScheme),
            ("https://example.org/x", E::WrongScheme),
            ("spiffe://[::1]/x", E::TrustDomainChar { ch: '[', hint: "" }),
            (long_td.as_str(), E::TrustDomainTooLong { len: 256 }),
            (long_id.as_str(), E::TooLong { len: long_id.len() }),
        ];
        for (s, want) in cases {
            assert_eq!(SpiffeId::parse(s), Err(want), "{s}");
        }
    }

    #[test]
    fn length_limits_are_inclusive() {
        let td = "a".repeat(255);
        assert!(SpiffeId::parse(&format!("spiffe://{td}/x")).is_ok());
        let prefix = "spiffe://example.org/";
        let id = format!("{prefix}{}", "a".repeat(2048 - prefix.len()));
        assert_eq!(id.len(), 2048);
        assert!(SpiffeId::parse(&id).is_ok());
    }

    #[test]
    fn trust_domains() {
        for ok in ["example.org", "10.0.0.1", "a-b_c.d", "x"] {
            assert_eq!(
                TrustDomain::parse(ok).map(|t| t.to_string()).as_deref(),
                Ok(ok)
            );
        }
        for bad in [
            "",
            "Example.org",
            "example.org:443",
            "u@x",
            "spiffe://x",
            "a/b",
            "a%2e",
        ] {
            assert!(TrustDomain::parse(bad).is_err(), "{bad}");
        }
        let td = TrustDomain::parse("example.org").unwrap();
        assert_eq!(td.id_string(), "spiffe://example.org");
        let id = SpiffeId::from_parts(&td, "/gateway").unwrap();
        assert_eq!(id.as_str(), "spiffe://example.org/gateway");
    }

    #[test]
    fn error_messages_name_the_problem() {
        let e = SpiffeId::parse("spiffe://example.org:443/x").unwrap_err();
        assert!(e.to_string().contains("ports are not allowed"), "{e}");
        let e = SpiffeId::parse("spiffe://example.org").unwrap_err();
        assert!(e.to_string().contains("non-root path"), "{e}");
    }

    #[test]
    fn serde_round_trip_and_rejects_invalid() {
        let id: SpiffeId = serde_json::from_str("\"spiffe://example.org/a\"").unwrap();
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"spiffe://example.org/a\""
        );
        let err = serde_json::from_str::<SpiffeId>("\"spiffe://example.org/\"").unwrap_err();
        assert!(err.to_string().contains("invalid SPIFFE ID"), "{err}");
        assert!(serde_json::from_str::<TrustDomain>("\"Example.org\"").is_err());
        let p: SpiffePattern = serde_json::from_str("\"spiffe://example.org/a/*\"").unwrap();
        assert_eq!(p.as_str(), "spiffe://example.org/a/*");
    }

    fn id(s: &str) -> SpiffeId {
        SpiffeId::parse(s).unwrap()
    }

    #[test]
    fn pattern_matching() {
        let cases: &[(&str, &str, bool)] = &[
            // exact
            ("spiffe://example.org/a/b", "spiffe://example.org/a/b", true),
            (
                "spiffe://example.org/a/b",
                "spiffe://example.org/a/b/c",
                false,
            ),
            ("spiffe://example.org/a/b", "spiffe://example.org/a", false),
            (
                "spiffe://example.org/a/b",
                "spiffe://example.org/a/B",
                false,
            ),
            ("spiffe://example.org/a", "spiffe://other.org/a", false),
            // single-segment wildcard
            (
                "spiffe://example.org/agent/*",
                "spiffe://example.org/agent/x",
                true,
            ),
            (
                "spiffe://example.org/agent/*",
                "spiffe://example.org/agent/x/y",
                false,
            ),
            (
                "spiffe://example.org/agent/*",
                "spiffe://example.org/agent",
                false,
            ),
            (
                "spiffe://example.org/agent/*",
                "spiffe://example.org/agentx/y",
                false,
            ),
            // ghostunnel wildcard/matcher_test.go
            ("spiffe://foo/*/bar", "spiffe://foo/a/bar", true),
            ("spiffe://foo/*/bar", "spiffe://foox/a/bar", false),
            ("spiffe://foo/*/bar", "spiffe://foo/a/b/bar", false),
            ("spiffe://foo/*/bar", "spiffe://foo/bar", false),
            ("spiffe://foo/*/bar", "spiffe://fo/a/bar", false),
            // trailing `**`
            (
                "spiffe://example.org/ns/**",
                "spiffe://example.org/ns/a",
                true,
            ),
            (
                "spiffe://example.org/ns/**",
                "spiffe://example.org/ns/a/b/c",
                true,
            ),
            (
                "spiffe://example.org/ns/**",
                "spiffe://example.org/ns",
                false,
            ),
            (
                "spiffe://example.org/ns/**",
                "spiffe://example.org/nsx/a",
                false,
            ),
            (
                "spiffe://example.org/ns/**",
                "spiffe://example.org.evil/ns/a",
                false,
            ),
            (
                "spiffe://example.org/**",
                "spiffe://example.org/anything/at/all",
                true,
            ),
            (
                "spiffe://example.org/*/x/**",
                "spiffe://example.org/a/x/y",
                true,
            ),
            (
                "spiffe://example.org/*/x/**",
                "spiffe://example.org/a/y/y",
                false,
            ),
        ];
        for (p, i, want) in cases {
            let pat = SpiffePattern::parse(p).unwrap_or_else(|e| panic!("{p}: {e}"));
            assert_eq!(pat.matches(&id(i)), *want, "{p} vs {i}");
        }
    }

    #[test]
    fn invalid_patterns() {
        let cases: &[(&str, SpiffeIdError)] = &[
            (
                "spiffe://example.org/a*",
                E::PartialWildcard {
                    segment: "a*".into(),
                },
            ),
            ("spiffe://example.org/**/a", E::DoubleStarNotLast),
            (
                "spiffe://example.org/***",
                E::PartialWildcard {
                    segment: "***".into(),
                },
            ),
            (
                "spiffe://*.org/a",
                E::TrustDomainChar {
                    ch: '*',
                    hint: char_hint('*'),
                },
            ),
            (
                "spiffe://*/a",
                E::TrustDomainChar {
                    ch: '*',
                    hint: char_hint('*'),
                },
            ),
            ("spiffe://example.org", E::MissingPath),
            ("spiffe://example.org/", E::TrailingSlash),
            ("spiffe://example.org//*", E::EmptySegment),
            ("spiff://foo/*/bar", E::WrongScheme),
            ("spiffe://foo/../*", E::DotSegment),
        ];
        for (p, want) in cases {
            assert_eq!(SpiffePattern::parse(p), Err(want.clone()), "{p}");
        }
    }
}
