//! The request path after `/agents/NAME`: decoded and normalised once into
//! the one canonical form the gateway classifies and forwards, or refused.
//!
//! Why so strict: upstream frameworks decode and route paths in their own
//! ways (Starlette decodes `%3A` to `:` before routing, Spring strips `;`
//! parameters, some collapse `//` or resolve dot segments). A path is
//! accepted only when it has one obvious meaning, and the upstream receives
//! exactly the form that was classified, so no framework can read it as
//! another operation.

use std::borrow::Cow;

/// Why a path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the path has a malformed percent-escape")]
    BadEscape,
    #[error("the path has an encoded '/', '\\' or '%' (encoded separators and double encoding are refused)")]
    EncodedSeparator,
    #[error("the path has a ';' parameter or a character that is not allowed in A2A paths")]
    Character,
    #[error("the path has an empty segment ('//' or a trailing '/')")]
    EmptySegment,
    #[error("the path has a '.' or '..' segment")]
    DotSegment,
}

/// Bytes that stand for themselves in a canonical path: RFC 3986 unreserved
/// characters and the sub-delimiters, `:` and `@`, except `;` (path
/// parameters, which some frameworks strip). None of them needs encoding, so
/// the canonical form is the decoded form.
fn plain(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b'='
                | b':'
                | b'@'
        )
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The canonical form of `rest` (which starts with `/`): every escape of a
/// plain character decoded, everything else refused. Borrowed when `rest`
/// has no escapes (the common case: no allocation).
pub fn canonical(rest: &str) -> Result<Cow<'_, str>, PathError> {
    let bytes = rest.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::Character);
    }
    if rest == "/" {
        return Ok(Cow::Borrowed(rest));
    }
    let mut out: Option<String> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let (decoded, len) = if b == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex);
            let lo = bytes.get(i + 2).copied().and_then(hex);
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Err(PathError::BadEscape);
            };
            let d = hi << 4 | lo;
            if matches!(d, b'/' | b'\\' | b'%') {
                return Err(PathError::EncodedSeparator);
            }
            if !plain(d) {
                return Err(PathError::Character);
            }
            if out.is_none() {
                out = Some(rest[..i].to_owned());
            }
            (d, 3)
        } else if b == b'/' || plain(b) {
            (b, 1)
        } else {
            return Err(PathError::Character);
        };
        if let Some(o) = out.as_mut() {
            // `decoded` is ASCII (plain bytes and '/' only).
            o.push(char::from(decoded));
        }
        i += len;
    }
    let path = match out {
        Some(o) => Cow::Owned(o),
        None => Cow::Borrowed(rest),
    };
    for seg in path[1..].split('/') {
        match seg {
            "" => return Err(PathError::EmptySegment),
            "." | ".." => return Err(PathError::DotSegment),
            _ => {}
        }
    }
    Ok(path)
}

/// Which Agent Card a path asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardPath {
    /// `/.well-known/agent-card.json` (v0.3 onward; served in v1.0 form).
    Current,
    /// `/.well-known/agent.json` (before v0.3; served in v0.3 form).
    Legacy,
}

/// Whether `rest` is, in any spelling an upstream might accept (escapes,
/// repeated decoding, case, empty segments, trailing slashes, `;`
/// parameters, backslashes), one of the card paths. Deliberately lenient:
/// such requests are answered by the gateway and never reach the upstream,
/// whose own (unrewritten, unsigned-by-us) card must not leak.
pub fn card_path(rest: &str) -> Option<CardPath> {
    // Fast exit for ordinary calls: no escape and no "well-known" at all.
    if !rest.contains('%') && !contains_ignore_case(rest.as_bytes(), b"well-known") {
        return None;
    }
    let mut s = rest.to_ascii_lowercase();
    // A few rounds undo double (and triple) encoding.
    for _ in 0..3 {
        if !s.contains('%') {
            break;
        }
        s = lenient_decode(&s);
    }
    let mut segs = s
        .split(['/', '\\'])
        .map(|seg| seg.split(';').next().unwrap_or(seg))
        .filter(|seg| !seg.is_empty() && *seg != ".");
    let (Some(dir), Some(file), None) = (segs.next(), segs.next(), segs.next()) else {
        return None;
    };
    match (dir, file) {
        (".well-known", "agent-card.json") => Some(CardPath::Current),
        (".well-known", "agent.json") => Some(CardPath::Legacy),
        _ => None,
    }
}

fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Percent-decoding that never fails: malformed escapes and undecodable
/// bytes are kept or replaced, since the result is only compared.
fn lenient_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let (Some(hi), Some(lo)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            ) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms() {
        for (raw, want) in [
            ("/", "/"),
            ("/a2a/jsonrpc", "/a2a/jsonrpc"),
            ("/tasks/t%2D1", "/tasks/t-1"),
            ("/tasks/t1%3Acancel", "/tasks/t1:cancel"),
            ("/tasks/t1%3acancel", "/tasks/t1:cancel"),
            ("/message:send", "/message:send"),
        ] {
            assert_eq!(canonical(raw).as_deref(), Ok(want), "{raw}");
        }
        assert!(matches!(canonical("/a2a/jsonrpc"), Ok(Cow::Borrowed(_))));
    }

    #[test]
    fn refused_paths() {
        use PathError::*;
        for (raw, want) in [
            ("/a%2Fb", EncodedSeparator),
            ("/a%2fb", EncodedSeparator),
            ("/a%5Cb", EncodedSeparator),
            ("/a%253Ab", EncodedSeparator),
            ("/a\\b", Character),
            ("/a;x=1", Character),
            ("/a%3Bx", Character),
            ("/a%20b", Character),
            ("/a%C3%A9", Character),
            ("/a%0Ab", Character),
            ("/a%", BadEscape),
            ("/a%4", BadEscape),
            ("/a%zz", BadEscape),
            ("//x", EmptySegment),
            ("/x/", EmptySegment),
            ("/a//b", EmptySegment),
            ("/a/./b", DotSegment),
            ("/a/../b", DotSegment),
            ("/%2e%2e/b", DotSegment),
            ("/%2E/b", DotSegment),
            ("relative", Character),
        ] {
            assert_eq!(canonical(raw), Err(want), "{raw}");
        }
    }

    #[test]
    fn card_path_variants() {
        for p in [
            "/.well-known/agent-card.json",
            "/.well-known/agent-card.json/",
            "/.well-known/agent-card%2Ejson",
            "/.well-known/agent-card.json%2F",
            "/%2Ewell-known/agent-card.json",
            "/%252Ewell-known/agent-card.json",
            "//.well-known//agent-card.json",
            "/.WELL-KNOWN/Agent-Card.JSON",
            "/.well-known;x/agent-card.json;y",
            "/.well-known\\agent-card.json",
            "/./.well-known/agent-card.json",
        ] {
            assert_eq!(card_path(p), Some(CardPath::Current), "{p}");
        }
        assert_eq!(
            card_path("/.well-known/agent.json/"),
            Some(CardPath::Legacy)
        );
        for p in [
            "/a2a/jsonrpc",
            "/x/.well-known/agent-card.json",
            "/.well-known/oauth-protected-resource",
            "/.well-known/agent-card.json/x",
        ] {
            assert_eq!(card_path(p), None, "{p}");
        }
    }
}
