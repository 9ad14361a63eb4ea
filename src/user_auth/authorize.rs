//! `GET /oauth2/authorize`: the request checked (RFC 6749 §4.1.1 with
//! OAuth 2.1's PKCE for public clients, RFC 8707 `resource`,
//! draft-oauth-ai-agents-on-behalf-of-user's `requested_actor`), and its
//! refusals as RFC 6749 §4.1.2.1 says: a request whose client or redirect
//! URI cannot be trusted gets an error page and is never redirected (an
//! attacker could otherwise bounce a browser to any URL with our name on
//! it); every other error goes back to the verified redirect URI.

use crate::identity::SpiffeId;
use crate::user_auth::client::OAuthClients;

/// A request that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeRequest {
    pub client_id: String,
    pub redirect_uri: String,
    /// Echoed back unchanged; optional (PKCE carries the CSRF protection).
    pub state: Option<String>,
    /// The S256 challenge, base64url of 32 bytes.
    pub code_challenge: String,
    /// Sorted, deduplicated, each within the client's bound.
    pub scopes: Vec<String>,
    pub resource: String,
    /// The agent that will act for the person.
    pub actor: SpiffeId,
}

/// Why a request is refused, and how the browser is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Shown as a page; no redirect happens.
    Page(String),
    /// Sent back to the client's redirect URI.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        /// RFC 6749 §4.1.2.1 (or RFC 8707 `invalid_target`) code.
        error: &'static str,
        description: String,
    },
}

/// Check the query `params` (decoded, in order) against the registered
/// `clients`; `resource_known` says whether a resource is a registered
/// agent's (grants for MCP servers are not issued yet).
pub fn validate(
    params: &[(String, String)],
    clients: &OAuthClients,
    resource_known: impl Fn(&str) -> bool,
) -> Result<AuthorizeRequest, Refusal> {
    // The two parameters a redirect depends on, checked first. A repeated
    // one is ambiguous, so it is as untrusted as a missing one.
    let client_id = single(params, "client_id")
        .map_err(|_| Refusal::Page("client_id is repeated".into()))?
        .ok_or_else(|| Refusal::Page("the request names no client_id".into()))?;
    let client = clients
        .get(client_id)
        .ok_or_else(|| Refusal::Page(format!("no client is registered as {client_id:?}")))?;
    let redirect_uri = single(params, "redirect_uri")
        .map_err(|_| Refusal::Page("redirect_uri is repeated".into()))?
        .ok_or_else(|| Refusal::Page("the request names no redirect_uri".into()))?;
    if !client.redirects_to(redirect_uri) {
        return Err(Refusal::Page(format!(
            "{redirect_uri:?} is not a redirect URI registered for {client_id:?}"
        )));
    }
    // From here on the redirect URI is trusted: errors go back to it.
    let state = single(params, "state").ok().flatten().map(str::to_owned);
    // Kept with a pending consent and echoed to the client: bounded.
    if state.as_ref().is_some_and(|s| s.len() > MAX_STATE_BYTES) {
        return Err(Refusal::Redirect {
            redirect_uri: redirect_uri.to_owned(),
            state: None,
            error: "invalid_request",
            description: format!("state is longer than {MAX_STATE_BYTES} bytes"),
        });
    }
    let refuse = |error: &'static str, description: String| Refusal::Redirect {
        redirect_uri: redirect_uri.to_owned(),
        state: state.clone(),
        error,
        description,
    };
    let one = |name: &str| {
        single(params, name).map_err(|_| {
            refuse(
                "invalid_request",
                format!("{name} is repeated (RFC 6749 §3.1)"),
            )
        })
    };
    one("state")?;
    match one("response_type")? {
        Some("code") => {}
        Some(other) => {
            return Err(refuse(
                "unsupported_response_type",
                format!("response_type {other:?}: only \"code\" is supported"),
            ))
        }
        None => return Err(refuse("invalid_request", "response_type is missing".into())),
    }
    let code_challenge = pkce(one("code_challenge")?, one("code_challenge_method")?)
        .map_err(|why| refuse("invalid_request", why))?;
    let scopes = scopes(one("scope")?, client).map_err(|why| refuse("invalid_scope", why))?;
    let resource = match one("resource")? {
        Some(r) if resource_known(r) => r.to_owned(),
        Some(r) => {
            return Err(refuse(
                "invalid_target",
                format!("{r:?} is not the resource of a registered agent (grants for MCP servers are not issued yet)"),
            ))
        }
        None => {
            return Err(refuse(
                "invalid_target",
                "resource is missing: name the agent the token is for (RFC 8707)"
                    .into(),
            ))
        }
    };
    let actor =
        actor(one("requested_actor")?, client).map_err(|why| refuse("invalid_request", why))?;
    Ok(AuthorizeRequest {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        state,
        code_challenge,
        scopes,
        resource,
        actor,
    })
}

