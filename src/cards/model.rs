//! The typed A2A v1.0 Agent Card (`lf.a2a.v1.AgentCard`, ProtoJSON camelCase).
//!
//! v0.3 cards are normalised into this model by [`super::parse_card`]. Every
//! message keeps the members it does not know in `extra`, so a parse →
//! rewrite → serialise round trip never loses data an upstream published.
//! Serialisation omits unset optional fields and empty non-required
//! collections, as ProtoJSON does.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// `message AgentCard` (reference §1.2).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentCard {
    pub name: String,
    pub description: String,
    pub version: String,
    /// Ordered; the first entry is the preferred interface (§8.3).
    pub supported_interfaces: Vec<AgentInterface>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<AgentProvider>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documentation_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon_url: Option<String>,
    pub capabilities: AgentCapabilities,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub security_schemes: BTreeMap<String, SecurityScheme>,
    /// OR of alternatives; each alternative is an AND of schemes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_requirements: Vec<SecurityRequirement>,
    pub default_input_modes: Vec<String>,
    pub default_output_modes: Vec<String>,
    pub skills: Vec<AgentSkill>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<AgentCardSignature>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl AgentCard {
    /// The card as ProtoJSON. Serialising plain data cannot fail; `Null` is
    /// returned only if a foreign `extra` value somehow refused to serialise.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The skill with this `id`, if the card declares it.
    pub fn skill(&self, id: &str) -> Option<&AgentSkill> {
        self.skills.iter().find(|s| s.id == id)
    }
}

/// `message AgentInterface`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentInterface {
    pub url: String,
    /// `JSONRPC`, `GRPC`, `HTTP+JSON` or a URI for a custom binding.
    pub protocol_binding: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tenant: String,
    /// `Major.Minor` (v0.3 cards may carry `"0.3.0"`; compare on Major.Minor).
    pub protocol_version: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `message AgentProvider`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentProvider {
    pub url: String,
    pub organization: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `message AgentCapabilities`; the booleans are proto `optional`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentCapabilities {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streaming: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_notifications: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<AgentExtension>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extended_agent_card: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `message AgentExtension`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentExtension {
    pub uri: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `message SecurityScheme`: a oneof, written as one wrapper key (table 2.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SecurityScheme {
    #[serde(rename = "apiKeySecurityScheme")]
    ApiKey(ApiKeySecurityScheme),
    #[serde(rename = "httpAuthSecurityScheme")]
    HttpAuth(HttpAuthSecurityScheme),
    #[serde(rename = "oauth2SecurityScheme")]
    OAuth2(Box<OAuth2SecurityScheme>),
    #[serde(rename = "openIdConnectSecurityScheme")]
    OpenIdConnect(OpenIdConnectSecurityScheme),
    #[serde(rename = "mtlsSecurityScheme")]
    Mtls(MtlsSecurityScheme),
}

impl SecurityScheme {
    /// The v1.0 oneof key, e.g. `mtlsSecurityScheme`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ApiKey(_) => "apiKeySecurityScheme",
            Self::HttpAuth(_) => "httpAuthSecurityScheme",
            Self::OAuth2(_) => "oauth2SecurityScheme",
            Self::OpenIdConnect(_) => "openIdConnectSecurityScheme",
            Self::Mtls(_) => "mtlsSecurityScheme",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeySecurityScheme {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// `query`, `header` or `cookie` (v0.3 `in`).
    pub location: String,
    pub name: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpAuthSecurityScheme {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// IANA scheme name, e.g. `Bearer` (compare case-insensitively).
    pub scheme: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bearer_format: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuth2SecurityScheme {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub flows: OAuthFlows,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub oauth2_metadata_url: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `message OAuthFlows`. The proto makes this a oneof (one flow per scheme);
/// v0.3 (OpenAPI) allowed several, so all are optional here.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthFlows {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_code: Option<OAuthFlow>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_credentials: Option<OAuthFlow>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_code: Option<OAuthFlow>,
    /// Deprecated in v1.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implicit: Option<OAuthFlow>,
    /// Deprecated in v1.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<OAuthFlow>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl OAuthFlows {
    /// Every flow present, in proto field order.
    pub fn iter(&self) -> impl Iterator<Item = &OAuthFlow> {
        [
            &self.authorization_code,
            &self.client_credentials,
            &self.device_code,
            &self.implicit,
            &self.password,
        ]
        .into_iter()
        .flatten()
    }
}

/// One OAuth flow; the union of the fields of the five flow messages.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthFlow {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub authorization_url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub device_authorization_url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub token_url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub refresh_url: String,
    #[serde(default)]
    pub scopes: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkce_required: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenIdConnectSecurityScheme {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub open_id_connect_url: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MtlsSecurityScheme {
    /// The only field: certificate policy can be described, not expressed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `message SecurityRequirement`: `{"schemes": {name: {"list": [scopes]}}}`,
/// an AND of the named schemes, each with the scopes it needs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SecurityRequirement {
    #[serde(default)]
    pub schemes: BTreeMap<String, StringList>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl SecurityRequirement {
    /// A requirement from `(scheme, scopes)` terms.
    pub fn of<'a>(terms: impl IntoIterator<Item = (&'a str, &'a [&'a str])>) -> Self {
        let schemes = terms
            .into_iter()
            .map(|(name, scopes)| {
                let list = scopes.iter().map(|s| s.to_string()).collect();
                (name.to_string(), StringList { list })
            })
            .collect();
        SecurityRequirement {
            schemes,
            extra: Map::new(),
        }
    }
}

/// `message StringList`. `{}` (what a2a-sdk emits for an empty list) and
/// `{"list": null}` both mean an empty list.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StringList {
    #[serde(default, deserialize_with = "null_as_default")]
    pub list: Vec<String>,
}

/// `message AgentSkill`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentSkill {
    pub id: String,
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_modes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output_modes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_requirements: Vec<SecurityRequirement>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `message AgentCardSignature` (§8.4.2): a detached-payload JWS.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AgentCardSignature {
    /// BASE64URL of the protected header JSON.
    pub protected: String,
    /// BASE64URL of the signature bytes.
    pub signature: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<Map<String, Value>>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}
