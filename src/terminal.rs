//! Stored values shown on a terminal. Audit records, approvals and their
//! bodies hold strings callers chose (a subject, a reason, a body); printed
//! raw, an `ESC [2J` clears the operator's screen, an OSC sequence can set
//! the window title or a hyperlink, a bidi override makes `→ bank` read as
//! `knab ←`. So every CLI output of a stored value goes through [`escape`]
//! (or [`escape_json`] for JSON output), which makes these characters
//! visible instead of acting on them.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Characters that act on a terminal or reorder text: C0 controls, DEL, C1
/// controls, and the Unicode bidi controls and line/paragraph separators.
pub fn is_unsafe(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{61c}'
        | '\u{200e}' | '\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}')
}

/// `s` with every [`is_unsafe`] character shown as `\xNN` (below U+0100)
/// or `\u{NNNN}`. Borrowed when there is nothing to escape.
pub fn escape(s: &str) -> Cow<'_, str> {
    escape_with(s, is_unsafe, |out, c| {
        let n = u32::from(c);
        if n < 0x100 {
            let _ = write!(out, "\\x{n:02x}");
        } else {
            let _ = write!(out, "\\u{{{n:04x}}}");
        }
    })
}

/// A JSON text with every [`is_unsafe`] character but the line breaks and
/// tabs between tokens as a `\uNNNN` escape: still the same JSON for a
/// parser (in valid JSON, control characters other than that whitespace
/// can only be inside strings), inert on a terminal.
pub fn escape_json(s: &str) -> Cow<'_, str> {
    escape_with(
        s,
        |c| is_unsafe(c) && c != '\n' && c != '\t',
        |out, c| {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        },
    )
}

fn escape_with(
    s: &str,
    unsafe_char: impl Fn(char) -> bool,
    mut esc: impl FnMut(&mut String, char),
) -> Cow<'_, str> {
    if !s.chars().any(&unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if unsafe_char(c) {
            esc(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_are_shown_not_obeyed() {
        assert_eq!(escape("alice"), "alice");
        assert!(matches!(escape("a → b"), Cow::Borrowed(_)));
        assert_eq!(escape("\u{1b}[2Jx"), "\\x1b[2Jx");
        assert_eq!(escape("a\nb\t\u{7f}\u{9b}"), "a\\x0ab\\x09\\x7f\\x9b");
        assert_eq!(escape("\u{202e}knab"), "\\u{202e}knab");
        assert_eq!(escape("\u{2066}x\u{2069}"), "\\u{2066}x\\u{2069}");
    }

    #[test]
    fn json_stays_json() {
        let v = serde_json::json!({"s": "\u{202e}\u{85}x\u{1b}", "t": ["\n"]});
        let text = serde_json::to_string_pretty(&v).unwrap();
        let shown = escape_json(&text);
        assert!(!shown.chars().any(|c| is_unsafe(c) && c != '\n'), "{shown}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&shown).unwrap(),
            v
        );
    }
}