/// The one value of `name`: `Ok(None)` absent, `Err` repeated. An empty
/// value counts as absent (RFC 6749 §3.1).
/// Longest `state` kept (clients use a random value of a few dozen bytes).
const MAX_STATE_BYTES: usize = 512;

fn single<'a>(params: &'a [(String, String)], name: &str) -> Result<Option<&'a str>, ()> {
    let mut found = params
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str());
    let first = found.next();
    if found.next().is_some() {
        return Err(());
    }
    Ok(first.filter(|v| !v.is_empty()))
}

/// PKCE with S256 only: `plain` would hand the verifier to whoever sees
/// the authorization request, which is what PKCE protects against.
fn pkce(challenge: Option<&str>, method: Option<&str>) -> Result<String, String> {
    match method {
        Some("S256") => {}
        Some("plain") => {
            return Err("code_challenge_method plain is refused; use S256".into());
        }
        Some(other) => return Err(format!("code_challenge_method {other:?}: only S256")),
        None => {
            return Err(
                "code_challenge_method is missing: PKCE with S256 is required (public clients)"
                    .into(),
            )
        }
    }
    let c = challenge.ok_or("code_challenge is missing: PKCE is required")?;
    // BASE64URL(SHA256(verifier)) without padding is exactly 43 characters.
    let b64url = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    if c.len() != 43 || !c.bytes().all(b64url) {
        return Err("code_challenge is not an S256 challenge (43 base64url characters)".into());
    }
    Ok(c.to_owned())
}

fn scopes(
    scope: Option<&str>,
    client: &crate::user_auth::client::OAuthClient,
) -> Result<Vec<String>, String> {
    let mut list: Vec<String> = scope
        .ok_or("scope is missing: name what the agent may do")?
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    list.sort();
    list.dedup();
    if list.is_empty() {
        return Err("scope is empty".into());
    }
    if let Some(bad) = list.iter().find(|s| !client.scopes.contains(s)) {
        return Err(format!(
            "scope {bad:?} is beyond what client {:?} may ask for",
            client.client_id
        ));
    }
    Ok(list)
}

fn actor(
    requested: Option<&str>,
    client: &crate::user_auth::client::OAuthClient,
) -> Result<SpiffeId, String> {
    let raw = requested.ok_or("requested_actor is missing: name the agent that will act")?;
    let id = SpiffeId::parse(raw).map_err(|e| format!("requested_actor: {e}"))?;
    if !client.may_name(&id) {
        return Err(format!(
            "client {:?} may not name {raw:?} as the agent that acts",
            client.client_id
        ));
    }
    Ok(id)
}

/// `uri` with `params` appended to its query (RFC 6749 §4.1.2: the
/// redirect URI's own query is kept).
pub fn with_query(uri: &str, params: &[(&str, &str)]) -> String {
    let mut out = uri.to_owned();
    let mut sep = if uri.contains('?') { '&' } else { '?' };
    for (k, v) in params {
        out.push(sep);
        out.push_str(&encode(k));
        out.push('=');
        out.push_str(&encode(v));
        sep = '&';
    }
    out
}

/// Percent-encode everything but RFC 3986's unreserved characters.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Where a refused request is sent back to: `error`, `error_description`,
/// `state` when it had one, and `iss` (RFC 9207: the client can tell
/// which server answered).
pub fn error_location(refusal: &Refusal, issuer: &str) -> Option<String> {
    let Refusal::Redirect {
        redirect_uri,
        state,
        error,
        description,
    } = refusal
    else {
        return None;
    };
    let mut params = vec![
        ("error", *error),
        ("error_description", description.as_str()),
    ];
    if let Some(s) = state {
        params.push(("state", s));
    }
    params.push(("iss", issuer));
    Some(with_query(redirect_uri, &params))
}

#[cfg(test)]
#[path = "authorize_tests.rs"]
mod tests;
