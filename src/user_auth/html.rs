//! What every page of the `[authorize]` listener shares: escaping of
//! everything input-derived (agent cards and clients' parameters are not
//! ours to trust), and the Content-Security-Policy.

/// `s` escaped for HTML text and double-quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page: `body` is markup already escaped by its builder. No
/// style or script: the CSP allows neither, and the pages need none.
pub fn document(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{} · actgate</title></head><body>{body}</body></html>",
        escape(title)
    )
}

/// The pages' policy: nothing loads (no script, no external resource),
/// no framing (clickjacking the Allow button), and forms post only here.
/// `redirect_origin` is the client's origin when a form's answer
/// redirects there: Chrome applies `form-action` to the redirects after a
/// form post too, so `'self'` alone would block the return to the client.
pub fn csp(redirect_origin: Option<&str>) -> String {
    let form_action = match redirect_origin {
        Some(o) => format!("'self' {o}"),
        None => "'self'".to_owned(),
    };
    format!(
        "default-src 'none'; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    )
}

/// `scheme://authority` of an absolute URI, for a CSP source; `None` when
/// it has characters a CSP source could not hold.
pub fn origin(uri: &str) -> Option<String> {
    let u: http::Uri = uri.parse().ok()?;
    let o = format!("{}://{}", u.scheme_str()?, u.authority()?.as_str());
    o.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b".-:/[]".contains(&b))
        .then_some(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_input_is_text() {
        assert_eq!(
            escape(r#"<script>alert("x")</script>&'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"
        );
    }

    #[test]
    fn the_policy_allows_the_client_only_as_a_form_target() {
        let c = csp(origin("https://app.example:8443/cb?x=1").as_deref());
        assert_eq!(
            c,
            "default-src 'none'; form-action 'self' https://app.example:8443; \
             frame-ancestors 'none'; base-uri 'none'"
        );
        assert!(!csp(None).contains("https"));
        assert_eq!(origin("https://a.example; script-src *"), None);
    }
}
