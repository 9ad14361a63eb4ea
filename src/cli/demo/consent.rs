//! The demo's consent step: a person lets the orchestrator act for them,
//! through the `[authorize]` listener, logging in at the built-in demo IdP
//! ([`actgate::dev::example_idp`]). The demo drives the person's browser
//! itself (a cookie jar over HTTPS, the same requests a browser sends):
//! the authorization request, the IdP's sign-in form, the consent page
//! naming the agent, Allow; then the orchestrator redeems the code over
//! mTLS, calls the scheduler with the token, and the person revokes the
//! grant on the grants page, after which the refresh token is refused.

use std::path::Path;

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::Value;

use super::calls::{check, field, heading, print_claims, say, spiffe, Demo};
use super::steps::STEPS;
use actgate::dev::client::MtlsClient;
use actgate::user_auth::authorize::{encode, with_query};

/// Which step this is (before the audit step, which looks for its records).
pub const STEP: usize = 7;
/// The demo's client application and its redirect URI (loopback, RFC 8252;
/// nothing needs to listen there for `--once`: the redirect is read, not
/// followed).
pub const CLIENT_ID: &str = "planner-app";
pub const LOGIN_CLIENT_ID: &str = "actgate-demo";
/// The PKCE verifier of the demo's one authorization request.
const VERIFIER: &str = "demo-verifier-of-the-planner-app-0123456789-abcdefghij";

/// Where the person's side runs.
pub struct People<'a> {
    /// `https://localhost:PORT` of the `[authorize]` listener.
    pub authorize: String,
    pub redirect_uri: String,
    pub ca: &'a Path,
}

impl People<'_> {
    /// The URL a person opens to start (printed for trying by hand).
    pub fn authorization_url(&self, resource: &str) -> String {
        let challenge = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, VERIFIER.as_bytes()),
        );
        with_query(
            &format!("{}/oauth2/authorize", self.authorize),
            &[
                ("response_type", "code"),
                ("client_id", CLIENT_ID),
                ("redirect_uri", &self.redirect_uri),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("state", "demo"),
                ("scope", "calendar:read calendar:write notify:send"),
                ("resource", resource),
                ("requested_actor", &spiffe("orchestrator")),
            ],
        )
    }
}

/// A browser's cookies, as far as the demo needs them.
struct Browser {
    client: MtlsClient,
    cookies: Vec<(String, String)>,
}

impl Browser {
    async fn go(
        &mut self,
        method: Method,
        url: &str,
        form: Option<String>,
    ) -> anyhow::Result<(StatusCode, Option<String>, String)> {
        let mut h = HeaderMap::new();
        if !self.cookies.is_empty() {
            let c: Vec<String> = self
                .cookies
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect();
            h.insert("cookie", HeaderValue::from_str(&c.join("; "))?);
        }
        if form.is_some() {
            h.insert(
                "content-type",
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            );
            if let Some(origin) = actgate::user_auth::html::origin(url) {
                h.insert("origin", HeaderValue::from_str(&origin)?);
            }
        }
        let body = Bytes::from(form.unwrap_or_default());
        let (status, headers, body) = self
            .client
            .fetch(method, url, &h, body)
            .await
            .with_context(|| url.to_string())?;
        for set in headers.get_all("set-cookie") {
            let Some((name, value)) = set
                .to_str()?
                .split(';')
                .next()
                .and_then(|p| p.split_once('='))
            else {
                continue;
            };
            self.cookies.retain(|(n, _)| n != name);
            if !value.is_empty() {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
        let location = headers
            .get("location")
            .map(|l| l.to_str().map(str::to_owned))
            .transpose()?;
        Ok((
            status,
            location,
            String::from_utf8_lossy(&body).into_owned(),
        ))
    }
}

/// The value of the hidden input `name` on `page` (the demo's pages are
/// ours: attribute order and quoting are known).
fn hidden(page: &str, name: &str) -> anyhow::Result<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .ok_or_else(|| anyhow!("no {name} on the page"))?
        + marker.len();
    let end = page[start..]
        .find('"')
        .ok_or_else(|| anyhow!("{name} unterminated"))?;
    Ok(page[start..start + end].replace("&amp;", "&"))
}

fn absolute(base: &str, location: &str) -> String {
    if location.starts_with('/') {
        format!("{base}{location}")
    } else {
        location.to_owned()
    }
}

/// The person's side of the step: from the authorization URL to the code.
async fn consent_in_browser(
    b: &mut Browser,
    p: &People<'_>,
    resource: &str,
    idp: &str,
) -> anyhow::Result<String> {
    let (_, to_idp, _) = b
        .go(Method::GET, &p.authorization_url(resource), None)
        .await?;
    let to_idp = to_idp.ok_or_else(|| anyhow!("no redirect to the IdP"))?;
    field("sign in at", to_idp.split('?').next().unwrap_or_default());
    let (_, _, form) = b.go(Method::GET, &to_idp, None).await?;
    let login: Vec<String> = ["state", "nonce", "code_challenge"]
        .iter()
        .map(|n| hidden(&form, n).map(|v| format!("{n}={}", encode(&v))))
        .collect::<anyhow::Result<_>>()?;
    let body = format!("{}&login={}", login.join("&"), encode(super::USER));
    let (_, back, _) = b
        .go(Method::POST, &format!("{idp}/login"), Some(body))
        .await?;
    let back = back.ok_or_else(|| anyhow!("the IdP did not send the person back"))?;
    let (_, to_authorize, _) = b.go(Method::GET, &back, None).await?;
    let to_authorize = absolute(
        &p.authorize,
        &to_authorize.ok_or_else(|| anyhow!("no session"))?,
    );
    let (status, _, page) = b.go(Method::GET, &to_authorize, None).await?;
    if status != StatusCode::OK || !page.contains("id=\"actor\"") {
        bail!("no consent page ({status}): {page}");
    }
    say("the consent page names the agent and each right, from the cards:");
    for (label, id) in [
        ("asked by", "client"),
        ("agent", "actor"),
        ("on", "resource"),
    ] {
        let marker = format!("id=\"{id}\">");
        let v = page
            .split(&marker)
            .nth(1)
            .and_then(|r| r.split('<').next())
            .unwrap_or("-");
        field(label, v);
    }
    for item in page.split("<code class=\"scope\">").skip(1) {
        let scope = item.split('<').next().unwrap_or("-");
        let what = item
            .split("<span class=\"scope-description\">")
            .nth(1)
            .and_then(|r| r.split('<').next())
            .unwrap_or("");
        field("right", &format!("{scope}  {what}"));
    }
    let form = format!(
        "consent={}&csrf={}&scope=calendar%3Aread&scope=calendar%3Awrite&scope=notify%3Asend&decision=allow",
        encode(&hidden(&page, "consent")?),
        encode(&hidden(&page, "csrf")?)
    );
    let (_, to_client, _) = b
        .go(
            Method::POST,
            &format!("{}/oauth2/consent", p.authorize),
            Some(form),
        )
        .await?;
    let to_client = to_client.ok_or_else(|| anyhow!("no redirect to the client"))?;
    let q = to_client
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or_default();
    let params = actgate::token::form::parse(q.as_bytes())?;
    params
        .iter()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.clone())
        .ok_or_else(|| anyhow!("no code in {to_client}"))
}

