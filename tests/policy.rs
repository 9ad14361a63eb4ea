//! Policy at a real gateway: skill-level requirements and step-up, deny
//! rules, token lifetime caps, the (fail-closed) approval marker, rules from
//! a separate policy file, and decisions in `/metrics` (parsed strictly as
//! Prometheus text exposition).

mod common;

use std::collections::{HashMap, HashSet};

use common::gateway::{claims, echoed_token, id, Options, TestGateway, ISSUER};
use common::upstream::{self, Behaviour};
use http::StatusCode;
use serde_json::{json, Value};

/// A card requiring the gateway's OAuth token with `calendar:write`, with a
/// skill `cancel-meeting` that also requires `calendar:admin`.
fn card_with_skill() -> Value {
    json!({
        "securitySchemes": {
            "corp-oauth": {"oauth2SecurityScheme": {"flows": {"clientCredentials": {
                "tokenUrl": format!("{ISSUER}/oauth2/token"),
                "scopes": {"calendar:write": "write", "calendar:admin": "admin"}}}}}
        },
        "securityRequirements": [{"schemes": {"corp-oauth": {"list": ["calendar:write"]}}}],
        "skills": [
            {"id": "book-meeting", "name": "Book", "description": "d", "tags": []},
            {"id": "cancel-meeting", "name": "Cancel", "description": "d", "tags": [],
             "securityRequirements": [{"schemes": {"corp-oauth": {"list": ["calendar:admin"]}}}]}
        ]
    })
}

fn rule(caller: &str, extra: &str) -> String {
    format!(
        "[[rule]]\ncaller = \"{}\"\nagent = \"scheduler\"\n{extra}\n",
        id(caller)
    )
}

#[tokio::test]
async fn allowed_skills_add_their_scopes_with_step_up_and_absent_skills_add_none() {
    let up = upstream::start(Behaviour::Echo).await;
    let mut o = Options::new()
        .agent("scheduler", &up.url())
        .card("scheduler", card_with_skill());
    o.rules.push(rule(
        "orchestrator",
        "scopes = [\"calendar:write\", \"calendar:admin\"]\nskills = [\"cancel-meeting\"]",
    ));
    // Same grant, no skills: only the card-level scope is minted.
    o.rules.push(rule(
        "tool",
        "scopes = [\"calendar:write\", \"calendar:admin\"]",
    ));
    let gw = TestGateway::start(o).await;

    // The user token lacks the skill's scope: 403 naming the whole set the
    // call needs (card + skill), and nothing reaches the agent.
    gw.expect_step_up(
        "orchestrator",
        "scheduler",
        "calendar:write",
        "calendar:admin calendar:write",
    )
    .await;
    assert!(up.requests().is_empty());

    // Stepped up: the token carries the card scope and the skill scope.
    assert_eq!(
        gw.forwarded_scope(
            "orchestrator",
            "scheduler",
            "calendar:write calendar:admin profile"
        )
        .await,
        "calendar:admin calendar:write"
    );

    // No skills in the rule: calendar:admin is granted and carried by the
    // user token, but no skill asks for it, so it is not minted.
    assert_eq!(
        gw.forwarded_scope("tool", "scheduler", "calendar:write calendar:admin profile")
            .await,
        "calendar:write"
    );

    gw.expect_metric("actgate_decisions_total{agent=\"scheduler\",decision=\"step_up\"} 1")
        .await;
    gw.expect_metric("actgate_decisions_total{agent=\"scheduler\",decision=\"allow\"} 2")
        .await;
}

#[tokio::test]
async fn a_rule_naming_a_skill_the_card_lacks_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    common::gateway::make_pki(dir.path());
    let mut o = Options::new()
        .agent("scheduler", "http://127.0.0.1:9")
        .card("scheduler", card_with_skill());
    o.rules
        .push(rule("orchestrator", "skills = [\"delete-calendar\"]"));
    let text = common::gateway::config_text(dir.path(), &o);
    let path = dir.path().join("actgate.toml");
    let cfg = actgate::config::ConfigFile::parse(&path, &text).unwrap();
    let err = actgate::snapshot::Snapshot::build(&cfg, Default::default())
        .err()
        .expect("config error")
        .to_string();
    assert!(
        err.contains(&format!("{}: rule[0].skills: the card of agent \"scheduler\" declares no skill \"delete-calendar\"", path.display())),
        "{err}"
    );
}

