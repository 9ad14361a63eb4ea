//! `application/x-www-form-urlencoded` bodies (the token endpoint's input),
//! decoded strictly: a malformed percent escape or a name/value that is not
//! UTF-8 is an error, never replaced or skipped.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("malformed percent-encoding in the form body")]
    BadEscape,
    #[error("the form body is not UTF-8 after decoding")]
    NotUtf8,
}

/// The `name=value` pairs of `body`, in order; repeated names are kept (the
/// caller decides which parameters may repeat). Empty segments (`a=1&&b=2`)
/// are skipped; a segment without `=` is a name with an empty value.
pub fn parse(body: &[u8]) -> Result<Vec<(String, String)>, FormError> {
    let mut out = Vec::new();
    for pair in body.split(|b| *b == b'&') {
        if pair.is_empty() {
            continue;
        }
        let (name, value) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &pair[pair.len()..]),
        };
        out.push((decode(name)?, decode(value)?));
    }
    Ok(out)
}

/// Percent-decode one component; `+` is a space (WHATWG urlencoded).
fn decode(s: &[u8]) -> Result<String, FormError> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = s.get(i + 1).and_then(|c| hex(*c));
                let lo = s.get(i + 2).and_then(|c| hex(*c));
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(FormError::BadEscape);
                };
                out.push(hi << 4 | lo);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| FormError::NotUtf8)
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn decodes_pairs() {
        assert_eq!(
            parse(b"grant_type=urn%3Aietf%3Aparams&scope=a+b%20c&&x&resource=1&resource=2")
                .unwrap(),
            pairs(&[
                ("grant_type", "urn:ietf:params"),
                ("scope", "a b c"),
                ("x", ""),
                ("resource", "1"),
                ("resource", "2"),
            ])
        );
        assert_eq!(parse(b"").unwrap(), vec![]);
        assert_eq!(parse(b"a=%C3%A9").unwrap(), pairs(&[("a", "é")]));
    }

    #[test]
    fn refuses_malformed_input() {
        assert_eq!(parse(b"a=%"), Err(FormError::BadEscape));
        assert_eq!(parse(b"a=%4"), Err(FormError::BadEscape));
        assert_eq!(parse(b"a=%zz"), Err(FormError::BadEscape));
        assert_eq!(parse(b"a=%FF"), Err(FormError::NotUtf8));
        assert_eq!(parse(b"a=\xff"), Err(FormError::NotUtf8));
    }
}
