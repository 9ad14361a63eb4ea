//! MCP servers through the egress sidecar (issue 16): an agent without TLS
//! code dials `http://127.0.0.1:PORT/mcp/NAME`; the sidecar forwards to the
//! gateway's `/mcp/NAME` with the workload's certificate, and the OAuth
//! discovery an MCP client does points at the URL it dialled, while which
//! audiences a user token may name stays the gateway's configuration.

mod common;

use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{json, Value};

use actgate::config::EgressConfigFile;
use common::egress::{egress_config, plain, plain_client, TestEgress};
use common::gateway::{claims, free_port, id, Options, TestGateway, IDP};
use common::mcp_upstream::{self, McpUpstream};

const METADATA: &str = "/.well-known/oauth-protected-resource/mcp/files";

/// The gateway with one MCP server `files`; notifier may call `read_file`
/// only for a user; `local_resources` as given.
async fn gateway(local_resources: &[String]) -> (TestGateway, McpUpstream) {
    let locals = serde_json::to_string(local_resources).unwrap();
    gateway_with(&format!("local_resources = {locals}")).await
}

/// [`gateway`] with `lines` in the `[[mcp_server]]` block.
async fn gateway_with(lines: &str) -> (TestGateway, McpUpstream) {
    let up = mcp_upstream::start().await;
    let o = Options::new()
        .rule(&format!(
            "caller = \"{}\"\nmcp_server = \"files\"\nsubject_issuer = \"{IDP}\"\nscopes = [\"files:read\"]",
            id("notifier")
        ))
        .raw(&format!(
            "[[mcp_server]]\nname = \"files\"\nupstream = \"{}\"\n{lines}\n\
             [[mcp_server.tool]]\nname = \"read_file\"\nscopes = [\"files:read\"]\n",
            up.url()
        ));
    (TestGateway::start(o).await, up)
}

/// A sidecar for notifier listening on `port` (so its URL is known before
/// the gateway's config is written).
async fn sidecar_on(gw: &TestGateway, port: u16) -> TestEgress {
    let dir = tempfile::tempdir().unwrap();
    let text = egress_config(dir.path(), gw, "notifier", "", "").replace(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"127.0.0.1:{port}\""),
    );
    let path = dir.path().join("egress.toml");
    std::fs::write(&path, &text).unwrap();
    let cfg = EgressConfigFile::parse(&path, &text).unwrap();
    let running = actgate::egress::start(&cfg).await.unwrap();
    TestEgress {
        dir,
        running,
        base: format!("http://127.0.0.1:{port}"),
    }
}

fn call(tool: &str) -> String {
    json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
           "params": {"name": tool, "arguments": {"path": "/shared/a.txt"}}})
    .to_string()
}

fn mcp_headers(bearer: Option<&str>) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        "accept",
        HeaderValue::from_static("application/json, text/event-stream"),
    );
    h.insert(
        "mcp-protocol-version",
        HeaderValue::from_static("2025-11-25"),
    );
    if let Some(t) = bearer {
        h.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {t}")).unwrap(),
        );
    }
    h
}