#[tokio::test]
async fn deny_rules_lifetime_caps_and_approval_at_the_gateway() {
    let up = upstream::start(Behaviour::Echo).await;
    let mut o = Options::new()
        .agent("scheduler", &up.url())
        .agent("notifier", &up.url())
        .tokens("ttl = \"10m\"");
    o.rules.push(
        "[[rule]]\ncaller_trust_domain = \"example.org\"\nagent = [\"scheduler\", \"notifier\"]\nscopes = [\"calendar:read\"]\napp_only = true\nmax_token_lifetime = \"1m\"\n".to_string()
    );
    // Written after the allow, still overrides it.
    o.rules.push(format!(
        "[[rule]]\neffect = \"deny\"\ncaller = \"{}\"\nagent = \"*\"\n",
        id("intruder")
    ));
    o.rules.push(
        "[[rule]]\neffect = \"deny\"\ncaller_trust_domain = \"example.org\"\nagent = \"scheduler\"\nsubject = \"mallory@*\"\n".to_string()
    );
    let gw = TestGateway::start(o).await;

    // Allowed: the token lives 1 minute, not tokens.ttl's 10.
    let (s, _, body) = gw.send_message("orchestrator", "scheduler", None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let c = claims(&echoed_token(&body));
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 60);

    // The explicit deny wins over the trust-domain allow.
    let (s, _, _) = gw.send_message("intruder", "scheduler", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, card) = gw
        .get_json("intruder", "/agents/scheduler/.well-known/agent-card.json")
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{card}");
    // A deny about one subject leaves other subjects and app-only calls alone.
    let mallory = gw.user_token(json!({"sub": "mallory@example.com"}));
    let (s, _, _) = gw
        .send_message("orchestrator", "scheduler", Some(&mallory))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = gw
        .send_message("orchestrator", "notifier", Some(&mallory))
        .await;
    assert_eq!(s, StatusCode::OK);
    let forwarded = up.requests().len();
    assert_eq!(forwarded, 2);

    // Three denies: the intruder's call, the intruder's card fetch (refused
    // before anything else, like every request of a caller that may not
    // reach the agent) and mallory's call.
    gw.expect_metric("actgate_decisions_total{agent=\"scheduler\",decision=\"deny\"} 3")
        .await;
    gw.expect_metric("actgate_decisions_total{agent=\"scheduler\",decision=\"allow\"} 1")
        .await;
    gw.expect_metric("actgate_decisions_total{agent=\"notifier\",decision=\"allow\"} 1")
        .await;

    // The audit log names the deny rule that decided.
    gw.running.current().audit.flush().await.unwrap();
    let records: Vec<Value> = common::audit::records(&gw.dir.path().join("audit"))
        .into_iter()
        .filter(|r| r["decision"] == "deny")
        .map(|r| json!([r["caller"], r["rule"]]))
        .collect();
    assert!(
        records.contains(&json!([id("intruder"), "rule[1]"])),
        "{records:?}"
    );
    assert!(
        records.contains(&json!([id("orchestrator"), "rule[2]"])),
        "{records:?}"
    );
}

#[tokio::test]
async fn a_call_waiting_for_approval_is_counted_and_not_forwarded() {
    let up = upstream::start(Behaviour::Echo).await;
    let mut o = Options::new()
        .agent("scheduler", &up.url())
        .raw("[approvals]\ndir = \"approvals\"\n");
    o.rules.push(rule(
        "orchestrator",
        "app_only = true\napproval = \"human\"",
    ));
    let gw = TestGateway::start(o).await;
    let (s, _, body) = gw.send_message("orchestrator", "scheduler", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert!(up.requests().is_empty());
    gw.expect_metric(
        "actgate_decisions_total{agent=\"scheduler\",decision=\"approval_required\"} 1",
    )
    .await;
    gw.expect_metric("actgate_decisions_total{agent=\"scheduler\",decision=\"allow\"} 0")
        .await;
}

#[tokio::test]
async fn rules_can_live_in_a_separate_policy_file() {
    let up = upstream::start(Behaviour::Echo).await;
    let dir = tempfile::tempdir().unwrap();
    common::gateway::make_pki(dir.path());
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "[[rule]]\ncaller = \"{}\"\nagent = \"scheduler\"\napp_only = true\n",
            id("orchestrator")
        ),
    )
    .unwrap();
    let gw = TestGateway::start_in(
        dir.path(),
        Options::new()
            .agent("scheduler", &up.url())
            .gateway(&format!("policy = \"{}\"", policy.display())),
    )
    .await;
    let (s, _, body) = gw.send_message("orchestrator", "scheduler", None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, _, _) = gw.send_message("tool", "scheduler", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Rules in both places, or a broken policy file: errors naming the file.
    let mut o = Options::new()
        .agent("scheduler", &up.url())
        .gateway(&format!("policy = \"{}\"", policy.display()))
        .allow("tool", "scheduler", &[], true);
    let text = common::gateway::config_text(dir.path(), &o);
    let cfg_path = dir.path().join("both.toml");
    let cfg = actgate::config::ConfigFile::parse(&cfg_path, &text).unwrap();
    let err = actgate::snapshot::Snapshot::build(&cfg, Default::default())
        .err()
        .expect("config error")
        .to_string();
    assert!(
        err.contains("both.toml: [[rule]]: rules are read from the policy file"),
        "{err}"
    );

    std::fs::write(
        &policy,
        "[[rule]]\ncaller = \"spiffe://example.org/x\"\nagent = \"ghost\"\n",
    )
    .unwrap();
    o.rules.clear();
    let text = common::gateway::config_text(dir.path(), &o);
    let cfg = actgate::config::ConfigFile::parse(&cfg_path, &text).unwrap();
    let err = actgate::snapshot::Snapshot::build(&cfg, Default::default())
        .err()
        .expect("config error")
        .to_string();
    assert!(
        err.contains(&format!(
            "{}: rule[0].agent: no [[agent]] is named \"ghost\"",
            policy.display()
        )),
        "{err}"
    );
}

