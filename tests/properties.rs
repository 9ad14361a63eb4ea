//! Property tests (proptest): the A2A classifier agrees with an independent,
//! deliberately simple reference on generated paths and bodies (same
//! operation, or refused), and the parsers that read untrusted bytes (SPIFFE
//! IDs, Agent Cards, token-endpoint forms, JWTs) never panic.

use actgate::a2a::{canonical_path, classify, Endpoints, Refused};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http::{HeaderValue, Method};
use proptest::prelude::*;

// ---------------------------------------------------------------------------
// The reference: the spec's route table (reference a2a.md §4.1) written out
// as patterns, matched segment by segment; the JSON-RPC method table copied
// from the same section. It does not decode anything: any '%', ';', '\' or
// other unusual character is refused.

#[derive(Clone, Copy)]
enum Seg {
    Lit(&'static str),
    /// A task, config or tenant id: non-empty, no ':'.
    Id,
    /// `{id}:verb`.
    Verb(&'static str),
}
use Seg::*;

const ROUTES: &[(&str, &[Seg], &str)] = &[
    ("POST", &[Lit("message:send")], "SendMessage"),
    ("POST", &[Lit("message:stream")], "SendStreamingMessage"),
    ("GET", &[Lit("tasks"), Id], "GetTask"),
    ("GET", &[Lit("tasks")], "ListTasks"),
    ("POST", &[Lit("tasks"), Verb("cancel")], "CancelTask"),
    (
        "POST",
        &[Lit("tasks"), Verb("subscribe")],
        "SubscribeToTask",
    ),
    ("GET", &[Lit("tasks"), Verb("subscribe")], "SubscribeToTask"),
    (
        "POST",
        &[Lit("tasks"), Id, Lit("pushNotificationConfigs")],
        "CreateTaskPushNotificationConfig",
    ),
    (
        "GET",
        &[Lit("tasks"), Id, Lit("pushNotificationConfigs")],
        "ListTaskPushNotificationConfigs",
    ),
    (
        "GET",
        &[Lit("tasks"), Id, Lit("pushNotificationConfigs"), Id],
        "GetTaskPushNotificationConfig",
    ),
    (
        "DELETE",
        &[Lit("tasks"), Id, Lit("pushNotificationConfigs"), Id],
        "DeleteTaskPushNotificationConfig",
    ),
    ("GET", &[Lit("extendedAgentCard")], "GetExtendedAgentCard"),
];

/// Root, the card's REST interface, tenants on either side of it, and the
/// v0.3 prefix (where `GET /card` is the extended card).
const PREFIXES: &[&[Seg]] = &[
    &[],
    &[Lit("a2a"), Lit("rest")],
    &[Id],
    &[Lit("a2a"), Lit("rest"), Id],
    &[Id, Lit("a2a"), Lit("rest")],
    &[Lit("v1")],
    &[Lit("a2a"), Lit("rest"), Lit("v1")],
];

const METHODS: &[(&str, &str)] = &[
    ("SendMessage", "SendMessage"),
    ("message/send", "SendMessage"),
    ("SendStreamingMessage", "SendStreamingMessage"),
    ("message/stream", "SendStreamingMessage"),
    ("GetTask", "GetTask"),
    ("tasks/get", "GetTask"),
    ("ListTasks", "ListTasks"),
    ("CancelTask", "CancelTask"),
    ("tasks/cancel", "CancelTask"),
    ("SubscribeToTask", "SubscribeToTask"),
    ("tasks/resubscribe", "SubscribeToTask"),
    (
        "CreateTaskPushNotificationConfig",
        "CreateTaskPushNotificationConfig",
    ),
    (
        "tasks/pushNotificationConfig/set",
        "CreateTaskPushNotificationConfig",
    ),
    (
        "GetTaskPushNotificationConfig",
        "GetTaskPushNotificationConfig",
    ),
    (
        "tasks/pushNotificationConfig/get",
        "GetTaskPushNotificationConfig",
    ),
    (
        "ListTaskPushNotificationConfigs",
        "ListTaskPushNotificationConfigs",
    ),
    (
        "tasks/pushNotificationConfig/list",
        "ListTaskPushNotificationConfigs",
    ),
    (
        "DeleteTaskPushNotificationConfig",
        "DeleteTaskPushNotificationConfig",
    ),
    (
        "tasks/pushNotificationConfig/delete",
        "DeleteTaskPushNotificationConfig",
    ),
    ("GetExtendedAgentCard", "GetExtendedAgentCard"),
    ("agent/getAuthenticatedExtendedCard", "GetExtendedAgentCard"),
];

fn is_id(s: &str) -> bool {
    !s.is_empty() && !s.contains(':')
}

fn seg_matches(p: Seg, s: &str) -> bool {
    match p {
        Lit(l) => s == l,
        Id => is_id(s),
        Verb(v) => s
            .strip_suffix(v)
            .and_then(|x| x.strip_suffix(':'))
            .is_some_and(is_id),
    }
}

fn pattern_matches(pat: &[Seg], segs: &[&str]) -> bool {
    pat.len() == segs.len() && pat.iter().zip(segs).all(|(p, s)| seg_matches(*p, s))
}

/// `None`: must be refused.
fn reference_rest(method: &str, path: &str) -> Option<&'static str> {
    let mut found: Vec<&str> = Vec::new();
    let segs: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    for prefix in PREFIXES {
        for (m, route, op) in ROUTES {
            let full: Vec<Seg> = prefix.iter().chain(route.iter()).copied().collect();
            if *m == method && pattern_matches(&full, &segs) {
                found.push(op);
            }
        }
    }
    for v03 in [
        &[Lit("v1"), Lit("card")][..],
        &[Lit("a2a"), Lit("rest"), Lit("v1"), Lit("card")],
    ] {
        if method == "GET" && pattern_matches(v03, &segs) {
            found.push("GetExtendedAgentCard");
        }
    }
    found.sort_unstable();
    found.dedup();
    match found.as_slice() {
        [one] => Some(one),
        _ => None,
    }
}

fn plain_path(path: &str) -> bool {
    path.starts_with('/')
        && path[1..]
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..")
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~:@!$&'()*+,=/".contains(&b))
}

fn reference(method: &str, path: &str, body: &Members) -> Option<&'static str> {
    if !plain_path(path) {
        return None;
    }
    let rest = reference_rest(method, path);
    if path == "/a2a/jsonrpc" {
        return match (method, rest) {
            ("POST", None) => reference_jsonrpc(body),
            _ => None,
        };
    }
    // A REST body is held to the same JSON rules.
    rest.filter(|_| !has_duplicate(body))
}

