//! Parsing Agent Cards: v1.0 as is, v0.3 normalised per reference §1.3.
//!
//! Errors name the JSON path of the offending member (`$.skills[1].name`) and
//! the reason, so a config error can point at the card line to fix.

use serde_json::{Map, Value};

use super::model::{AgentCard, SecurityRequirement};

/// Why a card was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    #[error("invalid JSON at line {line} column {column}: {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    /// `path` is a JSONPath such as `$.securityRequirements[0].schemes.corp`.
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
}

impl CardError {
    fn at(path: impl Into<String>, reason: impl Into<String>) -> Self {
        CardError::Invalid {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// Parse a v1.0 or v0.3 Agent Card into the v1.0 model.
///
/// v0.3 is recognised by a top-level `url`, `protocolVersion` or `security`,
/// or by a `type`-tagged security scheme. Every requirement (card- and
/// skill-level) must name a scheme declared in `securitySchemes`: a card
/// demanding a scheme nobody can look up is unenforceable, so it is refused.
pub fn parse_card(json: &[u8]) -> Result<AgentCard, CardError> {
    let value: Value = serde_json::from_slice(json).map_err(|e| CardError::Json {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    super::dupkeys::check(json)?;
    parse_card_value(value)
}

/// [`parse_card`] for an already-decoded JSON value.
pub fn parse_card_value(value: Value) -> Result<AgentCard, CardError> {
    let Value::Object(mut obj) = value else {
        return Err(CardError::at("$", "an Agent Card must be a JSON object"));
    };
    let v03 = is_v03(&obj);
    if v03 {
        normalise_v03(&mut obj)?;
    }
    let card: AgentCard = serde_path_to_error::deserialize(Value::Object(obj)).map_err(|e| {
        let path = json_path(e.path());
        let msg = e.inner().to_string();
        match missing_field(&msg) {
            Some(field) => CardError::at(
                format!("{}.{field}", path.trim_end_matches('.')),
                "required field missing",
            ),
            None => CardError::at(path, msg),
        }
    })?;
    validate(&card, v03)?;
    Ok(card)
}

fn missing_field(msg: &str) -> Option<&str> {
    msg.strip_prefix("missing field `")?.split('`').next()
}

fn json_path(p: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::from("$");
    for seg in p.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } => {
                out.push('.');
                out.push_str(key);
            }
            Segment::Enum { variant } => {
                out.push('.');
                out.push_str(variant);
            }
            Segment::Unknown => out.push_str(".?"),
        }
    }
    out
}

/// `v03`: report reference errors at the v0.3 paths the author wrote
/// (`$.security[0].corp`), not at the normalised ones.
fn validate(card: &AgentCard, v03: bool) -> Result<(), CardError> {
    if card.supported_interfaces.is_empty() {
        return Err(CardError::at(
            "$.supportedInterfaces",
            "must list at least one interface",
        ));
    }
    let (field, term) = if v03 {
        ("security", "")
    } else {
        ("securityRequirements", ".schemes")
    };
    check_refs(
        card,
        &card.security_requirements,
        &format!("$.{field}"),
        term,
    )?;
    for (i, skill) in card.skills.iter().enumerate() {
        let base = format!("$.skills[{i}].{field}");
        check_refs(card, &skill.security_requirements, &base, term)?;
    }
    Ok(())
}

fn check_refs(
    card: &AgentCard,
    reqs: &[SecurityRequirement],
    base: &str,
    term: &str,
) -> Result<(), CardError> {
    for (i, req) in reqs.iter().enumerate() {
        for name in req.schemes.keys() {
            if !card.security_schemes.contains_key(name) {
                return Err(CardError::at(
                    format!("{base}[{i}]{term}.{name}"),
                    format!("references unknown security scheme \"{name}\""),
                ));
            }
        }
    }
    Ok(())
}

fn is_v03(obj: &Map<String, Value>) -> bool {
    ["url", "protocolVersion", "security", "preferredTransport"]
        .iter()
        .any(|k| obj.contains_key(*k))
        || obj
            .get("securitySchemes")
            .and_then(Value::as_object)
            .is_some_and(|s| s.values().any(|v| v.get("type").is_some()))
}

/// `"0.3.0"` → `"0.3"`; the v1.0 interface version is `Major.Minor` (§3.6).
fn major_minor(v: &str) -> String {
    let mut parts = v.split('.');
    match (parts.next(), parts.next()) {
        (Some(a), Some(b)) => format!("{a}.{b}"),
        _ => v.to_string(),
    }
}

fn normalise_v03(obj: &mut Map<String, Value>) -> Result<(), CardError> {
    // Interfaces: url + preferredTransport first, then additionalInterfaces,
    // deduplicated on (url, binding): the main one usually reappears there.
    let version = match obj.remove("protocolVersion") {
        None => "0.3".to_string(),
        Some(Value::String(s)) => major_minor(&s),
        Some(_) => return Err(CardError::at("$.protocolVersion", "must be a string")),
    };
    let mut ifaces: Vec<Value> = match obj.remove("supportedInterfaces") {
        Some(Value::Array(a)) => a,
        Some(_) => return Err(CardError::at("$.supportedInterfaces", "must be an array")),
        None => Vec::new(),
    };
    let transport = match obj.remove("preferredTransport") {
        None => "JSONRPC".to_string(),
        Some(Value::String(s)) => s,
        Some(_) => return Err(CardError::at("$.preferredTransport", "must be a string")),
    };
    let mut v03: Vec<Value> = Vec::new();
    match obj.remove("url") {
        None => {}
        Some(Value::String(url)) => v03.push(serde_json::json!({
            "url": url, "protocolBinding": transport, "protocolVersion": version,
        })),
        Some(_) => return Err(CardError::at("$.url", "must be a string")),
    }
    match obj.remove("additionalInterfaces") {
        None => {}
        Some(Value::Array(extra)) => {
            for (i, iface) in extra.into_iter().enumerate() {
                let Value::Object(mut m) = iface else {
                    let p = format!("$.additionalInterfaces[{i}]");
                    return Err(CardError::at(p, "must be an object"));
                };
                if let Some(t) = m.remove("transport") {
                    m.insert("protocolBinding".into(), t);
                }
                m.entry("protocolVersion")
                    .or_insert_with(|| Value::String(version.clone()));
                v03.push(Value::Object(m));
            }
        }
        Some(_) => return Err(CardError::at("$.additionalInterfaces", "must be an array")),
    }
    for iface in v03 {
        let same = |o: &Value| {
            o.get("url") == iface.get("url")
                && o.get("protocolBinding") == iface.get("protocolBinding")
        };
        if !ifaces.iter().any(same) {
            ifaces.push(iface);
        }
    }
    obj.insert("supportedInterfaces".into(), Value::Array(ifaces));

    // Extended card flag, under either legacy spelling.
    for key in [
        "supportsAuthenticatedExtendedCard",
        "supportsExtendedAgentCard",
    ] {
        if let Some(flag) = obj.remove(key) {
            let caps = obj
                .entry("capabilities")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(c) = caps {
                c.entry("extendedAgentCard").or_insert(flag);
            }
        }
    }
    if let Some(Value::Object(c)) = obj.get_mut("capabilities") {
        c.remove("stateTransitionHistory"); // removed in v1.0
    }

    if let Some(schemes) = obj.get_mut("securitySchemes") {
        let Value::Object(schemes) = schemes else {
            return Err(CardError::at("$.securitySchemes", "must be an object"));
        };
        for (name, scheme) in schemes.iter_mut() {
            normalise_scheme(name, scheme)?;
        }
    }
    if let Some(sec) = obj.remove("security") {
        // A card carrying both spellings is ambiguous: using either one could
        // silently drop requirements the author meant the other to state.
        if obj.contains_key("securityRequirements") {
            return Err(CardError::at(
                "$.security",
                "both \"security\" (v0.3) and \"securityRequirements\" (v1.0) are present; keep one",
            ));
        }
        let reqs = requirements_v03(sec, "$.security")?;
        obj.insert("securityRequirements".into(), reqs);
    }
    if let Some(Value::Array(skills)) = obj.get_mut("skills") {
        for (i, skill) in skills.iter_mut().enumerate() {
            if let Value::Object(s) = skill {
                if let Some(sec) = s.remove("security") {
                    if s.contains_key("securityRequirements") {
                        return Err(CardError::at(
                            format!("$.skills[{i}].security"),
                            "both \"security\" (v0.3) and \"securityRequirements\" (v1.0) are present; keep one",
                        ));
                    }
                    let reqs = requirements_v03(sec, &format!("$.skills[{i}].security"))?;
                    s.insert("securityRequirements".into(), reqs);
                }
            }
        }
    }
    Ok(())
}

/// `{"type": "apiKey", "in": ...}` → `{"apiKeySecurityScheme": {"location": ...}}`.
fn normalise_scheme(name: &str, scheme: &mut Value) -> Result<(), CardError> {
    let Value::Object(m) = scheme else {
        let p = format!("$.securitySchemes.{name}");
        return Err(CardError::at(p, "must be an object"));
    };
    let Some(ty) = m.remove("type") else {
        return Ok(()); // already v1.0
    };
    let key = match ty.as_str() {
        Some("apiKey") => "apiKeySecurityScheme",
        Some("http") => "httpAuthSecurityScheme",
        Some("oauth2") => "oauth2SecurityScheme",
        Some("openIdConnect") => "openIdConnectSecurityScheme",
        Some("mutualTLS") => "mtlsSecurityScheme",
        _ => {
            return Err(CardError::at(
                format!("$.securitySchemes.{name}.type"),
                format!("unknown security scheme type {ty}"),
            ))
        }
    };
    if let Some(loc) = m.remove("in") {
        m.insert("location".into(), loc);
    }
    let inner = std::mem::take(m);
    m.insert(key.into(), Value::Object(inner));
    Ok(())
}

/// `[{"name": [scopes]}]` → `[{"schemes": {"name": {"list": [scopes]}}}]`.
fn requirements_v03(sec: Value, path: &str) -> Result<Value, CardError> {
    let Value::Array(alts) = sec else {
        return Err(CardError::at(path, "must be an array"));
    };
    let mut out = Vec::with_capacity(alts.len());
    for (i, alt) in alts.into_iter().enumerate() {
        let Value::Object(terms) = alt else {
            return Err(CardError::at(format!("{path}[{i}]"), "must be an object"));
        };
        let mut schemes = Map::new();
        for (name, scopes) in terms {
            if !scopes.is_array() {
                let p = format!("{path}[{i}].{name}");
                return Err(CardError::at(p, "scopes must be an array of strings"));
            }
            schemes.insert(name, serde_json::json!({ "list": scopes }));
        }
        out.push(serde_json::json!({ "schemes": schemes }));
    }
    Ok(Value::Array(out))
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
