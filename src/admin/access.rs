//! Who may use the admin listener: the access settings the snapshot holds
//! (built from `[admin]` by [`super::build`]), the peer of a connection, and
//! the check every request beyond the probes passes. Nothing here knows the
//! gateway snapshot, so the snapshot can hold these types.
//!
//! Two access models:
//! - **mTLS** (`[admin] mtls = true`): the peer's X509-SVID was verified at
//!   the handshake; only `allowed_identities` may use anything beyond the
//!   health probes, and decisions are recorded under that SPIFFE ID.
//! - **plain HTTP on loopback**: whoever can connect is a local operator
//!   (`local-operator`). Browsers on the same machine can also connect, so
//!   requests must name a loopback `Host` (no DNS rebinding) and state
//!   changes must be same-origin JSON (no cross-site form posts).

use std::net::SocketAddr;
use std::sync::Arc;

use http::header;
use http::{Request, StatusCode};

use super::respond::{error, AdminResponse};
use crate::browser_guard::HostRule;
use crate::identity::{SpiffeId, SpiffePattern};

/// How the admin listener authenticates, from `[admin]`.
#[derive(Debug, Clone, Default)]
pub struct AdminAccess {
    /// TLS config with a mandatory client certificate; `None`: plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Identities allowed beyond the health probes (mTLS only).
    pub allowed: Vec<SpiffePattern>,
}

/// The peer of one admin connection.
#[derive(Debug)]
pub struct AdminPeer {
    /// The verified SPIFFE ID under mTLS.
    pub identity: Option<SpiffeId>,
    pub remote: SocketAddr,
}

/// Who a request acts as, once [`authorize`] let it in.
pub struct Operator(pub String);

/// Paths anyone who reaches the listener may read (probes run without an
/// operator identity).
pub fn is_probe(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz")
}

/// Decide whether the request may use admin endpoints other than the probes.
pub fn authorize<B>(
    access: &AdminAccess,
    peer: &AdminPeer,
    req: &Request<B>,
) -> Result<Operator, AdminResponse> {
    if access.tls.is_some() {
        return match &peer.identity {
            Some(id) if access.allowed.iter().any(|p| p.matches(id)) => {
                Ok(Operator(id.to_string()))
            }
            Some(id) => {
                tracing::warn!(admin = %id, remote = %peer.remote, "admin request from an identity not in admin.allowed_identities");
                Err(error(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "this identity is not an allowed admin identity",
                ))
            }
            None => Err(error(
                StatusCode::FORBIDDEN,
                "forbidden",
                "no client identity",
            )),
        };
    }
    // Plain HTTP is only ever bound to loopback (checked at load), so the
    // peer is on this machine. A web page in a local browser could still
    // aim requests here; a DNS-rebound name shows in Host. That holds for
    // `/metrics` too: it names every agent, and a rebound page could read
    // it. Scrapers that name the host as they like use `health_listen`.
    if let Err(r) = crate::browser_guard::check_host(req.headers(), req.uri(), &HostRule::default())
    {
        tracing::warn!(remote = %peer.remote, host = ?req.headers().get(header::HOST), path = req.uri().path(), "admin request refused: not a loopback Host");
        let message = match r {
            crate::browser_guard::Refusal::ForeignHost => {
                "the admin listener answers only to a loopback Host (localhost, 127.0.0.1, [::1])"
                    .to_string()
            }
            other => other.to_string(),
        };
        return Err(error(r.status(), r.code(), &message));
    }
    Ok(Operator("local-operator".into()))
}