// Bodies are generated as member lists, so the reference knows the
// duplicates without parsing.
type Members = Vec<(&'static str, &'static str)>;

const KEYS: &[&str] = &["jsonrpc", "method", "id", "params", "\\u006dethod"];

fn values(key: &str) -> &'static [&'static str] {
    match key {
        "jsonrpc" => &["\"2.0\"", "\"1.0\"", "2"],
        "id" => &["1", "\"a\"", "null", "{}", "[1]"],
        "params" => &[
            "{}",
            "{\"id\":\"t1\"}",
            "{\"a\":1,\"a\":2}",
            "[{\"b\":[{\"c\":1,\"c\":1}]}]",
        ],
        _ => &[
            "\"GetTask\"",
            "\"CancelTask\"",
            "\"tasks/cancel\"",
            "\"message/send\"",
            "\"SendStreamingMessage\"",
            "\"canceltask\"",
            "\"GetTask \"",
            "\"Nope\"",
            "7",
        ],
    }
}

fn render(m: &Members) -> String {
    let inner: Vec<String> = m.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
    format!("{{{}}}", inner.join(","))
}

/// The member name a key spells.
fn name(k: &str) -> &str {
    if k == "\\u006dethod" {
        "method"
    } else {
        k
    }
}

fn has_duplicate(m: &Members) -> bool {
    let mut seen: Vec<&str> = Vec::new();
    for (k, v) in m {
        if seen.contains(&name(k)) || v.contains("\"a\":1,\"a\"") || v.contains("\"c\":1,\"c\"") {
            return true;
        }
        seen.push(name(k));
    }
    false
}

fn reference_jsonrpc(m: &Members) -> Option<&'static str> {
    if has_duplicate(m) {
        return None;
    }
    let get = |k: &str| m.iter().find(|(key, _)| name(key) == k).map(|(_, v)| *v);
    if get("jsonrpc") != Some("\"2.0\"") || matches!(get("id"), Some("{}" | "[1]")) {
        return None;
    }
    let method = get("method")?.strip_prefix('"')?.strip_suffix('"')?;
    METHODS
        .iter()
        .find(|(w, _)| *w == method)
        .map(|(_, op)| *op)
}

// ---------------------------------------------------------------------------

const SEGMENTS: &[&str] = &[
    "tasks",
    "t1",
    "c1",
    "message:send",
    "message:stream",
    "pushNotificationConfigs",
    "v1",
    "a2a",
    "rest",
    "jsonrpc",
    "extendedAgentCard",
    "card",
    "t1:cancel",
    "t1:subscribe",
    "t1:CANCEL",
    "a:b:cancel",
    ":cancel",
    "Tasks",
    "x",
    ".",
    "..",
    "",
];

const HTTP_METHODS: &[&str] = &["GET", "POST", "DELETE", "PUT", "HEAD"];

