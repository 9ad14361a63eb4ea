//! JSON Schemas of the configuration files (`actgate config schema`), for
//! editors: Taplo / Even Better TOML complete and check `actgate.toml`
//! against them. They are derived from the same structs the loader parses
//! into, so the field list and the doc comments (the config reference) are
//! the schema's properties and descriptions, and cannot drift apart.
//!
//! The schema checks shape only (names, types, enums, unknown keys); what
//! needs the files or the whole config (a key file exists, exactly one of
//! two fields, a rule names a known agent) is still `actgate config check`'s.

use std::borrow::Cow;

use schemars::generate::SchemaSettings;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};

use super::{AgentNames, RawConfig, RawEgressConfig};
use crate::token::SigningAlgorithm;

/// The schema of the gateway's config file (`actgate serve --config`).
pub fn gateway() -> serde_json::Value {
    root::<RawConfig>("actgate gateway configuration")
}

/// The schema of the egress sidecar's config file (`actgate egress --config`).
pub fn egress() -> serde_json::Value {
    root::<RawEgressConfig>("actgate egress sidecar configuration")
}

/// Draft-07: the dialect TOML editor tooling (Taplo) and most validators
/// understand; newer drafts are not read everywhere.
fn root<T: JsonSchema>(title: &str) -> serde_json::Value {
    let mut schema = SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<T>();
    schema.insert("title".into(), title.into());
    let mut value = schema.to_value();
    drop_null(&mut value);
    value
}

/// TOML has no null: an optional key is one left out. schemars writes
/// `Option<T>` as "T or null"; take the null out, so editors never offer it.
fn drop_null(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if let [only] = types.as_slice() {
                    let only = only.clone();
                    map.insert("type".into(), only);
                }
            }
            if let Some(Value::Array(any)) = map.get_mut("anyOf") {
                any.retain(|s| s.get("type").is_none_or(|t| t != "null"));
                // One alternative left: `allOf`, whose failures validators
                // report as the inner schema's own (the key at fault), where
                // `anyOf` says only "not valid under any".
                if any.len() == 1 && !map.contains_key("allOf") {
                    if let Some(one) = map.remove("anyOf") {
                        map.insert("allOf".into(), one);
                    }
                }
            }
            map.values_mut().for_each(drop_null);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_null),
        _ => {}
    }
}

/// `agent = "name"`, `["a", "b"]` or `"*"`: what its `Deserialize` accepts.
impl JsonSchema for AgentNames {
    fn schema_name() -> Cow<'static, str> {
        "AgentNames".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A name, a list of names, or \"*\" for all.",
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string"}}
            ]
        })
    }
}

/// The JOSE names `SigningAlgorithm` deserializes from.
impl JsonSchema for SigningAlgorithm {
    fn schema_name() -> Cow<'static, str> {
        "SigningAlgorithm".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        // The match is exhaustive so that a new algorithm stops this from
        // compiling: add it to the list as well.
        let names: Vec<&str> = [SigningAlgorithm::Es256, SigningAlgorithm::EdDsa]
            .into_iter()
            .map(|a| match a {
                SigningAlgorithm::Es256 | SigningAlgorithm::EdDsa => a.jose_name(),
            })
            .collect();
        json_schema!({
            "type": "string",
            "enum": names
        })
    }
}

/// A key the loader refuses whatever its value (`[state] url`): `false`,
/// so an editor flags it as soon as it is written.
pub(super) fn refused(_: &mut SchemaGenerator) -> Schema {
    Schema::from(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_name_in_the_schema_parses() {
        let s = gateway();
        let names = &s["definitions"]["SigningAlgorithm"]["enum"];
        let names = names.as_array().expect("an enum of names");
        assert_eq!(names.len(), 2);
        for n in names {
            let parsed: SigningAlgorithm = serde_json::from_value(n.clone()).unwrap();
            assert_eq!(parsed.jose_name(), n);
        }
    }

    #[test]
    fn fields_carry_their_doc_comments_and_unknown_keys_are_refused() {
        let s = gateway();
        let gw = &s["definitions"]["GatewaySection"];
        assert_eq!(gw["additionalProperties"], false);
        let listen = gw["properties"]["listen"]["description"].as_str().unwrap();
        assert!(listen.contains("mTLS listener"), "{listen}");
        assert_eq!(s["additionalProperties"], false);
        assert_eq!(s["title"], "actgate gateway configuration");
        let required = s["required"].as_array().unwrap();
        for section in ["gateway", "tokens", "cards"] {
            assert!(
                required.contains(&section.into()),
                "{section}: {required:?}"
            );
        }
        let e = egress();
        assert!(e["properties"]["egress"].is_object(), "{e}");
    }
}
