//! Every refusal variant → status, wire code, audit decision, counters.
//! [`variant`] is an exhaustive match: a new variant does not compile until
//! it has an index, and the table fails until it has a row.

use std::borrow::Cow;
use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full};

use super::*;
use crate::approvals::Refusal as ApprovalRefusal;
use crate::identity::SpiffeId;
use crate::policy::DenyReason;
use crate::proxy::approval::GateRefusal;
use crate::proxy::json_response;

/// Index of each variant; `COUNT` of them.
fn variant(r: &Refusal) -> usize {
    match r {
        Refusal::NotAgentRoute => 0,
        Refusal::UnknownAgent => 1,
        Refusal::Unreachable { .. } => 2,
        Refusal::MetadataUnreachable => 3,
        Refusal::CardMethod => 4,
        Refusal::NoCard => 5,
        Refusal::Unclassified(_) => 6,
        Refusal::Bearer(_) => 7,
        Refusal::SubjectToken(_) => 8,
        Refusal::Body(_) => 9,
        Refusal::Denied(_) => 10,
        Refusal::AuditUnavailable => 11,
        Refusal::StepUp(_) => 12,
        Refusal::Mint(_) => 13,
        Refusal::NoUpstreamClient => 14,
        Refusal::Unforwardable => 15,
        Refusal::Approval(_) => 16,
        Refusal::UpstreamTimeout => 17,
        Refusal::UpstreamUnreachable(_) => 18,
        Refusal::Mcp(_) => 19,
        Refusal::McpSession(_) => 20,
        Refusal::McpMethod => 21,
        Refusal::McpOrigin => 22,
    }
}
const COUNT: usize = 23;

/// A real client error: a connection to a closed local port.
async fn unreachable_error() -> hyper_util::client::legacy::Error {
    let client = crate::upstream::UpstreamClient::plain(Duration::from_secs(2));
    let req = http::Request::builder()
        .uri("http://127.0.0.1:1/")
        .body(Full::new(Bytes::new()))
        .unwrap();
    client.send(req).await.expect_err("port 1 is closed")
}

fn held(why: GateRefusal, status: StatusCode) -> Box<Held> {
    let body = serde_json::json!({"error": why.code()}).to_string();
    Box::new(Held {
        why,
        approval_id: Some("ap-00".into()),
        response: json_response(status, Bytes::from(body)),
    })
}