async fn post(eg: &TestEgress, bearer: Option<&str>, body: &str) -> (StatusCode, HeaderMap, Value) {
    let (s, h, b) = plain(
        &plain_client(),
        Method::POST,
        &format!("{}/mcp/files", eg.base),
        &mcp_headers(bearer),
        body,
    )
    .await;
    (s, h, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

#[tokio::test]
async fn discovery_through_the_sidecar_points_at_the_url_the_client_dials() {
    let (gw, up) = gateway(&[]).await;
    let eg = TestEgress::start(&gw, "notifier", "").await;

    // A delegated rule without a user token: the challenge names the
    // sidecar's metadata URL (the gateway's needs a workload certificate),
    // and the body is the JSON-RPC error an SDK client surfaces.
    let (s, h, body) = post(&eg, None, &call("read_file")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
    let challenge = h["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(&format!("resource_metadata=\"{}{METADATA}\"", eg.base)),
        "{challenge}"
    );
    assert_eq!(body["id"], 5, "{body}");
    assert!(body["error"]["code"].is_i64(), "{body}");
    assert!(up.requests().is_empty());

    // The metadata, fetched where the challenge says: the resource is the
    // URL the client dials; the authorization servers are the gateway's.
    let (s, _, doc) = plain(
        &plain_client(),
        Method::GET,
        &format!("{}{METADATA}", eg.base),
        &HeaderMap::new(),
        "",
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let doc: Value = serde_json::from_slice(&doc).unwrap();
    assert_eq!(doc["resource"], format!("{}/mcp/files", eg.base), "{doc}");
    assert_eq!(doc["authorization_servers"], json!([IDP]), "{doc}");

    // With the user token for the gateway's configured audience, the call
    // goes through, and the server sees only the gateway-minted token.
    let user = gw.user_token(json!({"scope": "files:read"}));
    let (s, _, body) = post(&eg, Some(&user), &call("read_file")).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let minted = claims(
        body["result"]["structuredContent"]["token"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(minted["sub"], "alice@example.com");
    assert_eq!(minted["act"]["sub"], id("notifier"));
    assert_eq!(minted["aud"], format!("{}/mcp/files", gw.base));
    assert_ne!(
        up.requests()[0].headers["authorization"],
        format!("Bearer {user}")
    );
}

#[tokio::test]
async fn a_token_for_the_sidecar_url_is_accepted_only_where_the_gateway_lists_it() {
    let port = free_port();
    let local = format!("http://127.0.0.1:{port}/mcp/files");
    // Not listed: a token whose audience is the sidecar's URL is refused.
    {
        let (gw, up) = gateway(&[]).await;
        let eg = sidecar_on(&gw, port).await;
        let user = gw.user_token(json!({"scope": "files:read", "aud": local}));
        let (s, h, body) = post(&eg, Some(&user), &call("read_file")).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
        assert!(h["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token"));
        assert!(up.requests().is_empty());
        eg.running.shutdown().await;
    }
    // Listed by the operator: accepted, and the minted token is still for
    // the server's own resource.
    let (gw, up) = gateway(std::slice::from_ref(&local)).await;
    let eg = sidecar_on(&gw, port).await;
    let user = gw.user_token(json!({"scope": "files:read", "aud": local}));
    let (s, _, body) = post(&eg, Some(&user), &call("read_file")).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let minted = claims(
        body["result"]["structuredContent"]["token"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(minted["aud"], format!("{}/mcp/files", gw.base));
    assert_eq!(up.requests().len(), 1);
    // Another URL is not made acceptable by the list.
    let other =
        gw.user_token(json!({"scope": "files:read", "aud": "http://127.0.0.1:1/mcp/files"}));
    let (s, _, _) = post(&eg, Some(&other), &call("read_file")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_sidecar_forwards_mcp_routes_only_and_keeps_the_browser_rules() {
    let (gw, up) = gateway(&[]).await;
    let eg = TestEgress::start(&gw, "notifier", "").await;
    let client = plain_client();
    for path in [
        "/mcp/",
        "/mcp/files/extra",
        "/mcp/fi%2Fles",
        "/mcpfiles",
        "/.well-known/oauth-protected-resource/mcp/",
    ] {
        let (s, _, body) = plain(
            &client,
            Method::GET,
            &format!("{}{path}", eg.base),
            &HeaderMap::new(),
            "",
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
        // The sidecar's own answer (the gateway would say 403 or 404 too).
        let body = String::from_utf8_lossy(&body);
        assert!(body.contains("egress listener forwards"), "{path}: {body}");
    }
    // A web page's simple POST (no JSON media type) never reaches the gateway.
    let mut h = mcp_headers(None);
    h.insert("content-type", HeaderValue::from_static("text/plain"));
    let (s, _, _) = plain(
        &client,
        Method::POST,
        &format!("{}/mcp/files", eg.base),
        &h,
        &call("read_file"),
    )
    .await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // A cross-site request is refused too, by the sidecar itself: no
    // `Origin` here, so the gateway's own Origin check cannot be what says
    // 403, and the answer is the sidecar's error, not a JSON-RPC one.
    let mut h = mcp_headers(None);
    h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
    let (s, _, body) = plain(
        &client,
        Method::POST,
        &format!("{}/mcp/files", eg.base),
        &h,
        &call("read_file"),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"], "forbidden", "{body}");
    assert!(body.get("jsonrpc").is_none(), "{body}");
    assert!(up.requests().is_empty());
}

/// The MCP transport spec: servers must validate `Origin` (DNS rebinding).
/// A request that carries one passes only from a listed origin; requests
/// without one (SDK clients, agents) are unaffected.
#[tokio::test]
async fn a_browser_origin_passes_only_when_the_server_lists_it() {
    let (gw, up) = gateway_with("allowed_origins = [\"https://App.example.com\"]").await;
    let user = gw.user_token(json!({"scope": "files:read"}));
    let bearer = format!("Bearer {user}");
    let send = |origin: Vec<&'static str>| {
        let mut h = mcp_headers(None);
        h.insert("content-type", HeaderValue::from_static("application/json"));
        h.insert("authorization", HeaderValue::from_str(&bearer).unwrap());
        for o in origin {
            h.append("origin", HeaderValue::from_static(o));
        }
        let client = gw.client("notifier");
        let url = format!("{}/mcp/files", gw.base);
        async move {
            common::exchange::Answer::of(
                client
                    .fetch(
                        Method::POST,
                        &url,
                        &h,
                        bytes::Bytes::from(call("read_file")),
                    )
                    .await
                    .unwrap(),
            )
        }
    };
    for bad in [
        vec!["https://evil.example"],
        vec!["null"],
        vec!["https://app.example.com", "https://evil.example"],
    ] {
        let a = send(bad.clone()).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{bad:?}: {}", a.body);
        assert_eq!(a.body["jsonrpc"], "2.0", "{}", a.body);
        assert_eq!(a.body["id"], 5, "{}", a.body);
    }
    assert!(
        up.requests().is_empty(),
        "a refused origin reached the server"
    );
    let a = send(vec!["https://app.example.com"]).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = send(vec![]).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(up.requests().len(), 2);
    let recs: Vec<Value> = common::audit::records(&gw.dir.path().join("audit"))
        .into_iter()
        .filter(|r| r["kind"] == "mcp" && r["decision"] == "deny")
        .collect();
    assert_eq!(recs.len(), 3, "every refused origin is audited: {recs:?}");
    assert!(
        recs.iter()
            .all(|r| r["reason"] == "Origin not allowed on this MCP route"),
        "{recs:?}"
    );
}

#[tokio::test]
async fn a_malformed_allowed_origin_is_a_config_problem_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    common::gateway::make_pki(dir.path());
    let o = Options::new().raw(
        "[[mcp_server]]\nname = \"files\"\nupstream = \"http://127.0.0.1:1/mcp\"\nallowed_origins = [\"https://app.example.com/path\"]\n",
    );
    let text = common::gateway::config_text(dir.path(), &o);
    let path = dir.path().join("actgate.toml");
    std::fs::write(&path, &text).unwrap();
    let cfg = actgate::config::ConfigFile::parse(&path, &text).unwrap();
    let e = actgate::server::start(&cfg)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        e.contains("mcp_server[0] (files).allowed_origins[0]"),
        "{e}"
    );
}

/// One URL is one route's: a `local_resources` entry naming another
/// route's resource would make a user token for that route good here too.
#[tokio::test]
async fn a_local_resource_claimed_by_another_route_is_a_config_problem() {
    let dir = tempfile::tempdir().unwrap();
    common::gateway::make_pki(dir.path());
    let o = Options::new().agent("scheduler", "http://127.0.0.1:1").raw(
        "[[mcp_server]]\nname = \"files\"\nupstream = \"http://127.0.0.1:1/mcp\"\n\
         local_resources = [\"http://127.0.0.1:9/mcp/files\"]\n\
         [[mcp_server]]\nname = \"notes\"\nupstream = \"http://127.0.0.1:1/mcp\"\n\
         local_resources = [\"http://127.0.0.1:9/mcp/files\"]\n",
    );
    let text = common::gateway::config_text(dir.path(), &o);
    let path = dir.path().join("actgate.toml");
    std::fs::write(&path, &text).unwrap();
    let cfg = actgate::config::ConfigFile::parse(&path, &text).unwrap();
    let e = actgate::server::start(&cfg)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        e.contains("mcp_server (notes).resource/local_resources")
            && e.contains("is already the resource of mcp_server \"files\""),
        "{e}"
    );
}
