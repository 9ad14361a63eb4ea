use bytes::Bytes;
use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::mcp::list_filter::ItemKind;

fn policy(kind: ItemKind, name: &str) -> bool {
    kind == ItemKind::Tool && (name == "echo" || name == "list_dir")
}

fn new_filter(max: usize) -> SseListFilter {
    SseListFilter::new(ListMethod::Tools, json!(7), Box::new(policy), max)
}

/// Feed `chunks` one by one, then finish; everything passed on.
fn run(chunks: &[&[u8]]) -> Result<Vec<u8>, ListFilterError> {
    let mut f = new_filter(4096);
    let mut out = Vec::new();
    for c in chunks {
        out.extend_from_slice(&f.push(c)?);
    }
    out.extend_from_slice(&f.finish()?);
    Ok(out)
}

/// An event as a client dispatches it.
#[derive(Debug, Clone, PartialEq)]
struct Event {
    kind: String,
    data: String,
    id: String,
}

/// A plain reading of the WHATWG rules, on the whole stream at once (kept
/// independent of the incremental parser under test).
fn reference(bytes: &[u8]) -> Vec<Event> {
    let text = String::from_utf8_lossy(bytes);
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(&text);
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut lines: Vec<&str> = text.split('\n').collect();
    // What follows the last line ending is an incomplete line: dropped,
    // and with it the event it belongs to.
    lines.pop();
    let (mut events, mut kind, mut data, mut id) =
        (Vec::new(), String::new(), String::new(), String::new());
    for line in lines {
        if line.is_empty() {
            if !data.is_empty() {
                data.pop();
                events.push(Event {
                    kind: if kind.is_empty() {
                        "message".into()
                    } else {
                        kind.clone()
                    },
                    data: std::mem::take(&mut data),
                    id: id.clone(),
                });
            }
            kind.clear();
            data.clear();
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => kind = value.into(),
            "data" => {
                data.push_str(value);
                data.push('\n');
            }
            "id" if !value.contains('\0') => id = value.into(),
            _ => {}
        }
    }
    events
}

const LIST: &str = r#"{"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"echo"},{"name":"delete_file"},{"name":"list_dir"}],"nextCursor":"n2","cacheScope":"public","ttlMs":5}}"#;

fn filtered_list() -> Value {
    json!({"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"echo"},{"name":"list_dir"}],
        "nextCursor":"n2","cacheScope":"private","ttlMs":5}})
}