/// Concrete prefixes and route shapes, so that near-misses of real routes
/// (a tenant that is a keyword, an id with a colon, a wrong method) come up
/// often; plus paths of arbitrary segments.
const PREFIX_FORMS: &[&str] = &[
    "",
    "/a2a/rest",
    "/v1",
    "/a2a/rest/v1",
    "/t1",
    "/tasks",
    "/v1/t1",
    "/a2a/rest/t1",
    "/t1/a2a/rest",
    "/x/y",
    "/a2a",
    "/a2a/jsonrpc",
];
const ROUTE_FORMS: &[&str] = &[
    "/message:send",
    "/message:stream",
    "/tasks",
    "/tasks/{}",
    "/tasks/{}:cancel",
    "/tasks/{}:subscribe",
    "/tasks/{}/pushNotificationConfigs",
    "/tasks/{}/pushNotificationConfigs/{}",
    "/extendedAgentCard",
    "/card",
    "/a2a/jsonrpc",
    "",
];
const IDS: &[&str] = &[
    "t1",
    "tasks",
    "a:b",
    "v1",
    "card",
    "Tasks",
    "pushNotificationConfigs",
];

fn path_strategy() -> impl Strategy<Value = String> {
    let structured = (
        proptest::sample::select(PREFIX_FORMS),
        proptest::sample::select(ROUTE_FORMS),
        proptest::sample::select(IDS),
        proptest::sample::select(IDS),
    )
        .prop_map(|(prefix, route, a, b)| {
            let p = format!(
                "{prefix}{}",
                route.replacen("{}", a, 1).replacen("{}", b, 1)
            );
            if p.is_empty() {
                "/".to_string()
            } else {
                p
            }
        });
    let random = (
        proptest::collection::vec(proptest::sample::select(SEGMENTS), 1..6),
        any::<bool>(),
    )
        .prop_map(|(segs, trailing)| {
            let mut p = format!("/{}", segs.join("/"));
            if trailing {
                p.push('/');
            }
            p
        });
    prop_oneof![3 => structured, 1 => random]
}

fn body_strategy() -> impl Strategy<Value = Members> {
    proptest::collection::vec(
        proptest::sample::select(KEYS).prop_flat_map(|k| {
            proptest::sample::select(values(if k == "\\u006dethod" { "method" } else { k }))
                .prop_map(move |v| (k, v))
        }),
        0..6,
    )
}

fn endpoints() -> Endpoints {
    Endpoints::new([("JSONRPC", "/a2a/jsonrpc"), ("HTTP+JSON", "/a2a/rest")])
}

const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// The gateway's two steps: canonical path, then classification.
fn gateway(method: &str, raw_path: &str, body: &[u8]) -> Option<String> {
    let m = Method::from_bytes(method.as_bytes()).unwrap();
    let path = canonical_path(raw_path).ok()?;
    classify(&m, &path, Some(&JSON), body, &endpoints())
        .ok()
        .map(|op| op.name)
}

/// Percent-encode the bytes selected by `mask` (upper- or lower-case hex).
fn encode(path: &str, mask: &[u8]) -> String {
    let mut out = String::new();
    for (i, c) in path.chars().enumerate() {
        let m = mask.get(i).copied().unwrap_or(0);
        if c != '/' && m % 4 == 0 {
            let hex = format!("%{:02X}", c as u32);
            out.push_str(&if m % 8 == 0 { hex.to_lowercase() } else { hex });
        } else {
            out.push(c);
        }
    }
    out
}

