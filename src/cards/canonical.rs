//! Card canonicalisation for signatures (A2A v1.0 §8.4.1, reference §3):
//! proto field-presence rules, then RFC 8785 JCS.
//!
//! Presence rules, applied per message type of `lf.a2a.v1`:
//! - REQUIRED fields are always emitted, with the proto default when absent
//!   (`"description":""`, `"skills":[]`);
//! - proto `optional` fields are emitted when present, even at the default
//!   (`"streaming":false` stays);
//! - other fields are omitted when they hold the default (`""`, `false`, `0`,
//!   empty array, empty map); message-typed fields and oneof members have
//!   presence, so a set message stays even when it is `{}`
//!   (`{"mtlsSecurityScheme":{}}`);
//! - map entries are always emitted (proto maps have no default entries), so a
//!   scope-less requirement term stays as `"workload-mtls":{}`: the entry is
//!   present, its `StringList` value serialises with the empty repeated `list`
//!   omitted. This deliberately differs from a2a-sdk 1.3.0, which drops the
//!   whole term and so leaves mTLS requirements unsigned (reference §3);
//! - `signatures` is excluded; `null` means unset;
//! - members the schema does not know (vendor extensions, v0.3 members) are
//!   kept when not default-valued and copied verbatim below that level, so they
//!   are covered by the signature too.
//!
//! JCS is the `serde_jcs` crate (UTF-16 member ordering, ECMAScript number
//! formatting via `ryu-js`, RFC 8785 string escaping).

use serde_json::{Map, Value};

#[derive(Clone, Copy)]
enum Ty {
    Card,
    Interface,
    Provider,
    Capabilities,
    Extension,
    Scheme,
    ApiKey,
    Http,
    OAuth2,
    Oidc,
    Mtls,
    Flows,
    AuthCodeFlow,
    ClientCredentialsFlow,
    DeviceCodeFlow,
    ImplicitFlow,
    PasswordFlow,
    Requirement,
    StringList,
    Skill,
}

#[derive(Clone, Copy, PartialEq)]
enum Presence {
    Required,
    Optional,
    Plain,
}

#[derive(Clone, Copy)]
enum Shape {
    Str,
    Bool,
    RepStr,
    MapStr,
    /// `google.protobuf.Struct` and other free-form JSON: verbatim.
    Any,
    Msg(Ty),
    RepMsg(Ty),
    MapMsg(Ty),
    /// A oneof member: present means emitted, even as `{}`.
    OneOf(Ty),
}

use Presence::*;
use Shape::*;

fn fields(ty: Ty) -> &'static [(&'static str, Presence, Shape)] {
    match ty {
        Ty::Card => &[
            ("name", Required, Str),
            ("description", Required, Str),
            ("version", Required, Str),
            ("supportedInterfaces", Required, RepMsg(Ty::Interface)),
            ("provider", Plain, Msg(Ty::Provider)),
            ("documentationUrl", Optional, Str),
            ("iconUrl", Optional, Str),
            ("capabilities", Required, Msg(Ty::Capabilities)),
            ("securitySchemes", Plain, MapMsg(Ty::Scheme)),
            ("securityRequirements", Plain, RepMsg(Ty::Requirement)),
            ("defaultInputModes", Required, RepStr),
            ("defaultOutputModes", Required, RepStr),
            ("skills", Required, RepMsg(Ty::Skill)),
        ],
        Ty::Interface => &[
            ("url", Required, Str),
            ("protocolBinding", Required, Str),
            ("tenant", Plain, Str),
            ("protocolVersion", Required, Str),
        ],
        Ty::Provider => &[("url", Required, Str), ("organization", Required, Str)],
        Ty::Capabilities => &[
            ("streaming", Optional, Bool),
            ("pushNotifications", Optional, Bool),
            ("extensions", Plain, RepMsg(Ty::Extension)),
            ("extendedAgentCard", Optional, Bool),
        ],
        Ty::Extension => &[
            ("uri", Required, Str),
            ("description", Plain, Str),
            ("required", Plain, Bool),
            ("params", Plain, Any),
        ],
        Ty::Scheme => &[
            ("apiKeySecurityScheme", Plain, OneOf(Ty::ApiKey)),
            ("httpAuthSecurityScheme", Plain, OneOf(Ty::Http)),
            ("oauth2SecurityScheme", Plain, OneOf(Ty::OAuth2)),
            ("openIdConnectSecurityScheme", Plain, OneOf(Ty::Oidc)),
            ("mtlsSecurityScheme", Plain, OneOf(Ty::Mtls)),
        ],
        Ty::ApiKey => &[
            ("description", Plain, Str),
            ("location", Required, Str),
            ("name", Required, Str),
        ],
        Ty::Http => &[
            ("description", Plain, Str),
            ("scheme", Required, Str),
            ("bearerFormat", Plain, Str),
        ],
        Ty::OAuth2 => &[
            ("description", Plain, Str),
            ("flows", Required, Msg(Ty::Flows)),
            ("oauth2MetadataUrl", Plain, Str),
        ],
        Ty::Oidc => &[
            ("description", Plain, Str),
            ("openIdConnectUrl", Required, Str),
        ],
        Ty::Mtls => &[("description", Plain, Str)],
        Ty::Flows => &[
            ("authorizationCode", Plain, OneOf(Ty::AuthCodeFlow)),
            ("clientCredentials", Plain, OneOf(Ty::ClientCredentialsFlow)),
            ("deviceCode", Plain, OneOf(Ty::DeviceCodeFlow)),
            ("implicit", Plain, OneOf(Ty::ImplicitFlow)),
            ("password", Plain, OneOf(Ty::PasswordFlow)),
        ],
        Ty::AuthCodeFlow => &[
            ("authorizationUrl", Required, Str),
            ("tokenUrl", Required, Str),
            ("refreshUrl", Plain, Str),
            ("scopes", Required, MapStr),
            ("pkceRequired", Plain, Bool),
        ],
        Ty::ClientCredentialsFlow | Ty::PasswordFlow => &[
            ("tokenUrl", Required, Str),
            ("refreshUrl", Plain, Str),
            ("scopes", Required, MapStr),
        ],
        Ty::DeviceCodeFlow => &[
            ("deviceAuthorizationUrl", Required, Str),
            ("tokenUrl", Required, Str),
            ("refreshUrl", Plain, Str),
            ("scopes", Required, MapStr),
        ],
        Ty::ImplicitFlow => &[
            ("authorizationUrl", Required, Str),
            ("refreshUrl", Plain, Str),
            ("scopes", Required, MapStr),
        ],
        Ty::Requirement => &[("schemes", Plain, MapMsg(Ty::StringList))],
        Ty::StringList => &[("list", Plain, RepStr)],
        Ty::Skill => &[
            ("id", Required, Str),
            ("name", Required, Str),
            ("description", Required, Str),
            ("tags", Required, RepStr),
            ("examples", Plain, RepStr),
            ("inputModes", Plain, RepStr),
            ("outputModes", Plain, RepStr),
            ("securityRequirements", Plain, RepMsg(Ty::Requirement)),
        ],
    }
}

