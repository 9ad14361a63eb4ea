//! A programmable upstream for tests: records what it receives and answers
//! as told. Real hyper server on 127.0.0.1:0.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Notify};

pub type Body = BoxBody<Bytes, Infallible>;

/// One request as the upstream saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: http::Method,
    pub uri: http::Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// How the upstream answers.
#[derive(Clone)]
pub enum Behaviour {
    /// 200 with a JSON echo of method, path and the Authorization header.
    Echo,
    /// Never answer (to test the upstream timeout).
    Hang,
    /// Answer every request with this extended Agent Card: as the body for
    /// REST, as the `result` (echoing the request `id`) for JSON-RPC POSTs.
    /// `http://UPSTREAM` in the card becomes this upstream's own address.
    ExtendedCard(serde_json::Value),
    /// Echo, after a pause (a request still in flight a while).
    Delayed(Duration),
    /// SSE: send `first`, wait until `release` is notified, then send `last`.
    GatedStream {
        first: String,
        last: String,
        release: Arc<Notify>,
    },
}

pub struct TestUpstream {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    /// What `GET /.well-known/agent-card.json` answers: status and body
    /// (404 until set). Card fetches are not recorded in `seen`.
    pub card: Arc<Mutex<(u16, Bytes)>>,
}

impl TestUpstream {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
    /// Publish `body` as the agent's card with `status`.
    pub fn set_card(&self, status: u16, body: impl Into<Bytes>) {
        *self.card.lock().unwrap() = (status, body.into());
    }
}

pub async fn start(behaviour: Behaviour) -> TestUpstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let seen2 = seen.clone();
    let card: Arc<Mutex<(u16, Bytes)>> = Arc::new(Mutex::new((404, Bytes::new())));
    let card2 = card.clone();
    serve(listener, move |req: Request<Incoming>| {
        let seen = seen2.clone();
        let behaviour = behaviour.clone();
        let card = card2.clone();
        async move {
            if req.uri().path() == "/.well-known/agent-card.json" {
                let (status, body) = card.lock().unwrap().clone();
                let mut r = Response::new(Full::new(body).boxed());
                *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
                return r;
            }
            answer(req, seen, behaviour).await
        }
    });
    TestUpstream { addr, seen, card }
}

/// Serve `handler` on every connection `listener` accepts (HTTP/1.1 or 2),
/// until the test ends.
pub fn serve<H, F>(listener: TcpListener, handler: H)
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: std::future::Future<Output = Response<Body>> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let fut = handler(req);
                    async move { Ok::<_, Infallible>(fut.await) }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
}

/// Read `req` whole and add it to `seen`; its head.
pub async fn record(req: Request<Incoming>, seen: &Mutex<Vec<Seen>>) -> http::request::Parts {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    seen.lock().unwrap().push(Seen {
        method: parts.method.clone(),
        uri: parts.uri.clone(),
        headers: parts.headers.clone(),
        body,
    });
    parts
}

async fn answer(
    req: Request<Incoming>,
    seen: Arc<Mutex<Vec<Seen>>>,
    b: Behaviour,
) -> Response<Body> {
    let parts = record(req, &seen).await;
    let auth = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let b = match b {
        Behaviour::Delayed(d) => {
            tokio::time::sleep(d).await;
            Behaviour::Echo
        }
        other => other,
    };
    match b {
        Behaviour::Delayed(_) => unreachable!(),
        Behaviour::Echo => {
            let v = serde_json::json!({"method": parts.method.as_str(), "path": parts.uri.path(),
                "query": parts.uri.query(), "authorization": auth});
            let mut r = Response::new(Full::new(Bytes::from(v.to_string())).boxed());
            r.headers_mut()
                .insert("content-type", "application/json".parse().unwrap());
            r
        }
        Behaviour::ExtendedCard(card) => {
            let req_body = seen.lock().unwrap().last().map(|s| s.body.clone());
            let body =
                match req_body.and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok()) {
                    Some(req) if parts.method == http::Method::POST => {
                        serde_json::json!({"jsonrpc": "2.0", "id": req["id"], "result": card})
                    }
                    _ => card,
                };
            let host = parts
                .headers
                .get("host")
                .and_then(|h| h.to_str().ok())
                .unwrap_or_default();
            let text = body
                .to_string()
                .replace("http://UPSTREAM", &format!("http://{host}"));
            Response::new(Full::new(Bytes::from(text)).boxed())
        }
        Behaviour::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Response::new(Full::new(Bytes::new()).boxed())
        }
        Behaviour::GatedStream {
            first,
            last,
            release,
        } => {
            let (tx, rx) = mpsc::channel::<Bytes>(2);
            tokio::spawn(async move {
                let _ = tx.send(Bytes::from(format!("data: {first}\n\n"))).await;
                release.notified().await;
                let _ = tx.send(Bytes::from(format!("data: {last}\n\n"))).await;
            });
            let frames = futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv()
                    .await
                    .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
            });
            let mut r = Response::new(BodyExt::boxed(StreamBody::new(frames)));
            r.headers_mut()
                .insert("content-type", "text/event-stream".parse().unwrap());
            r
        }
    }
}
