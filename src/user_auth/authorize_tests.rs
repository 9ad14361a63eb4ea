use super::*;
use crate::identity::SpiffePattern;
use crate::user_auth::client::OAuthClient;

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn clients() -> OAuthClients {
    OAuthClients(vec![OAuthClient {
        client_id: "app".into(),
        name: "App".into(),
        redirect_uris: vec!["https://app.example/cb?x=1".into()],
        actors: vec![SpiffePattern::parse("spiffe://example.org/agent/*").unwrap()],
        scopes: vec!["calendar:read".into(), "calendar:write".into()],
    }])
}

fn good() -> Vec<(String, String)> {
    [
        ("response_type", "code"),
        ("client_id", "app"),
        ("redirect_uri", "https://app.example/cb?x=1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("state", "st"),
        ("scope", "calendar:write calendar:read calendar:read"),
        ("resource", "https://gw.example/agents/scheduler"),
        ("requested_actor", "spiffe://example.org/agent/orchestrator"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn with(name: &str, value: Option<&str>) -> Vec<(String, String)> {
    let mut p: Vec<_> = good().into_iter().filter(|(k, _)| k != name).collect();
    if let Some(v) = value {
        p.push((name.into(), v.into()));
    }
    p
}

fn check(p: &[(String, String)]) -> Result<AuthorizeRequest, Refusal> {
    validate(p, &clients(), |r| {
        r == "https://gw.example/agents/scheduler"
    })
}

fn redirect_error(p: &[(String, String)]) -> &'static str {
    match check(p) {
        Err(Refusal::Redirect { error, state, .. }) => {
            assert_eq!(state.as_deref(), Some("st"));
            error
        }
        other => panic!("not a redirect refusal: {other:?}"),
    }
}

#[test]
fn a_good_request_passes_with_sorted_scopes() {
    let r = check(&good()).unwrap();
    assert_eq!(r.scopes, ["calendar:read", "calendar:write"]);
    assert_eq!(
        r.actor.to_string(),
        "spiffe://example.org/agent/orchestrator"
    );
    assert_eq!(r.code_challenge, CHALLENGE);
}

#[test]
fn an_untrusted_client_or_redirect_uri_gets_a_page_never_a_redirect() {
    for p in [
        with("client_id", None),
        with("client_id", Some("other")),
        with("redirect_uri", None),
        with("redirect_uri", Some("https://evil.example/cb")),
        with("redirect_uri", Some("https://app.example/cb")),
        {
            let mut p = good();
            p.push(("redirect_uri".into(), "https://app.example/cb?x=1".into()));
            p
        },
    ] {
        assert!(matches!(check(&p), Err(Refusal::Page(_))), "{p:?}");
    }
}

#[test]
fn other_errors_go_back_to_the_client_with_their_code() {
    assert_eq!(
        redirect_error(&with("response_type", Some("token"))),
        "unsupported_response_type"
    );
    assert_eq!(
        redirect_error(&with("code_challenge_method", Some("plain"))),
        "invalid_request"
    );
    assert_eq!(
        redirect_error(&with("code_challenge_method", None)),
        "invalid_request"
    );
    assert_eq!(
        redirect_error(&with("code_challenge", Some("short"))),
        "invalid_request"
    );
    assert_eq!(
        redirect_error(&with("scope", Some("calendar:read mail:send"))),
        "invalid_scope"
    );
    assert_eq!(
        redirect_error(&with("resource", Some("https://elsewhere.example"))),
        "invalid_target"
    );
    assert_eq!(
        redirect_error(&with(
            "requested_actor",
            Some("spiffe://example.org/admin/root")
        )),
        "invalid_request"
    );
    assert_eq!(
        redirect_error(&with("requested_actor", Some("not-spiffe"))),
        "invalid_request"
    );
    let mut twice = good();
    twice.push(("scope".into(), "calendar:read".into()));
    assert_eq!(redirect_error(&twice), "invalid_request");
}

#[test]
fn the_error_redirect_keeps_the_query_and_carries_state_and_iss() {
    let refusal = check(&with("code_challenge_method", Some("plain"))).unwrap_err();
    let loc = error_location(&refusal, "https://gw.example").unwrap();
    assert!(
        loc.starts_with("https://app.example/cb?x=1&error=invalid_request&error_description="),
        "{loc}"
    );
    assert!(
        loc.ends_with("&state=st&iss=https%3A%2F%2Fgw.example"),
        "{loc}"
    );
    assert_eq!(error_location(&Refusal::Page("x".into()), "i"), None);
}