/// A stream as the Python SDK writes one, and then some: a priming event, a
/// comment, a progress notification, the list answer split over three
/// `data:` lines with `id:`, `retry:` and an unknown field, and a trailing
/// comment; lines end in `eol`.
fn stream(eol: &str) -> String {
    // Split where JSON allows a line break (between tokens).
    let (a, rest) = LIST.split_at(LIST.find(r#"{"tools""#).unwrap());
    let (b, c) = rest.split_at(rest.find(r#"{"name":"list_dir""#).unwrap());
    [
        "id: e0",
        "data:",
        "",
        ": keep-alive",
        "",
        "event: message",
        r#"data: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}"#,
        "",
        "event: message",
        "id: e1",
        &format!("data: {a}"),
        "retry: 500",
        &format!("data:{b}"),
        "x-unknown: yes",
        &format!("data: {c}"),
        "",
        ": bye",
        "",
    ]
    .iter()
    .map(|l| format!("{l}{eol}"))
    .collect()
}

fn expected_events() -> Vec<Event> {
    vec![
        // The priming event: empty data, ignored by MCP clients.
        Event {
            kind: "message".into(),
            data: String::new(),
            id: "e0".into(),
        },
        Event {
            kind: "message".into(),
            data: r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}"#
                .into(),
            id: "e0".into(),
        },
        Event {
            kind: "message".into(),
            data: filtered_list().to_string(),
            id: "e1".into(),
        },
    ]
}

/// Events with their data compared as JSON (empty data as `null`).
fn normalized(events: Vec<Event>) -> Vec<(String, Value, String)> {
    events
        .into_iter()
        .map(|e| {
            let data = match e.data.as_str() {
                "" => Value::Null,
                d => serde_json::from_str(d).unwrap(),
            };
            (e.kind, data, e.id)
        })
        .collect()
}

#[test]
fn the_list_answer_is_filtered_inside_its_event_with_every_line_ending() {
    for eol in ["\n", "\r\n", "\r"] {
        let input = stream(eol);
        let out = run(&[input.as_bytes()]).unwrap();
        assert_eq!(
            normalized(reference(&out)),
            normalized(expected_events()),
            "{eol:?}: {}",
            String::from_utf8_lossy(&out)
        );
        let text = String::from_utf8(out).unwrap();
        // Other events pass byte for byte; the answer's event keeps its
        // other lines, in order.
        let before = input
            .split("event: message")
            .take(2)
            .collect::<Vec<_>>()
            .join("event: message");
        assert!(text.starts_with(&before), "{eol:?}: {text}");
        let answer_event = format!(
            "event: message\nid: e1\ndata: {}\nretry: 500\nx-unknown: yes\n\n",
            filtered_list()
        );
        assert!(text.contains(&answer_event), "{eol:?}: {text}");
        assert!(
            text.ends_with(&format!(": bye{eol}{eol}")),
            "{eol:?}: {text}"
        );
    }
}

#[test]
fn every_split_of_the_stream_gives_the_same_output() {
    for eol in ["\n", "\r\n", "\r"] {
        let input = stream(eol);
        let input = input.as_bytes();
        let whole = run(&[input]).unwrap();
        for i in 0..=input.len() {
            let (a, b) = input.split_at(i);
            assert_eq!(run(&[a, b]).unwrap(), whole, "{eol:?} split at {i}");
        }
        // And byte by byte.
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(run(&bytes).unwrap(), whole, "{eol:?} byte by byte");
    }
}

#[test]
fn a_stream_without_the_answer_passes_byte_for_byte() {
    let input = "id: 1\ndata:\n\n: ping\r\n\r\nevent: message\rdata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{}}\r\r\n\n";
    let bytes: Vec<&[u8]> = input.as_bytes().chunks(3).collect();
    assert_eq!(run(&bytes).unwrap(), input.as_bytes());
}

#[test]
fn a_leading_bom_is_skipped_as_clients_skip_it() {
    let input = format!("\u{FEFF}data: {LIST}\n\n");
    let out = run(&[&input.as_bytes()[..2], &input.as_bytes()[2..]]).unwrap();
    assert_eq!(
        normalized(reference(&out)),
        vec![("message".to_string(), filtered_list(), String::new())]
    );
    // Only the first one: a second BOM is part of the field name.
    let input = format!("\u{FEFF}\u{FEFF}data: {LIST}\n\n");
    assert_eq!(run(&[input.as_bytes()]).unwrap(), input.as_bytes());
}

#[test]
fn the_event_type_does_not_hide_the_answer() {
    let input = format!("event: other\ndata: {LIST}\n\n");
    let out = run(&[input.as_bytes()]).unwrap();
    assert!(!String::from_utf8_lossy(&out).contains("delete_file"));
}

#[test]
fn what_cannot_be_judged_stops_the_stream() {
    use ListFilterError::*;
    let notification = r#"{"jsonrpc":"2.0","method":"notifications/progress"}"#;
    let cases: Vec<(String, ListFilterError)> = vec![
        (
            "data: not json\n\n".into(),
            parse_message(b"not json").unwrap_err(),
        ),
        (format!("data: [{LIST}]\n\n"), NotAnObject),
        (
            format!("data: {}\n\n", LIST.replace("\"id\":7", "\"id\":8")),
            ForeignResponse,
        ),
        (
            format!("data: {LIST}\n\ndata: {LIST}\n\n"),
            DuplicateResponse {
                method: "tools/list",
            },
        ),
        (
            format!(
                "data: {notification}\n\ndata: {{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":[]}}\n\n"
            ),
            ResultNotAnObject {
                method: "tools/list",
            },
        ),
    ];
    for (input, want) in cases {
        assert_eq!(run(&[input.as_bytes()]), Err(want.clone()), "{input}");
        // Nothing after the error is read.
        let mut f = new_filter(4096);
        let _ = f.push(input.as_bytes());
        assert_eq!(f.push(b"data: {}\n\n"), Err(want.clone()));
        assert_eq!(f.finish(), Err(want));
    }
}

#[test]
fn what_came_before_the_error_was_already_passed_on_whole() {
    let mut f = new_filter(4096);
    let ok = "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n";
    assert_eq!(f.push(ok.as_bytes()).unwrap(), ok.as_bytes());
    assert!(f.push(b"data: nope\n\n").is_err());
}

#[test]
fn an_event_over_the_bound_is_refused_even_before_it_ends() {
    let want = ListFilterError::EventTooLarge {
        stream: "tools/list",
        limit: 64,
    };
    let mut f = new_filter(64);
    assert_eq!(f.push(&[b'a'; 40]).unwrap(), Bytes::new());
    assert_eq!(f.push(&[b'a'; 40]), Err(want.clone()));

    // Complete in one chunk, but too large all the same.
    let mut f = new_filter(64);
    let big = format!("data: {}\n\n", " ".repeat(80));
    assert_eq!(f.push(big.as_bytes()), Err(want));

    // Many events, each under the bound, in one chunk: fine.
    let mut f = new_filter(64);
    let small = ": ping\n\n".repeat(50);
    assert_eq!(f.push(small.as_bytes()).unwrap(), small.as_bytes());
}

#[test]
fn a_stream_without_responses_passes_requests_and_refuses_any_response() {
    let mut f = SseListFilter::without_responses(4096);
    let ok = ": ping\n\nid: 3\ndata: {\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"sampling/createMessage\"}\n\n\
              data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\n";
    assert_eq!(f.push(ok.as_bytes()).unwrap(), ok.as_bytes());
    let slipped = format!("data: {LIST}\n\n");
    assert_eq!(
        f.push(slipped.as_bytes()),
        Err(ListFilterError::UnexpectedResponse)
    );
    // There is no request to answer with an error.
    assert_eq!(
        f.error_event(&ListFilterError::UnexpectedResponse),
        Bytes::new()
    );
    let mut f = SseListFilter::without_responses(4096);
    let error = "data: {\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":1,\"message\":\"x\"}}\n\n";
    assert_eq!(
        f.push(error.as_bytes()),
        Err(ListFilterError::UnexpectedResponse)
    );
    let mut f = SseListFilter::without_responses(8);
    assert_eq!(
        f.push(b": a long comment"),
        Err(ListFilterError::EventTooLarge {
            stream: "server",
            limit: 8
        })
    );
}

#[test]
fn an_unfinished_event_is_dropped_at_the_end() {
    let input = format!(": hi\n\ndata: {LIST}\n");
    assert_eq!(run(&[input.as_bytes()]).unwrap(), b": hi\n\n");
}

#[test]
fn the_error_event_answers_the_request_until_the_answer_was_sent() {
    let mut f = new_filter(4096);
    let err = ListFilterError::NotAnObject;
    let event = f.error_event(&err);
    let events = reference(&event);
    assert_eq!(events.len(), 1);
    let body: Value = serde_json::from_str(&events[0].data).unwrap();
    assert_eq!(body["id"], 7);
    assert_eq!(body["error"]["code"], -32603);
    assert!(!f.answered());
    f.push(format!("data: {LIST}\n\n").as_bytes()).unwrap();
    assert!(f.answered());
    assert_eq!(f.error_event(&err), Bytes::new());
}

#[tokio::test]
async fn the_body_filters_and_ends_with_the_error_event() {
    use http_body_util::{BodyExt, StreamBody};
    let chunks = |parts: Vec<String>| {
        StreamBody::new(futures_util::stream::iter(parts.into_iter().map(|p| {
            Ok::<_, std::convert::Infallible>(http_body::Frame::data(Bytes::from(p)))
        })))
    };
    let input = stream("\r\n");
    let (a, b) = input.split_at(101);
    let body = FilteredSseBody::new(chunks(vec![a.into(), b.into()]), new_filter(4096));
    let out = body.collect().await.unwrap().to_bytes();
    assert_eq!(normalized(reference(&out)), normalized(expected_events()));

    let body = FilteredSseBody::new(
        chunks(vec![
            ": ok\n\n".into(),
            "data: [1]\n\n".into(),
            ": never read\n\n".into(),
        ]),
        new_filter(4096),
    );
    let out = body.collect().await.unwrap().to_bytes();
    let text = String::from_utf8(out.to_vec()).unwrap();
    assert!(text.starts_with(": ok\n\nevent: message\ndata: "), "{text}");
    assert!(!text.contains("never read"), "{text}");
    let events = reference(text.as_bytes());
    let err: Value = serde_json::from_str(&events[0].data).unwrap();
    assert_eq!(
        (err["id"].clone(), err["error"]["code"].clone()),
        (json!(7), json!(-32603))
    );
}

/// A line ending for each line of a generated stream.
fn eol() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["\n", "\r\n", "\r"])
}