/// The proto default of a field's JSON value.
fn is_default(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

fn default_of(shape: Shape) -> Value {
    match shape {
        Str => Value::String(String::new()),
        Bool => Value::Bool(false),
        RepStr | RepMsg(_) => Value::Array(Vec::new()),
        Msg(t) | OneOf(t) => message(t, &Map::new()),
        MapStr | MapMsg(_) | Any => Value::Object(Map::new()),
    }
}

fn value(shape: Shape, v: &Value) -> Value {
    match (shape, v) {
        (Msg(t) | OneOf(t), Value::Object(m)) => message(t, m),
        (RepMsg(t), Value::Array(a)) => Value::Array(
            a.iter()
                .map(|e| match e {
                    Value::Object(m) => message(t, m),
                    other => other.clone(),
                })
                .collect(),
        ),
        (MapMsg(t), Value::Object(m)) => Value::Object(
            m.iter()
                .map(|(k, e)| {
                    let e = match e {
                        Value::Object(m) => message(t, m),
                        // `null` map values are ProtoJSON for the default message.
                        Value::Null => message(t, &Map::new()),
                        other => other.clone(),
                    };
                    (k.clone(), e)
                })
                .collect(),
        ),
        // Shapes that do not match the schema are kept verbatim: the
        // signature must cover whatever was published.
        _ => v.clone(),
    }
}

fn message(ty: Ty, m: &Map<String, Value>) -> Value {
    let spec = fields(ty);
    let mut out = Map::new();
    for &(name, presence, shape) in spec {
        let v = m.get(name).filter(|v| !v.is_null());
        let keep = match (presence, shape, v) {
            (Required, _, None) => {
                out.insert(name.into(), default_of(shape));
                continue;
            }
            (_, _, None) => false,
            (Required | Optional, _, Some(_)) => true,
            (Plain, Msg(_) | OneOf(_), Some(v)) => v.is_object() || !is_default(v),
            (Plain, _, Some(v)) => !is_default(v),
        };
        if let (true, Some(v)) = (keep, v) {
            out.insert(name.into(), value(shape, v));
        }
    }
    for (k, v) in m {
        let known = spec.iter().any(|(n, _, _)| n == k);
        let excluded = matches!(ty, Ty::Card) && k == "signatures";
        if !known && !excluded && !is_default(v) {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

/// The card after the presence rules (no `signatures`), before JCS.
pub fn presence_normalised(card: &Value) -> Value {
    match card {
        Value::Object(m) => message(Ty::Card, m),
        other => other.clone(),
    }
}

/// The signed bytes of a card: presence rules, then RFC 8785 JCS.
/// Fails only on non-finite numbers, which JSON input cannot contain.
pub fn canonicalize(card: &Value) -> Result<Vec<u8>, serde_json::Error> {
    jcs(&presence_normalised(card))
}

/// RFC 8785 JCS of any JSON value.
pub fn jcs(v: &Value) -> Result<Vec<u8>, serde_json::Error> {
    serde_jcs::to_vec(v)
}

#[cfg(test)]
#[path = "canonical_tests.rs"]
mod tests;