/// One decoding round, as a framework would do it.
fn decode_once(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn classifier_agrees_with_the_reference(
        method in proptest::sample::select(HTTP_METHODS),
        path in path_strategy(),
        members in body_strategy(),
    ) {
        let body = render(&members);
        let want = reference(method, &path, &members);
        let got = gateway(method, &path, body.as_bytes());
        prop_assert_eq!(got.as_deref(), want, "{} {} {}", method, path, body);
    }

    #[test]
    fn an_encoded_path_means_its_decoded_form_or_is_refused(
        method in proptest::sample::select(HTTP_METHODS),
        path in path_strategy(),
        mask in proptest::collection::vec(any::<u8>(), 0..64),
        twice in any::<bool>(),
    ) {
        let mut encoded = encode(&path, &mask);
        if twice {
            encoded = encode(&encoded, &mask);
        }
        let got = gateway(method, &encoded, br#"{"jsonrpc":"2.0","id":1,"method":"GetTask"}"#);
        if let Some(op) = got {
            // Accepted only when one decoding gives a plain path the
            // reference names the same way.
            let members: Members = vec![("jsonrpc", "\"2.0\""), ("id", "1"), ("method", "\"GetTask\"")];
            let want = reference(method, &decode_once(&encoded), &members);
            prop_assert_eq!(Some(op.as_str()), want, "{} {}", method, encoded);
        }
    }

    #[test]
    fn classify_never_panics(
        method in proptest::sample::select(HTTP_METHODS),
        path in any::<String>(),
        body in proptest::collection::vec(any::<u8>(), 0..256),
        ct in proptest::option::of(proptest::sample::select(&[
            "application/json", "text/plain", "application/a2a+json; charset=utf-16", ";", "application/"
        ][..])),
    ) {
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let _ = actgate::a2a::card_path(&path);
        let p = format!("/{path}");
        let ct = ct.map(HeaderValue::from_static);
        if let Ok(c) = canonical_path(&p) {
            for rest in [&*c, "/a2a/jsonrpc"] {
                match classify(&m, rest, ct.as_ref(), &body, &endpoints()) {
                    Ok(op) => prop_assert!(actgate::a2a::OPERATIONS.contains(&op.name.as_str())),
                    Err(Refused::JsonRpc { code, .. }) => {
                        prop_assert!([-32700, -32600, -32601].contains(&code))
                    }
                    Err(_) => {}
                }
            }
        }
    }

    #[test]
    fn spiffe_parsing_never_panics(s in any::<String>(), tail in any::<String>()) {
        for input in [s.clone(), format!("spiffe://{s}"), format!("spiffe://example.org/{tail}")] {
            let _ = actgate::identity::spiffe::SpiffeId::parse(&input);
            let _ = actgate::identity::spiffe::SpiffePattern::parse(&input);
            let _ = actgate::identity::spiffe::TrustDomain::parse(&input);
        }
    }

    #[test]
    fn card_parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512), s in any::<String>()) {
        let _ = actgate::cards::parse::parse_card(&bytes);
        let doc = format!(
            r#"{{"name":"a","description":"{s}","version":"1","supportedInterfaces":[{{"url":"{s}","protocolBinding":"JSONRPC","protocolVersion":"1.0"}}],"capabilities":{{}},"defaultInputModes":[],"defaultOutputModes":[],"skills":[]}}"#
        );
        let _ = actgate::cards::parse::parse_card(doc.as_bytes());
        let _ = actgate::cards::parse::parse_card(s.as_bytes());
    }

    #[test]
    fn token_form_parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512), s in any::<String>()) {
        let _ = actgate::token::form::parse(&bytes);
        let _ = actgate::token::form::parse(s.as_bytes());
        let _ = actgate::token::form::parse(format!("grant_type={s}&subject_token=%{s}&a=%").as_bytes());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn jwt_parsing_never_panics(
        s in any::<String>(),
        h in proptest::collection::vec(any::<u8>(), 0..128),
        p in proptest::collection::vec(any::<u8>(), 0..128),
        sig in proptest::collection::vec(any::<u8>(), 0..96),
        alg in proptest::sample::select(&["ES256", "EdDSA", "none", "HS256", "RS256"][..]),
    ) {
        let v = verifier();
        let _ = v.verify(&s, None, 1_000);
        let b = |x: &[u8]| URL_SAFE_NO_PAD.encode(x);
        let _ = v.verify(&format!("{}.{}.{}", b(&h), b(&p), b(&sig)), Some("x"), 1_000);
        // Well-formed header and payload JSON with arbitrary content.
        let header = format!(r#"{{"alg":"{alg}","typ":"JWT","kid":{:?}}}"#, s);
        let payload = format!(r#"{{"iss":{:?},"sub":"a","exp":2000,"aud":"x"}}"#, s);
        let _ = v.verify(&format!("{}.{}.{}", b(header.as_bytes()), b(payload.as_bytes()), b(&sig)), None, 1_000);
    }
}

fn verifier() -> &'static actgate::token::verify::SubjectTokenVerifier {
    use actgate::token::keys::{KeySet, SigningAlgorithm, SigningKey};
    static V: std::sync::OnceLock<actgate::token::verify::SubjectTokenVerifier> =
        std::sync::OnceLock::new();
    V.get_or_init(|| {
        let (own, _) = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
        let (idp, _) = SigningKey::generate(SigningAlgorithm::EdDsa).unwrap();
        let jwks = serde_json::json!({"keys": [idp.public_jwk()]}).to_string();
        let trusted =
            actgate::token::verify::TrustedIssuer::from_jwks_json("https://idp.test", "x", &jwks)
                .unwrap();
        let keys = KeySet {
            current: own,
            previous: Vec::new(),
        };
        actgate::token::verify::SubjectTokenVerifier::new(
            "https://gw.test".into(),
            &keys,
            vec![trusted],
        )
        .unwrap()
    })
}