async fn redeem(d: &Demo, pairs: &[(&str, &str)]) -> anyhow::Result<(StatusCode, Value)> {
    let body: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    let mut h = HeaderMap::new();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    let url = format!("{}/oauth2/token", d.base);
    let (status, _, b) = d
        .client("orchestrator")?
        .fetch(Method::POST, &url, &h, Bytes::from(body.join("&")))
        .await?;
    Ok((status, serde_json::from_slice(&b).unwrap_or(Value::Null)))
}

/// The step.
pub async fn grant(d: &Demo, p: &People<'_>, idp: &str) -> anyhow::Result<bool> {
    heading(
        STEP,
        STEPS,
        "A person lets the orchestrator act for them (authorization code + PKCE, consent page)",
    );
    let resource = format!("{}/agents/scheduler", d.base);
    let mut b = Browser {
        client: MtlsClient::new(p.ca, None, false)?,
        cookies: Vec::new(),
    };
    let code = consent_in_browser(&mut b, p, &resource, idp).await?;
    let mut ok = check(
        true,
        "alice signed in at the IdP and allowed; the client got a code",
    );
    let (status, t) = redeem(
        d,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", VERIFIER),
            ("redirect_uri", &p.redirect_uri),
            ("client_id", CLIENT_ID),
        ],
    )
    .await?;
    ok &= check(
        status == StatusCode::OK,
        "the orchestrator redeemed the code over mTLS with the PKCE verifier",
    );
    let token = t["access_token"].as_str().unwrap_or_default().to_owned();
    let refresh = t["refresh_token"].as_str().unwrap_or_default().to_owned();
    if let Ok(c) = super::calls::decode_claims(&token) {
        print_claims(
            "its token (sub = the person, act = the agent, bound to its certificate):",
            &c,
        );
    }
    let a = d
        .send_message(
            "orchestrator",
            "scheduler",
            Some(&token),
            "Book a meeting with Bob on Friday",
            None,
        )
        .await?;
    let up = a.claims.unwrap_or_default();
    ok &= check(
        a.status == StatusCode::OK
            && up["sub"] == super::USER
            && up["act"]["sub"] == spiffe("orchestrator"),
        "the scheduler saw sub = alice, act = orchestrator",
    );
    // The person revokes it on the grants page.
    let (_, _, page) = b
        .go(Method::GET, &format!("{}/oauth2/grants", p.authorize), None)
        .await?;
    let form = format!(
        "grant={}&csrf={}",
        encode(&hidden(&page, "grant")?),
        encode(&hidden(&page, "csrf")?)
    );
    b.go(
        Method::POST,
        &format!("{}/oauth2/grants/revoke", p.authorize),
        Some(form),
    )
    .await?;
    let (status, e) = redeem(
        d,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await?;
    ok &= check(
        status == StatusCode::BAD_REQUEST && e["error"] == "invalid_grant",
        "alice revoked the grant on the grants page: the refresh token is refused",
    );
    Ok(ok)
}
