//! What every request on the mTLS listener starts with: its connection's
//! context and its audit record.

use http::Request;
use hyper::body::Incoming;

use crate::audit::{AuditRecord, RecordKind};
use crate::identity::CallerIdentity;
use crate::trace::RequestMeta;

/// Per-connection context, computed once after the handshake.
#[derive(Debug)]
pub struct ConnContext {
    pub identity: CallerIdentity,
    pub remote: std::net::SocketAddr,
    /// The listener's drain signal: a request dropped while it is on was
    /// (most likely) cut at the drain deadline, and its record says so.
    pub draining: Option<tokio::sync::watch::Receiver<bool>>,
}

/// The audit record of one request on the mTLS listener, with what is known
/// before anything is decided: one id for the log line, the upstream's
/// X-Request-Id and the record; the caller; the method and the path only
/// (a query string may carry secrets).
pub(crate) fn request_record(
    conn: &ConnContext,
    req: &Request<Incoming>,
    meta: &RequestMeta,
) -> AuditRecord {
    // `blank`, not `new`: the request's own id replaces a generated one.
    let mut rec = AuditRecord::blank(RecordKind::Proxy);
    rec.request_id = meta.id.as_str().to_owned();
    rec.caller = Some(conn.identity.spiffe_id.as_str().to_owned());
    rec.thumbprint = Some(conn.identity.thumbprint.clone());
    rec.method = Some(req.method().as_str().to_owned());
    rec.path = Some(req.uri().path().to_owned());
    rec
}
