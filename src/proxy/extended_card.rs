//! `GetExtendedAgentCard` answers. The upstream's extended card names the
//! upstream's own URLs and security schemes: handed to a caller as written
//! it would point the caller around the gateway and describe credentials the
//! caller never holds. So the answer is taken apart and the card inside goes
//! through the same checks and rewrite as the public card (parse, the
//! agent's card keys when configured, satisfiable requirements), and is
//! signed by the gateway. Anything that fails those checks is not served.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::Value;

use super::headers::strip_hop_by_hop;
use super::respond::{error, BoxError, ResponseBody};
use crate::a2a::Binding;
use crate::registry::card_slot::{CardContext, MAX_FETCHED_CARD_BYTES};

/// Whether the request asked in the v0.3 form (`agent/getAuthenticatedExtendedCard`
/// or REST `GET /v1/card`), so the answer comes back in that form too.
pub fn wants_v03(rest: &str, body: &[u8]) -> bool {
    if rest.ends_with("/v1/card") {
        return true;
    }
    #[derive(serde::Deserialize)]
    struct Method<'a> {
        #[serde(borrow)]
        method: &'a str,
    }
    serde_json::from_slice::<Method>(body)
        .is_ok_and(|m| m.method == "agent/getAuthenticatedExtendedCard")
}

/// Turn the upstream's answer into the caller's: errors pass through as
/// they are; a card is rewritten and re-signed, or refused with 502.
pub async fn rewrite(
    resp: Response<Incoming>,
    ctx: &CardContext,
    binding: Binding,
    v03: bool,
) -> Response<ResponseBody> {
    let (parts, body) = resp.into_parts();
    let bytes = match Limited::new(body, MAX_FETCHED_CARD_BYTES).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) => {
            tracing::warn!(agent = %ctx.agent, error = %e, "extended card: unreadable upstream answer");
            return refused();
        }
    };
    // Upstream errors (JSON-RPC errors, REST 4xx/5xx) carry no card: as is.
    if parts.status != StatusCode::OK {
        return passthrough(parts, bytes);
    }
    let (card, id) = match binding {
        Binding::JsonRpc => {
            let Ok(Value::Object(mut env)) = serde_json::from_slice::<Value>(&bytes) else {
                tracing::warn!(agent = %ctx.agent, "extended card: the answer is not a JSON-RPC object");
                return refused();
            };
            match env.remove("result") {
                Some(card) => (card, env.remove("id").unwrap_or(Value::Null)),
                None => return passthrough(parts, bytes),
            }
        }
        _ => match serde_json::from_slice::<Value>(&bytes) {
            Ok(card) => (card, Value::Null),
            Err(_) => {
                tracing::warn!(agent = %ctx.agent, "extended card: the answer is not JSON");
                return refused();
            }
        },
    };
    let card_bytes = card.to_string();
    let live = match ctx.build(
        card_bytes.as_bytes(),
        "extended card from the upstream",
        false,
    ) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(agent = %ctx.agent, problem = %e, "extended card refused");
            return refused();
        }
    };
    let served = if v03 {
        &live.served.json_v03
    } else {
        &live.served.json
    };
    let body = match binding {
        Binding::JsonRpc => {
            let result: Value = serde_json::from_slice(served).unwrap_or(Value::Null);
            Bytes::from(
                serde_json::json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string(),
            )
        }
        _ => served.clone(),
    };
    let mut out = Response::new(Full::new(body).map_err(|e| match e {}).boxed());
    let h = out.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // The extended card is per caller (authenticated): never cached.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    out
}

fn passthrough(mut parts: http::response::Parts, bytes: Bytes) -> Response<ResponseBody> {
    strip_hop_by_hop(&mut parts.headers);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::TRANSFER_ENCODING);
    Response::from_parts(
        parts,
        Full::new(bytes)
            .map_err(|e| -> BoxError { match e {} })
            .boxed(),
    )
}

fn refused() -> Response<ResponseBody> {
    error(
        StatusCode::BAD_GATEWAY,
        "bad_extended_card",
        "the agent's extended card could not be verified or rewritten",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v03_requests_are_recognised() {
        assert!(wants_v03("/v1/card", b""));
        assert!(wants_v03(
            "/",
            br#"{"jsonrpc":"2.0","id":1,"method":"agent/getAuthenticatedExtendedCard"}"#
        ));
        assert!(!wants_v03(
            "/",
            br#"{"jsonrpc":"2.0","id":1,"method":"GetExtendedAgentCard"}"#
        ));
        assert!(!wants_v03("/extendedAgentCard", b""));
    }
}