type Row = (Refusal, StatusCode, &'static str, AuditDecision);

/// Refusals before the decision.
fn table_before_decision() -> Vec<Row> {
    use AuditDecision::*;
    let forbidden = StatusCode::FORBIDDEN;
    vec![
        (Refusal::NotAgentRoute, forbidden, "forbidden", Deny),
        (Refusal::UnknownAgent, forbidden, "forbidden", Deny),
        (
            Refusal::Unreachable { rule: Some(2) },
            forbidden,
            "forbidden",
            Deny,
        ),
        (Refusal::MetadataUnreachable, forbidden, "forbidden", Deny),
        (
            Refusal::CardMethod,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            Invalid,
        ),
        (
            Refusal::NoCard,
            StatusCode::SERVICE_UNAVAILABLE,
            "agent_unavailable",
            Error,
        ),
        (
            Refusal::Unclassified(a2a::Refused::NoRoute),
            StatusCode::NOT_FOUND,
            "not_found",
            Invalid,
        ),
        (
            Refusal::Unclassified(a2a::Refused::NotPost),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            Invalid,
        ),
        (
            Refusal::Unclassified(a2a::Refused::Ambiguous),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Invalid,
        ),
        (
            Refusal::Unclassified(a2a::Refused::JsonRpc {
                code: -32601,
                reason: Cow::Borrowed("method not found"),
                id: serde_json::json!(7),
                operation: None,
            }),
            StatusCode::BAD_REQUEST,
            "jsonrpc_error",
            Invalid,
        ),
        (
            Refusal::Bearer("empty bearer token"),
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            Unauthenticated,
        ),
        (
            Refusal::SubjectToken(TokenError::CertificateMismatch),
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            Unauthenticated,
        ),
        (
            Refusal::Body(BodyRefused::TooLarge { limit: 1 }),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            Invalid,
        ),
        (
            Refusal::Body(BodyRefused::Timeout),
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            Invalid,
        ),
        (
            Refusal::Body(BodyRefused::Unreadable),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Invalid,
        ),
        (
            Refusal::Mcp(crate::mcp::Refused {
                problem: crate::mcp::Problem::Batch,
                id: serde_json::json!(7),
                method: None,
            }),
            StatusCode::BAD_REQUEST,
            "jsonrpc_error",
            Invalid,
        ),
        (
            Refusal::McpSession(SessionRefused::Foreign),
            StatusCode::NOT_FOUND,
            "not_found",
            Deny,
        ),
        (
            Refusal::McpSession(SessionRefused::Missing),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Invalid,
        ),
        (
            Refusal::McpMethod,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            Invalid,
        ),
        (Refusal::McpOrigin, forbidden, "forbidden", Deny),
    ]
}

/// Refusals from the decision on.
async fn table_from_decision() -> Vec<Row> {
    use AuditDecision::*;
    let forbidden = StatusCode::FORBIDDEN;
    vec![
        (
            Refusal::Denied(Denied::Policy(DenyReason::ExplicitDeny { rule: 1 })),
            forbidden,
            "forbidden",
            Deny,
        ),
        (
            Refusal::Denied(Denied::Card("too many combinations")),
            forbidden,
            "forbidden",
            Deny,
        ),
        (
            Refusal::AuditUnavailable,
            StatusCode::SERVICE_UNAVAILABLE,
            "audit_unavailable",
            Error,
        ),
        (
            Refusal::StepUp(vec!["cal:write".into()]),
            forbidden,
            "insufficient_scope",
            StepUp,
        ),
        (
            Refusal::Mint(MintError::Claims(ClaimsError::SubjectExpired {
                exp: 1,
                now: 2,
            })),
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            Unauthenticated,
        ),
        (
            Refusal::Mint(MintError::Claims(ClaimsError::ChainTooDeep {
                depth: 5,
                max: 4,
            })),
            forbidden,
            "forbidden",
            Deny,
        ),
        (
            Refusal::Mint(MintError::Sign),
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            Error,
        ),
        (
            Refusal::NoUpstreamClient,
            StatusCode::BAD_GATEWAY,
            "bad_gateway",
            Error,
        ),
        (
            Refusal::Unforwardable,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Invalid,
        ),
        (
            Refusal::Approval(held(GateRefusal::Required, forbidden)),
            forbidden,
            "approval_required",
            ApprovalRequired,
        ),
        (
            Refusal::Approval(held(
                GateRefusal::Refused(ApprovalRefusal::Expired("ap-00".into())),
                forbidden,
            )),
            forbidden,
            "approval_expired",
            Deny,
        ),
        (
            Refusal::Approval(held(
                GateRefusal::StoreUnavailable,
                StatusCode::SERVICE_UNAVAILABLE,
            )),
            StatusCode::SERVICE_UNAVAILABLE,
            "approval_store_unavailable",
            Deny,
        ),
        (
            Refusal::UpstreamTimeout,
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_timeout",
            Error,
        ),
        (
            Refusal::UpstreamUnreachable(unreachable_error().await),
            StatusCode::BAD_GATEWAY,
            "upstream_unreachable",
            Error,
        ),
    ]
}

async fn json_of(resp: Response<ResponseBody>) -> serde_json::Value {
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn every_variant_has_its_status_code_and_audit_decision() {
    let mut rows = table_before_decision();
    rows.extend(table_from_decision().await);
    let mut seen = [false; COUNT];
    for (refusal, status, code, decision) in rows {
        seen[variant(&refusal)] = true;
        let what = format!("{refusal:?}");
        assert_eq!(refusal.audit_decision(), decision, "{what}");
        assert_eq!(refusal.code(), code, "{what}");
        assert!(!refusal.reason().is_empty(), "{what}");
        let resp = refusal.into_response();
        assert_eq!(resp.status(), status, "{what}");
        let body = json_of(resp).await;
        if code == "jsonrpc_error" {
            assert_eq!(body["jsonrpc"], "2.0", "{what}");
            assert_eq!(body["id"], 7, "{what}");
        } else {
            assert_eq!(body["error"], code, "{what}");
        }
    }
    let missing: Vec<usize> = (0..COUNT).filter(|i| !seen[*i]).collect();
    assert!(missing.is_empty(), "variants without a row: {missing:?}");
}

#[tokio::test]
async fn challenges_and_counters() {
    let r = Refusal::StepUp(vec!["a".into(), "b".into()]).into_response();
    assert_eq!(
        r.headers()[http::header::WWW_AUTHENTICATE],
        "Bearer error=\"insufficient_scope\", scope=\"a b\""
    );
    let r = Refusal::Bearer("only Bearer subject tokens are accepted").into_response();
    assert!(r.headers().contains_key(http::header::WWW_AUTHENTICATE));
    let r = Refusal::NoCard.into_response();
    assert_eq!(r.headers()[http::header::RETRY_AFTER], "30");
    let r = Refusal::Body(BodyRefused::Timeout).into_response();
    assert!(r
        .extensions()
        .get::<crate::server::conn::CloseConnection>()
        .is_some());

    use Counter::*;
    for (refusal, counter, kind) in [
        (Refusal::UnknownAgent, Some(RequestsDenied), None),
        (
            Refusal::Unreachable { rule: None },
            Some(RequestsDenied),
            Some(DecisionKind::Deny),
        ),
        (
            Refusal::StepUp(vec![]),
            Some(RequestsDenied),
            Some(DecisionKind::StepUp),
        ),
        (Refusal::Bearer("x"), Some(RequestsUnauthenticated), None),
        (
            Refusal::Mint(MintError::Sign),
            None,
            Some(DecisionKind::Deny),
        ),
        (Refusal::UpstreamTimeout, Some(UpstreamErrors), None),
        (Refusal::Body(BodyRefused::Unreadable), None, None),
        (
            Refusal::Approval(held(GateRefusal::Required, StatusCode::FORBIDDEN)),
            None,
            Some(DecisionKind::ApprovalRequired),
        ),
    ] {
        assert_eq!(refusal.counter(), counter, "{refusal:?}");
        assert_eq!(refusal.decision_kind(), kind, "{refusal:?}");
    }
}

#[test]
fn booking_fills_the_record_once_and_counts() {
    let metrics = Metrics::default();
    let recent = RecentDecisions::default();
    let caller = CallerIdentity {
        spiffe_id: SpiffeId::parse("spiffe://example.org/agent/a").unwrap(),
        thumbprint: "t".into(),
        not_after: i64::MAX,
    };
    let b = Booking {
        metrics: &metrics,
        recent: &recent,
        caller: &caller,
        subject: None,
        agent: None,
        rule: Some(1),
    };
    let mut rec = AuditRecord::new(crate::audit::RecordKind::Proxy);
    rec.agent = Some("scheduler".into());
    rec.operation = Some("SendMessage".into());
    let resp =
        Refusal::Denied(Denied::Policy(DenyReason::ExplicitDeny { rule: 1 })).book(&b, &mut rec);
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(rec.decision, AuditDecision::Deny);
    assert_eq!(rec.reason.as_deref(), Some("a deny rule forbids this call"));
    assert_eq!(
        metrics
            .requests_denied
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    let shown = recent.snapshot();
    assert_eq!(shown.len(), 1);
    assert_eq!((shown[0].decision, shown[0].rule), ("deny", Some(1)));
    assert_eq!(
        shown[0].chain,
        vec!["spiffe://example.org/agent/a".to_string()]
    );

    // Unreachable: the record names the rule that shut the caller out; the
    // recent view does not show refusals before the decision.
    let mut rec = AuditRecord::new(crate::audit::RecordKind::Proxy);
    Refusal::Unreachable { rule: Some(3) }.book(&b, &mut rec);
    assert_eq!(rec.rule.as_deref(), Some("rule[3]"));
    assert_eq!(recent.snapshot().len(), 1);
}

/// On an MCP route every answer is a JSON-RPC error with the request's id;
/// a Bearer challenge points at the resource metadata; a policy refusal's
/// code lies outside the reserved range, a classification error keeps the
/// spec's code; a delegated rule without a user token becomes a 401.
#[tokio::test]
async fn mcp_answers_are_jsonrpc_errors_with_challenges() {
    let at = McpAnswer {
        id: &serde_json::json!("req-1"),
        resource_metadata: "https://gw/.well-known/oauth-protected-resource/mcp/files",
    };
    let r = mcp_answer(
        Refusal::StepUp(vec!["files:delete".into()]).into_response(),
        &at,
        false,
    );
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        r.headers()[http::header::WWW_AUTHENTICATE],
        "Bearer error=\"insufficient_scope\", scope=\"files:delete\", resource_metadata=\"https://gw/.well-known/oauth-protected-resource/mcp/files\""
    );
    assert_eq!(r.headers()[http::header::CONTENT_TYPE], "application/json");
    let body = json_of(r).await;
    assert_eq!(body["id"], "req-1");
    assert_eq!(body["error"]["code"], -31403);
    assert_eq!(body["error"]["data"]["error"], "insufficient_scope");
    let r = mcp_answer(
        Refusal::Mcp(crate::mcp::Refused {
            problem: crate::mcp::Problem::HeaderMismatch("Mcp-Name"),
            id: serde_json::json!(3),
            method: Some("tools/call".into()),
        })
        .into_response(),
        &at,
        false,
    );
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(r).await["error"]["code"], -32020);
    let denied = Refusal::Denied(Denied::Policy(DenyReason::AppOnlyNotAllowed));
    let r = mcp_answer(denied.into_response(), &at, true);
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.headers()[http::header::WWW_AUTHENTICATE],
        "Bearer resource_metadata=\"https://gw/.well-known/oauth-protected-resource/mcp/files\""
    );
    assert_eq!(json_of(r).await["error"]["code"], -31401);
}
