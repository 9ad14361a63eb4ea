//! Which list answers can be filtered at all, by their headers.
//!
//! The filters read UTF-8 bytes. A client reads the text its HTTP library
//! decodes: by the `charset` of `Content-Type` (httpx2 decodes an SSE body
//! as UTF-16 if told so) and after undoing any `Content-Encoding`. An answer
//! the filter would read as something else than the client, a UTF-16 event
//! stream (every `data:` line a different field name to a UTF-8 reader) or
//! a gzipped one (no event at all), would pass unfiltered; so only the two
//! plain forms in UTF-8 are filterable, and everything else is refused.

use http::header::{CONTENT_ENCODING, CONTENT_TYPE, TRANSFER_ENCODING};
use http::HeaderMap;

use super::ListFilterError;

/// The two forms a Streamable HTTP answer to a request takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerForm {
    /// `application/json`: one JSON-RPC response
    /// ([`super::filter_json_response`]).
    Json,
    /// `text/event-stream`: SSE events ([`super::sse::SseListFilter`]).
    EventStream,
}

impl AnswerForm {
    /// The form of an upstream's answer to a list request, or why it cannot
    /// be filtered: exactly one `Content-Type`, no content coding.
    pub fn of_response(headers: &HeaderMap) -> Result<AnswerForm, ListFilterError> {
        let mut types = headers.get_all(CONTENT_TYPE).iter();
        let form = match (types.next(), types.next()) {
            (Some(ct), None) => ct.to_str().ok().and_then(AnswerForm::of),
            _ => None,
        };
        let form = form.ok_or(ListFilterError::UnfilterableMedia)?;
        let coded = |name, allowed: &str| {
            headers.get_all(name).iter().any(|v| {
                v.to_str().map_or(true, |v| {
                    v.split(',')
                        .any(|c| !c.trim().eq_ignore_ascii_case(allowed))
                })
            })
        };
        if coded(CONTENT_ENCODING, "identity") || coded(TRANSFER_ENCODING, "chunked") {
            return Err(ListFilterError::Encoded);
        }
        Ok(form)
    }

    /// The form a `Content-Type` value names: the media type compared without
    /// case, and no parameter but `charset=utf-8` (quoted or not, any case).
    /// Any other parameter could change how a client reads the body.
    pub fn of(content_type: &str) -> Option<AnswerForm> {
        let mut parts = content_type.split(';');
        let media = parts.next().unwrap_or("").trim();
        let form = if media.eq_ignore_ascii_case("application/json") {
            AnswerForm::Json
        } else if media.eq_ignore_ascii_case("text/event-stream") {
            AnswerForm::EventStream
        } else {
            return None;
        };
        for param in parts {
            let (name, value) = param.split_once('=')?;
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            if !name.trim().eq_ignore_ascii_case("charset") || !value.eq_ignore_ascii_case("utf-8")
            {
                return None;
            }
        }
        Some(form)
    }
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue};

    use crate::mcp::list_filter::form::AnswerForm;
    use crate::mcp::list_filter::sse::SseListFilter;
    use crate::mcp::list_filter::{ItemKind, ListFilterError, ListMethod};

    #[test]
    fn only_plain_utf8_json_and_event_streams_are_filterable() {
        for (ct, want) in [
            ("application/json", Some(AnswerForm::Json)),
            ("Application/JSON; charset=UTF-8", Some(AnswerForm::Json)),
            ("text/event-stream", Some(AnswerForm::EventStream)),
            (
                " text/event-stream ;charset=\"utf-8\"",
                Some(AnswerForm::EventStream),
            ),
            ("text/event-stream; charset=utf-16le", None),
            ("application/json; charset=utf-16", None),
            ("text/event-stream; charset*=utf-8''x", None),
            ("text/event-stream; foo=bar", None),
            ("text/event-stream; charset", None),
            ("application/json-seq", None),
            ("application/problem+json", None),
            ("text/plain", None),
            ("", None),
        ] {
            assert_eq!(AnswerForm::of(ct), want, "{ct:?}");
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    /// Why the charset matters: a UTF-16 event stream holds no `data:` line
    /// a UTF-8 reader would see, and U+0A0A in a comment is a blank line to
    /// it, so the SSE filter passes the list untouched, while httpx2 (told
    /// the charset) reads the unfiltered list.
    #[test]
    fn a_utf16_event_stream_is_refused_before_the_filter_could_miss_it() {
        let list = r#"data: {"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"delete_file"}]}}"#;
        let utf16 = |s: &str| -> Vec<u8> { s.encode_utf16().flat_map(u16::to_le_bytes).collect() };
        let body = utf16(&format!("{list}\n\n:\u{0A0A}\n\n"));
        let mut f = SseListFilter::new(
            ListMethod::Tools,
            serde_json::json!(7),
            Box::new(|_: ItemKind, _: &str| false),
            1 << 16,
        );
        let passed = f.push(&body).unwrap();
        let hidden = utf16("delete_file");
        assert!(
            passed.windows(hidden.len()).any(|w| w == &hidden[..]),
            "the filter cannot read UTF-16: {passed:?}"
        );

        let h = headers(&[("content-type", "text/event-stream; charset=utf-16le")]);
        assert_eq!(
            AnswerForm::of_response(&h),
            Err(ListFilterError::UnfilterableMedia)
        );
    }

    #[test]
    fn content_codings_and_odd_content_types_are_refused() {
        use ListFilterError::*;
        let sse = ("content-type", "text/event-stream");
        for (h, want) in [
            (vec![sse], Ok(AnswerForm::EventStream)),
            (
                vec![("content-type", "application/json")],
                Ok(AnswerForm::Json),
            ),
            (
                vec![sse, ("content-encoding", "identity")],
                Ok(AnswerForm::EventStream),
            ),
            (
                vec![sse, ("transfer-encoding", "chunked")],
                Ok(AnswerForm::EventStream),
            ),
            (vec![sse, ("content-encoding", "gzip")], Err(Encoded)),
            (
                vec![sse, ("content-encoding", "identity, br")],
                Err(Encoded),
            ),
            (
                vec![
                    sse,
                    ("content-encoding", "identity"),
                    ("content-encoding", "zstd"),
                ],
                Err(Encoded),
            ),
            (
                vec![sse, ("transfer-encoding", "gzip, chunked")],
                Err(Encoded),
            ),
            (vec![], Err(UnfilterableMedia)),
            (
                vec![sse, ("content-type", "application/json")],
                Err(UnfilterableMedia),
            ),
        ] {
            assert_eq!(AnswerForm::of_response(&headers(&h)), want, "{h:?}");
        }
        let mut h = headers(&[sse]);
        h.insert(
            "content-encoding",
            HeaderValue::from_bytes(b"gz\xffip").unwrap(),
        );
        assert_eq!(AnswerForm::of_response(&h), Err(Encoded));
    }
}