/// GET /metrics on the admin listener over a real socket.
async fn scrape(addr: std::net::SocketAddr) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let (head, body) = out.split_once("\r\n\r\n").expect("an HTTP response");
    let ctype = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type:")
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default();
    (ctype, body.to_string())
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_exposition() {
    let up = upstream::start(Behaviour::Echo).await;
    let mut o = Options::new()
        .agent("scheduler", &up.url())
        .agent("notifier", &up.url())
        .card("scheduler", card_with_skill())
        .allow("orchestrator", "notifier", &[], true);
    o.rules.push(rule(
        "orchestrator",
        "scopes = [\"calendar:write\"]\nskills = [\"cancel-meeting\"]",
    ));
    let gw = TestGateway::start(o).await;
    // One of each: allow, deny, step-up.
    assert_eq!(
        gw.send_message("orchestrator", "notifier", None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        gw.send_message("tool", "notifier", None).await.0,
        StatusCode::FORBIDDEN
    );
    let t = gw.user_token(json!({"scope": "calendar:write"}));
    assert_eq!(
        gw.send_message("orchestrator", "scheduler", Some(&t))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (ctype, text) = scrape(gw.running.admin_addr.expect("admin listener")).await;
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    let samples = parse_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let get = |name: &str, labels: &[(&str, &str)]| {
        let want: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        samples
            .iter()
            .find(|s| s.name == name && s.labels == want)
            .map(|s| s.value)
    };
    let d = |agent, decision| {
        get(
            "actgate_decisions_total",
            &[("agent", agent), ("decision", decision)],
        )
    };
    assert_eq!(d("notifier", "allow"), Some(1.0));
    assert_eq!(d("notifier", "deny"), Some(1.0));
    assert_eq!(d("scheduler", "step_up"), Some(1.0));
    assert_eq!(d("scheduler", "approval_required"), Some(0.0));
    assert_eq!(get("actgate_requests_forwarded_total", &[]), Some(1.0));
    assert_eq!(
        get(
            "actgate_handshakes_rejected_total",
            &[("reason", "timeout")]
        ),
        Some(0.0)
    );
}

#[derive(Debug)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

/// A strict reader of the Prometheus text format (version 0.0.4): `# TYPE`
/// before a family's samples and at most once, families contiguous, valid
/// metric and label names, quoted and escaped label values, no duplicate
/// label or series, float values, a final newline.
fn parse_exposition(text: &str) -> Result<Vec<Sample>, String> {
    fn metric_name(s: &str) -> bool {
        let mut c = s.chars();
        c.next()
            .is_some_and(|f| f.is_ascii_alphabetic() || f == '_' || f == ':')
            && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == ':')
    }
    fn label_name(s: &str) -> bool {
        let mut c = s.chars();
        c.next()
            .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
            && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
    }
    fn value(s: &str) -> Option<f64> {
        match s {
            "+Inf" => Some(f64::INFINITY),
            "-Inf" => Some(f64::NEG_INFINITY),
            "NaN" => Some(f64::NAN),
            _ => s.parse().ok(),
        }
    }
    if !text.ends_with('\n') {
        return Err("no final newline".into());
    }
    let mut types: HashMap<String, String> = HashMap::new();
    let mut finished: HashSet<String> = HashSet::new();
    let mut current: Option<String> = None;
    let mut series = HashSet::new();
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let at = |m: &str| format!("line {}: {m}: {line:?}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            let mut parts = rest.trim_start().splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("TYPE"), Some(name), Some(kind)) => {
                    if !metric_name(name) {
                        return Err(at("bad metric name"));
                    }
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                        return Err(at("unknown type"));
                    }
                    if types.insert(name.to_string(), kind.to_string()).is_some() {
                        return Err(at("second TYPE for a family"));
                    }
                    if let Some(prev) = current.replace(name.to_string()) {
                        finished.insert(prev);
                    }
                }
                (Some("HELP"), Some(name), _) if metric_name(name) => {}
                (Some("HELP" | "TYPE"), ..) => return Err(at("malformed HELP/TYPE")),
                _ => {} // a comment
            }
            continue;
        }
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => line.split_at(i),
            None => return Err(at("no value")),
        };
        if !metric_name(name) {
            return Err(at("bad metric name"));
        }
        let mut labels = Vec::new();
        let rest = if let Some(mut r) = rest.strip_prefix('{') {
            loop {
                if let Some(after) = r.strip_prefix('}') {
                    r = after;
                    break;
                }
                let eq = r.find('=').ok_or_else(|| at("label without ="))?;
                let key = &r[..eq];
                if !label_name(key) || labels.iter().any(|(k, _): &(String, String)| k == key) {
                    return Err(at("bad or duplicate label name"));
                }
                r = r[eq + 1..]
                    .strip_prefix('"')
                    .ok_or_else(|| at("unquoted label value"))?;
                let mut v = String::new();
                let mut chars = r.char_indices();
                let end = loop {
                    match chars.next() {
                        Some((i, '"')) => break i,
                        Some((_, '\\')) => match chars.next() {
                            Some((_, '\\')) => v.push('\\'),
                            Some((_, '"')) => v.push('"'),
                            Some((_, 'n')) => v.push('\n'),
                            _ => return Err(at("bad escape")),
                        },
                        Some((_, '\n')) | None => return Err(at("unterminated label value")),
                        Some((_, c)) => v.push(c),
                    }
                };
                labels.push((key.to_string(), v));
                r = &r[end + 1..];
                if let Some(after) = r.strip_prefix(',') {
                    r = after;
                } else if !r.starts_with('}') {
                    return Err(at("expected , or }"));
                }
            }
            r
        } else {
            rest
        };
        let mut fields = rest
            .strip_prefix(' ')
            .ok_or_else(|| at("no space before value"))?
            .split(' ');
        let v = fields
            .next()
            .and_then(value)
            .ok_or_else(|| at("bad value"))?;
        if let Some(ts) = fields.next() {
            ts.parse::<i64>().map_err(|_| at("bad timestamp"))?;
        }
        if fields.next().is_some() {
            return Err(at("trailing fields"));
        }
        // The family a sample belongs to: its own name, or for histograms
        // and summaries the name without the suffix.
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suf| {
                name.strip_suffix(suf).filter(|b| {
                    types
                        .get(*b)
                        .is_some_and(|t| t == "histogram" || t == "summary")
                })
            })
            .unwrap_or(name);
        if !types.contains_key(family) {
            return Err(at("sample before its TYPE"));
        }
        if current.as_deref() != Some(family) || finished.contains(family) {
            return Err(at("family is not contiguous"));
        }
        if !series.insert((name.to_string(), labels.clone())) {
            return Err(at("duplicate series"));
        }
        out.push(Sample {
            name: name.to_string(),
            labels,
            value: v,
        });
    }
    Ok(out)
}

