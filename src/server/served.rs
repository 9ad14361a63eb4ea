//! One hyper connection, whichever HTTP it speaks, behind one trait the
//! driver in [`super::conn`] runs and shuts down: HTTP/1.1 or HTTP/2 when the
//! TLS handshake already settled it (ALPN), otherwise hyper-util's `auto`,
//! which reads the first bytes to tell.
//!
//! Why not `auto` always: it reads the first 24 bytes on their own and hands
//! them back to hyper's HTTP/1.1 reader, whose next read then needs 8 KiB
//! *more* room and doubles its buffer to 16 KiB — kept for the connection's
//! life, 8 KiB more per idle keep-alive connection. A protocol fixed by ALPN
//! needs no sniffing (RFC 7301: the client speaks what was selected).

use std::error::Error as StdError;
use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::Body;
use hyper::body::Incoming;
use hyper::rt::bounds::Http2ServerConnExec;
use hyper::rt::{Read, Write};
use hyper::server::conn::{http1, http2};
use hyper::service::HttpService;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;

use super::conn::{ConnLimits, MIN_HEADER_BYTES};

type BoxError = Box<dyn StdError + Send + Sync>;

/// Which HTTP a connection speaks, when known before its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Not known (no ALPN, or no TLS): read the first bytes to tell.
    Sniff,
    Http1,
    Http2,
}

impl Protocol {
    /// The protocol an ALPN selection fixes (none: sniff, as before ALPN).
    pub fn from_alpn(alpn: Option<&[u8]>) -> Protocol {
        match alpn {
            Some(b"h2") => Protocol::Http2,
            Some(b"http/1.1") => Protocol::Http1,
            _ => Protocol::Sniff,
        }
    }
}

/// A hyper connection being served: poll it to its end, or ask it to finish
/// gracefully (HTTP/1.1: after the response in progress; HTTP/2: `GOAWAY`).
pub(super) trait Served: Send {
    fn poll_served(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>>;
    fn graceful_shutdown(self: Pin<&mut Self>);
}

impl<I, S, B> Served for http1::Connection<I, S>
where
    S: HttpService<Incoming, ResBody = B>,
    S::Error: Into<BoxError>,
    I: Read + Write + Unpin,
    B: Body + 'static,
    B::Error: Into<BoxError>,
    Self: Send,
{
    fn poll_served(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        std::future::Future::poll(self, cx).map_err(Into::into)
    }
    fn graceful_shutdown(self: Pin<&mut Self>) {
        http1::Connection::graceful_shutdown(self)
    }
}

impl<I, S, B, E> Served for http2::Connection<I, S, E>
where
    S: HttpService<Incoming, ResBody = B>,
    S::Error: Into<BoxError>,
    I: Read + Write + Unpin,
    B: Body + 'static,
    B::Error: Into<BoxError>,
    E: Http2ServerConnExec<S::Future, B>,
    Self: Send,
{
    fn poll_served(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        std::future::Future::poll(self, cx).map_err(Into::into)
    }
    fn graceful_shutdown(self: Pin<&mut Self>) {
        http2::Connection::graceful_shutdown(self)
    }
}

impl<I, S, B, E> Served for auto::Connection<'static, I, S, E>
where
    S: hyper::service::Service<http::Request<Incoming>, Response = http::Response<B>>,
    S::Future: 'static,
    S::Error: Into<BoxError>,
    I: Read + Write + Unpin + 'static,
    B: Body + 'static,
    B::Error: Into<BoxError>,
    E: auto::HttpServerConnExec<S::Future, B>,
    Self: Send,
{
    fn poll_served(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        std::future::Future::poll(self, cx)
    }
    fn graceful_shutdown(self: Pin<&mut Self>) {
        auto::Connection::graceful_shutdown(self)
    }
}

// The limits are set in one place for both the direct builders and the
// sniffing one (whose per-protocol builders are other types with the same
// methods), so a limit cannot be tightened on one path and not the other.

/// HTTP/1.1 under `limits`: header size and read timeout.
macro_rules! http1_limits {
    ($b:expr, $limits:expr) => {
        $b.timer(TokioTimer::new())
            .header_read_timeout($limits.header_timeout.min($limits.idle_timeout))
            .max_buf_size($limits.max_header_bytes.max(MIN_HEADER_BYTES))
    };
}

/// HTTP/2 under `limits`: header-list size, concurrent streams.
macro_rules! http2_limits {
    ($b:expr, $limits:expr) => {
        $b.timer(TokioTimer::new())
            .max_header_list_size($limits.max_header_bytes.min(u32::MAX as usize) as u32)
            .max_concurrent_streams($limits.max_concurrent_streams)
    };
}

fn http1(limits: &ConnLimits) -> http1::Builder {
    let mut b = http1::Builder::new();
    http1_limits!(b, limits);
    b
}

fn http2(limits: &ConnLimits) -> http2::Builder<TokioExecutor> {
    let mut b = http2::Builder::new(TokioExecutor::new());
    http2_limits!(b, limits);
    b
}

/// Both, under `limits`, for a connection whose protocol is not known yet.
fn sniffing(limits: &ConnLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    http1_limits!(builder.http1(), limits);
    http2_limits!(builder.http2(), limits);
    builder
}

/// Serve `io` with `svc` as `protocol` under `limits`, on the heap: the
/// driver's future holds a pointer, not room for the connection.
pub(super) fn serve<I, S, B>(
    protocol: Protocol,
    io: I,
    svc: S,
    limits: &ConnLimits,
) -> Pin<Box<dyn Served>>
where
    I: Read + Write + Unpin + Send + 'static,
    S: hyper::service::Service<
            http::Request<Incoming>,
            Response = http::Response<B>,
            Error = std::convert::Infallible,
        > + Send
        + 'static,
    S::Future: Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    match protocol {
        Protocol::Http1 => Box::pin(http1(limits).serve_connection(io, svc)),
        Protocol::Http2 => Box::pin(http2(limits).serve_connection(io, svc)),
        Protocol::Sniff => Box::pin(sniffing(limits).serve_connection(io, svc).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use crate::server::served::Protocol;

    #[test]
    fn alpn_fixes_the_protocol_and_anything_else_is_sniffed() {
        assert_eq!(Protocol::from_alpn(Some(b"h2")), Protocol::Http2);
        assert_eq!(Protocol::from_alpn(Some(b"http/1.1")), Protocol::Http1);
        assert_eq!(Protocol::from_alpn(None), Protocol::Sniff);
        // The listener offers only these two; anything else is not trusted
        // to fix the protocol.
        assert_eq!(Protocol::from_alpn(Some(b"http/1.0")), Protocol::Sniff);
    }
}
