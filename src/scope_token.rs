//! The RFC 6749 §3.3 scope-token grammar, the one check every config
//! section that names scopes uses: `1*( %x21 / %x23-5B / %x5D-7E )`, i.e.
//! printable ASCII without space, `"` and `\`. Non-ASCII is refused too: a
//! scope that looks like another in a different script would be a way to
//! grant what a reader of the config does not see.

/// `s` is one scope token.
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::is_scope_token;

    #[test]
    fn the_rfc_6749_grammar() {
        for ok in [
            "files:read",
            "a",
            "https://api.example.com/x.write",
            "!#[]~",
        ] {
            assert!(is_scope_token(ok), "{ok}");
        }
        for bad in [
            "",
            "a b",
            "a\"b",
            "a\\b",
            "a\tb",
            "\u{7f}",
            "fïles:read",
            "ｆiles",
        ] {
            assert!(!is_scope_token(bad), "{bad:?}");
        }
    }
}