#[test]
fn the_exposition_reader_rejects_what_it_should() {
    for bad in [
        "x 1",                                      // no final newline
        "x 1\n",                                    // no TYPE
        "# TYPE x counter\nx{a=b} 1\n",             // unquoted
        "# TYPE x counter\nx{a=\"b\",a=\"c\"} 1\n", // duplicate label
        "# TYPE x counter\nx one\n",                // bad value
        "# TYPE x counter\n# TYPE x counter\nx 1\n",
        "# TYPE x counter\nx 1\nx 2\n",            // duplicate series
        "# TYPE x counter\n# TYPE y gauge\nx 1\n", // not contiguous
        "# TYPE 1x counter\n1x 1\n",
        "# TYPE x counter\nx{a=\"\\q\"} 1\n", // bad escape
    ] {
        assert!(parse_exposition(bad).is_err(), "accepted {bad:?}");
    }
    let ok =
        "# HELP x help\n# TYPE x counter\nx{a=\"q\\\"\\\\\"} 1 123\n# TYPE y gauge\ny -1.5e3\n";
    let s = parse_exposition(ok).unwrap();
    assert_eq!(s[0].labels, vec![("a".to_string(), "q\"\\".to_string())]);
    assert_eq!(s[1].value, -1500.0);
}

#[tokio::test]
async fn an_edited_policy_file_reloads_and_a_broken_one_keeps_the_rules_in_force() {
    let up = upstream::start(Behaviour::Echo).await;
    let dir = tempfile::tempdir().unwrap();
    common::gateway::make_pki(dir.path());
    let policy = dir.path().join("policy.toml");
    let allow = |who: &str| {
        format!(
            "[[rule]]\ncaller = \"{}\"\nagent = \"scheduler\"\napp_only = true\n",
            id(who)
        )
    };
    std::fs::write(&policy, allow("orchestrator")).unwrap();
    let gw = TestGateway::start_in(
        dir.path(),
        Options::new()
            .agent("scheduler", &up.url())
            .gateway(&format!("policy = \"{}\"", policy.display())),
    )
    .await;
    assert!(gw.running.current().files.iter().any(|f| f == &policy));
    assert_eq!(
        gw.send_message("orchestrator", "scheduler", None).await.0,
        StatusCode::OK
    );

    std::fs::write(&policy, allow("tool")).unwrap();
    gw.reload().expect("reload");
    assert_eq!(
        gw.send_message("orchestrator", "scheduler", None).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        gw.send_message("tool", "scheduler", None).await.0,
        StatusCode::OK
    );

    // A broken policy is refused whole; the rules in force stay.
    std::fs::write(
        &policy,
        format!("{}[[rule]]\ncaller = \"{}\"\nagent = \"scheduler\"\neffect = \"deny\"\nscopes = [\"x\"]\n", allow("orchestrator"), id("tool")),
    )
    .unwrap();
    let err = gw
        .reload()
        .expect_err("a broken policy must not load")
        .to_string();
    assert!(
        err.contains("rule[1].scopes: a deny rule grants nothing"),
        "{err}"
    );
    assert_eq!(
        gw.send_message("tool", "scheduler", None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        gw.send_message("orchestrator", "scheduler", None).await.0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn the_token_exchange_honours_deny_rules_lifetime_caps_and_approval() {
    use common::exchange::request;
    let up = upstream::start(Behaviour::Echo).await;
    let mut o = Options::new()
        .agent("scheduler", &up.url())
        .agent("notifier", &up.url())
        .agent("tool", &up.url())
        .tokens("ttl = \"10m\"")
        .raw("[approvals]\ndir = \"approvals\"\n");
    o.rules.push(format!(
        "[[rule]]\ncaller = \"{}\"\nagent = [\"scheduler\", \"notifier\", \"tool\"]\nscopes = [\"calendar:read\"]\nmax_token_lifetime = \"2m\"\n",
        id("orchestrator")
    ));
    // A deny for one operation: the exchanged token could be used for it
    // directly at the agent, so no token is issued.
    o.rules.push(format!(
        "[[rule]]\neffect = \"deny\"\ncaller = \"{}\"\nagent = \"notifier\"\noperations = [\"CancelTask\"]\n",
        id("orchestrator")
    ));
    // Needs a person per call: never a token for direct use. Written first,
    // so it is the allow rule that decides for the tool.
    o.rules.insert(
        0,
        format!(
            "[[rule]]\ncaller = \"{}\"\nagent = \"tool\"\nscopes = [\"calendar:read\"]\napproval = \"human\"\n",
            id("orchestrator")
        ),
    );
    let gw = TestGateway::start(o).await;
    let user = gw.user_token(json!({}));

    let a = gw
        .exchange("orchestrator", &request(&user, "scheduler", &[]))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["expires_in"], 120, "{}", a.body);
    let c = claims(&a.token());
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 120);

    let a = gw
        .exchange("orchestrator", &request(&user, "notifier", &[]))
        .await;
    a.assert_error(400, "invalid_target");
    // The proxy route still allows the operations the deny does not name.
    let (s, _, body) = gw
        .send_message("orchestrator", "notifier", Some(&user))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");

    let a = gw
        .exchange("orchestrator", &request(&user, "tool", &[]))
        .await;
    a.assert_error(400, "invalid_target");
    assert!(a.description().contains("approval"), "{}", a.body);
}
