//! The request every sender repeats, and what reading one response yields.

use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CONNECTION, CONTENT_TYPE, HOST};
use http::{HeaderMap, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use serde_json::json;
use tokio::time::Instant;

use super::args::{Args, RpcMethod};
use super::conn::{Body, ErrorKind, Failure, Sender, Target};

/// Per-request limit: past it the request counts as `timeout`.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A JSON-RPC `method` request of about `size` bytes (never smaller than the
/// unpadded envelope, ~150 bytes).
pub fn jsonrpc_body(method: RpcMethod, size: usize) -> Bytes {
    let make = |text: &str| {
        json!({"jsonrpc": "2.0", "id": 1, "method": method.as_str(), "params": {"message": {
            "messageId": "actgate-load", "role": "ROLE_USER", "parts": [{"text": text}]}}})
        .to_string()
    };
    let base = make("").len();
    Bytes::from(make(&"x".repeat(size.saturating_sub(base))))
}

/// Method, URI, headers and body of the repeated request.
#[derive(Debug, Clone)]
pub struct Template {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

impl Template {
    pub fn new(args: &Args, target: &Target) -> anyhow::Result<Template> {
        let uri: Uri = if args.http2 {
            target.absolute().parse()?
        } else {
            target.path_and_query.parse()?
        };
        let mut headers = HeaderMap::new();
        if !args.http2 {
            headers.insert(HOST, HeaderValue::from_str(&target.authority)?);
        }
        if args.new_connection {
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        headers.insert(
            ACCEPT,
            HeaderValue::from_static(if args.sse {
                "text/event-stream"
            } else {
                "application/json"
            }),
        );
        let (method, body) = if args.get {
            (Method::GET, Bytes::new())
        } else {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            headers.insert("a2a-version", HeaderValue::from_static("1.0"));
            (Method::POST, jsonrpc_body(args.method, args.body_size))
        };
        for (name, value) in args.parsed_headers()? {
            headers.insert(name, value);
        }
        Ok(Template {
            method,
            uri,
            headers,
            body,
        })
    }

    pub fn body_len(&self) -> usize {
        self.body.len()
    }

    pub fn build(&self) -> Request<Body> {
        let mut req = Request::new(Full::new(self.body.clone()));
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.uri.clone();
        *req.headers_mut() = self.headers.clone();
        req
    }
}

/// What a completed 2xx response yielded.
#[derive(Debug, Default, Clone, Copy)]
pub struct Done {
    /// SSE events (only counted with `--sse`).
    pub events: u64,
    /// Time from the request's (intended) start to the end of the first event.
    pub first_event: Option<Duration>,
}

/// Send one request on `sender` and read the response to its end.
/// `started` is when the request was (meant to be) sent.
pub async fn exchange(
    sender: &mut Sender,
    req: Request<Body>,
    sse: bool,
    started: Instant,
) -> Result<Done, Failure> {
    let resp = sender
        .send(req)
        .await
        .map_err(|e| (ErrorKind::Io, format!("sending the request: {e}")))?;
    let status = resp.status();
    let mut body = resp.into_body();
    let mut counter = EventCounter::default();
    let mut done = Done::default();
    let mut body_error = None;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                if let (true, Some(data)) = (sse, f.data_ref()) {
                    let n = counter.feed(data);
                    if n > 0 && done.first_event.is_none() {
                        done.first_event = Some(started.elapsed());
                    }
                    done.events += n;
                }
            }
            Err(e) => {
                body_error = Some(e);
                break;
            }
        }
    }
    if !status.is_success() {
        return Err((
            ErrorKind::HttpStatus(status.as_u16()),
            format!("the server answered {status}"),
        ));
    }
    if let Some(e) = body_error {
        return Err((ErrorKind::Body, format!("reading the response body: {e}")));
    }
    Ok(done)
}

/// Counts `text/event-stream` events across arbitrary chunk boundaries: an
/// event ends at a blank line after at least one non-comment line.
#[derive(Debug, Default)]
pub struct EventCounter {
    in_event: bool,
    line_len: usize,
    line_is_comment: bool,
}

impl EventCounter {
    /// Feed bytes; returns how many events they completed.
    pub fn feed(&mut self, bytes: &[u8]) -> u64 {
        let mut n = 0;
        for &b in bytes {
            match b {
                b'\r' => {}
                b'\n' => {
                    if self.line_len == 0 {
                        if self.in_event {
                            n += 1;
                            self.in_event = false;
                        }
                    } else if !self.line_is_comment {
                        self.in_event = true;
                    }
                    self.line_len = 0;
                    self.line_is_comment = false;
                }
                _ => {
                    if self.line_len == 0 && b == b':' {
                        self.line_is_comment = true;
                    }
                    self.line_len += 1;
                }
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks() {
        let mut c = EventCounter::default();
        assert_eq!(c.feed(b"data: a\n"), 0);
        assert_eq!(c.feed(b"\ndata: b\r\n\r"), 1);
        assert_eq!(c.feed(b"\n: comment\n\nevent: x\ndata: y\n\n"), 2);
        assert_eq!(c.feed(b"data: incomplete"), 0);
    }

    #[test]
    fn body_is_padded() {
        for size in [0, 200, 4096] {
            let b = jsonrpc_body(RpcMethod::SendMessage, size);
            assert!(b.len() >= size);
            assert!(size < 200 || b.len() == size, "{} vs {size}", b.len());
            let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
            assert_eq!(v["method"], "SendMessage");
        }
    }
}