/// Cut `bytes` at the given fractions.
fn cut<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    at.sort_unstable();
    let mut out = Vec::new();
    let mut prev = 0;
    for a in at {
        out.push(&bytes[prev..a]);
        prev = a;
    }
    out.push(&bytes[prev..]);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary bytes in arbitrary chunks never panic.
    #[test]
    fn arbitrary_chunks_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut f = new_filter(128);
        for c in cut(&bytes, &cuts) {
            if f.push(c).is_err() { break; }
        }
        let _ = f.finish();
    }

    /// Mixed line endings and random chunking: the output is the same as
    /// from one chunk, and a client reads the filtered answer and nothing
    /// refused.
    #[test]
    fn random_chunks_and_line_endings_read_as_the_filtered_stream(
        eols in proptest::collection::vec(eol(), 18),
        cuts in proptest::collection::vec(any::<usize>(), 0..10),
    ) {
        let lines: Vec<String> = stream("\n").split('\n').map(str::to_string).collect();
        let mut eols = eols;
        for i in 1..eols.len() {
            // A CR then a blank line ended by LF would read as one CRLF,
            // losing the blank line: end that blank line in CRLF instead.
            if eols[i - 1] == "\r" && lines[i].is_empty() && eols[i] == "\n" {
                eols[i] = "\r\n";
            }
        }
        let input: String = lines.iter().take(eols.len()).zip(&eols).map(|(l, e)| format!("{l}{e}")).collect();
        let whole = run(&[input.as_bytes()]).unwrap();
        let chunked = run(&cut(input.as_bytes(), &cuts)).unwrap();
        prop_assert_eq!(&chunked, &whole);
        prop_assert_eq!(normalized(reference(&chunked)), normalized(expected_events()));
    }
}
