//! What the `[authorize]` listener answers, one function per page:
//!
//! - `GET /oauth2/authorize`: the request checked ([`super::authorize`]);
//!   without a session, off to the login IdP first; with one, a
//!   remembered consent answers at once, otherwise the consent page.
//! - `GET /oauth2/login/callback`: the IdP's answer, bound to the browser
//!   that started the login (a `__Host-` cookie holding its `state`).
//! - `POST /oauth2/consent`: Allow or Deny, with the session's CSRF token,
//!   for the pending consent this session was shown (once).
//! - `GET /oauth2/grants`, `POST /oauth2/grants/revoke`, `POST
//!   /oauth2/logout`: the person's grants, revoking one, signing out.
//!
//! Every state change is a POST with the session's CSRF token and, when
//! the browser sends one, our own `Origin`; the cookies are `SameSite=Lax`
//! (the IdP's redirect back is a cross-site top-level GET, which `Strict`
//! would strip).

use std::sync::Arc;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{digest, SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use super::authorize::{error_location, validate, with_query, AuthorizeRequest, Refusal};
use super::consent::{consent_page, issue_code};
use super::pending::Pending;
use super::respond::{Answer, Reply};
use super::session::{self, Session, SessionKey};
use super::UserAuth;
use crate::grants::User;
use crate::snapshot::Snapshot;

/// Largest form a page posts (a consent lists at most a client's scopes).
const MAX_FORM_BYTES: usize = 16 * 1024;
/// Logins and consents in progress at once.
const MAX_PENDING: usize = 10_000;
/// The cookie binding a login's `state` to the browser that started it.
const LOGIN_COOKIE: &str = "__Host-actgate-login";

/// A login at the IdP in progress, held by the browser that started it in
/// a cookie sealed with the session key: the gateway keeps nothing for an
/// unauthenticated request, so a loop of them cannot fill a table and
/// lock people out.
#[derive(serde::Serialize, serde::Deserialize)]
struct PendingLogin {
    state: String,
    nonce: String,
    verifier: String,
    /// Where to go once logged in: a path of this listener we built.
    return_to: String,
    exp: i64,
}

/// What [`PendingLogin`] is sealed as (never valid as a session).
const LOGIN_PURPOSE: &str = "login";
/// Longest authorization request kept across the login: it rides in the
/// login cookie, and browsers drop cookies over about 4 KiB.
const MAX_RETURN_QUERY: usize = 2048;
/// Consent pages one person may have open at once (over all their
/// sessions: each login makes a new one).
const MAX_CONSENTS_PER_PERSON: usize = 20;

/// A consent page shown and not answered yet.
#[derive(Clone)]
pub(crate) struct PendingConsent {
    pub(crate) request: AuthorizeRequest,
    pub(crate) user: User,
    /// The session it was shown to: only that session may answer it.
    pub(crate) sid: String,
}

/// What the listener keeps across requests and reloads.
pub(crate) struct BrowserState {
    pub(crate) consents: Pending<PendingConsent>,
    /// Signs sessions when `session_key_file` is not set (made at start).
    random_key: [u8; 32],
}

impl BrowserState {
    pub(crate) fn new(
        consent_timeout: std::time::Duration,
    ) -> Result<Self, aws_lc_rs::error::Unspecified> {
        let mut random_key = [0u8; 32];
        aws_lc_rs::rand::fill(&mut random_key)?;
        Ok(BrowserState {
            consents: Pending::new(MAX_PENDING, consent_timeout),
            random_key,
        })
    }
}

/// One request's view: the snapshot, the user side, the session if any.
pub(crate) struct Ctx<'a> {
    pub(crate) gw: &'a Snapshot,
    pub(crate) ua: &'a UserAuth,
    pub(crate) st: &'a BrowserState,
    pub(crate) key: SessionKey,
    pub(crate) now: i64,
    pub(crate) session: Option<Session>,
}

impl Ctx<'_> {
    /// The person of this session, when logged in at the configured IdP.
    pub(crate) fn user(&self) -> Option<(User, &Session)> {
        let s = self.session.as_ref()?;
        (s.iss == self.ua.login.issuer).then(|| {
            (
                User {
                    issuer: s.iss.clone(),
                    sub: s.sub.clone(),
                },
                s,
            )
        })
    }
}

pub(crate) async fn handle(gw: Arc<Snapshot>, st: &BrowserState, req: Request<Incoming>) -> Answer {
    let Some(ua) = gw.user_auth.clone() else {
        return Reply::message(
            StatusCode::NOT_FOUND,
            "Not here",
            "This gateway has no authorization endpoint.",
        )
        .build();
    };
    let key = match &ua.session_key {
        Some(k) => SessionKey::from_bytes(k),
        None => SessionKey::from_bytes(&st.random_key),
    };
    let now = crate::unix_now();
    let cookies = cookie_header(&req);
    let session = session::from_cookie_header(&cookies).and_then(|v| key.open(v, now));
    let cx = Ctx {
        gw: &gw,
        ua: &ua,
        st,
        key,
        now,
        session,
    };
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let query = req.uri().query().unwrap_or("").to_owned();
    let reply = match (method, path.as_str()) {
        (Method::GET, "/oauth2/authorize") => authorize(&cx, &query).await,
        (Method::GET, "/oauth2/login/callback") => callback(&cx, &query, &cookies).await,
        (Method::GET, "/oauth2/grants") => grants(&cx).await,
        (Method::POST, "/oauth2/consent" | "/oauth2/grants/revoke" | "/oauth2/logout") => {
            match posted(&cx, req).await {
                Ok(form) => match path.as_str() {
                    "/oauth2/consent" => super::consent::answer(&cx, &form).await,
                    "/oauth2/grants/revoke" => super::consent::revoke(&cx, &form).await,
                    _ => logout(),
                },
                Err(reply) => reply,
            }
        }
        (
            _,
            "/oauth2/authorize"
            | "/oauth2/login/callback"
            | "/oauth2/grants"
            | "/oauth2/consent"
            | "/oauth2/grants/revoke"
            | "/oauth2/logout",
        ) => Reply::message(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed",
            "This page does not take that method.",
        ),
        _ => Reply::message(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such page here.",
        ),
    };
    reply.build()
}

/// Every `Cookie` header's pairs, joined (HTTP/2 may split them).
fn cookie_header(req: &Request<Incoming>) -> String {
    req.headers()
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join("; ")
}

/// A state-changing POST's form, once the session, our `Origin` and the
/// session's CSRF token are there.
async fn posted(cx: &Ctx<'_>, req: Request<Incoming>) -> Result<Vec<(String, String)>, Reply> {
    if let Some(origin) = req.headers().get(http::header::ORIGIN) {
        if origin.as_bytes() != cx.ua.public_url.as_bytes() {
            return Err(Reply::message(
                StatusCode::FORBIDDEN,
                "Refused",
                "This form was posted from another site.",
            ));
        }
    }
    let Some((_, s)) = cx.user() else {
        return Err(Reply::message(
            StatusCode::UNAUTHORIZED,
            "Signed out",
            "Your sign-in has expired. Start again from the application.",
        ));
    };
    let body = match Limited::new(req.into_body(), MAX_FORM_BYTES)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(Reply::message(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Form too large",
            "This form is larger than any page of this gateway sends (16 KiB), or it was cut off.",
        )),
    };
    let form = crate::token::form::parse(&body)
        .map_err(|e| Reply::message(StatusCode::BAD_REQUEST, "Bad form", &e.to_string()))?;
    let csrf: Vec<&str> = values(&form, "csrf").collect();
    match csrf.as_slice() {
        [one] if session::csrf_matches(s, one) => Ok(form),
        _ => Err(Reply::message(
            StatusCode::FORBIDDEN,
            "Refused",
            "This form is stale or was not sent by this page. Reload the page and try again.",
        )),
    }
}

/// The one value of `name`; `None` when absent or repeated.
fn single<'a>(form: &'a [(String, String)], name: &'a str) -> Option<&'a str> {
    let mut v = values(form, name);
    let first = v.next();
    v.next().is_none().then_some(first).flatten()
}

pub(crate) fn values<'a>(
    form: &'a [(String, String)],
    name: &'a str,
) -> impl Iterator<Item = &'a str> {
    form.iter()
        .filter(move |(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

async fn authorize(cx: &Ctx<'_>, query: &str) -> Reply {
    let params = match crate::token::form::parse(query.as_bytes()) {
        Ok(p) => p,
        Err(e) => return Reply::message(StatusCode::BAD_REQUEST, "Bad request", &e.to_string()),
    };
    let registry = &cx.gw.registry;
    // Agents only: the token endpoint issues a grant's tokens for an
    // agent's route; a code for an MCP server could never be redeemed.
    let known = |r: &str| registry.agents().any(|a| a.resource == r);
    let request = match validate(&params, &cx.ua.clients, known) {
        Ok(r) => r,
        // RFC 6749 §4.1.2.1: without a valid client and redirect URI the
        // person is told here, never redirected.
        Err(Refusal::Page(why)) => {
            return Reply::message(
                StatusCode::BAD_REQUEST,
                "This request cannot be answered",
                &why,
            )
        }
        Err(r) => return redirect_refusal(cx, &r),
    };
    let Some((user, s)) = cx.user() else {
        if query.len() > MAX_RETURN_QUERY {
            return Reply::message(
                StatusCode::BAD_REQUEST,
                "Request too long",
                "This authorization request is too long to carry across the sign-in.",
            );
        }
        return begin_login(cx, format!("/oauth2/authorize?{query}")).await;
    };
    let Some(store) = cx.gw.grants.load_full() else {
        return no_store();
    };
    let consent = crate::grants::Consent::new(
        &request.client_id,
        request.actor.as_str(),
        &request.resource,
        &request.scopes,
    );
    if store.remembered(&user, &consent).is_some() {
        let scopes = request.scopes.clone();
        return issue_code(cx, store, &request, &user, scopes, "remembered consent").await;
    }
    let person = user.clone();
    let pending = PendingConsent {
        request: request.clone(),
        user,
        sid: s.sid.clone(),
    };
    match cx
        .st
        .consents
        .put_capped(pending, MAX_CONSENTS_PER_PERSON, |p| p.user == person)
    {
        Ok(pending) => consent_page(cx, &request, &pending),
        Err(e) => Reply::message(StatusCode::SERVICE_UNAVAILABLE, "Busy", &e.to_string()),
    }
}

pub(crate) fn redirect_refusal(cx: &Ctx<'_>, r: &Refusal) -> Reply {
    match error_location(r, &cx.gw.issuer) {
        Some(location) => Reply::redirect(location),
        None => Reply::message(
            StatusCode::BAD_REQUEST,
            "Refused",
            "The request was refused.",
        ),
    }
}

/// Off to the IdP, to come back to `return_to` (a path of ours).
async fn begin_login(cx: &Ctx<'_>, return_to: String) -> Reply {
    let (Ok(verifier), Ok(nonce), Ok(state)) = (
        session::random_token(),
        session::random_token(),
        session::random_token(),
    ) else {
        return Reply::message(
            StatusCode::SERVICE_UNAVAILABLE,
            "Unavailable",
            "The system random source failed.",
        );
    };
    let challenge = URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()));
    let timeout = cx.ua.consent_timeout.as_secs();
    let pending = PendingLogin {
        state: state.clone(),
        nonce: nonce.clone(),
        verifier,
        return_to,
        exp: cx.now + timeout as i64,
    };
    let sealed = cx.key.seal_as(LOGIN_PURPOSE, &pending);
    match cx
        .ua
        .provider
        .authorization_url(&cx.ua.login_callback(), &state, &nonce, &challenge)
        .await
    {
        Ok(url) => Reply::redirect(url).cookie(format!(
            "{LOGIN_COOKIE}={sealed}; Max-Age={timeout}; Path=/; Secure; HttpOnly; SameSite=Lax"
        )),
        Err(e) => {
            // Details (URLs, TLS errors, CA paths) are for operators.
            tracing::warn!(error = %e, "login provider unavailable");
            Reply::message(
                StatusCode::BAD_GATEWAY,
                "Sign-in unavailable",
                "The sign-in provider cannot be reached right now. Try again later.",
            )
        }
    }
}

async fn callback(cx: &Ctx<'_>, query: &str, cookies: &str) -> Reply {
    let params = crate::token::form::parse(query.as_bytes()).unwrap_or_default();
    let one = |name: &'static str| single(&params, name);
    let Some(state) = one("state") else {
        return Reply::message(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            "The sign-in answer has no state.",
        );
    };
    // Only the browser that started this login may finish it: otherwise an
    // attacker could log a victim's browser in as the attacker (login
    // CSRF) and collect the consents the victim then gives.
    let pending = session::cookies_named(cookies, LOGIN_COOKIE)
        .find_map(|v| cx.key.open_as::<PendingLogin>(LOGIN_PURPOSE, v))
        .filter(|p| verify_slices_are_equal(p.state.as_bytes(), state.as_bytes()).is_ok());
    let Some(pending) = pending else {
        return Reply::message(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            "This sign-in was not started in this browser. Start again from the application.",
        );
    };
    if pending.exp <= cx.now {
        return Reply::message(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            "This sign-in has expired. Start again from the application.",
        );
    }
    if let Some(error) = one("error") {
        return Reply::message(
            StatusCode::FORBIDDEN,
            "Sign-in failed",
            &format!("The sign-in provider answered {error:?}."),
        );
    }
    let Some(code) = one("code") else {
        return Reply::message(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            "The sign-in answer has no code.",
        );
    };
    let logged = match cx
        .ua
        .provider
        .finish(
            &cx.ua.login_callback(),
            code,
            &pending.verifier,
            &pending.nonce,
            cx.now,
        )
        .await
    {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "login failed");
            return Reply::message(
                StatusCode::BAD_GATEWAY,
                "Sign-in failed",
                "The sign-in could not be completed. Start again from the application; if it keeps failing, tell the gateway's operators (the reason is in its log).",
            );
        }
    };
    let (Ok(sid), Ok(csrf)) = (session::random_token(), session::random_token()) else {
        return Reply::message(
            StatusCode::SERVICE_UNAVAILABLE,
            "Unavailable",
            "The system random source failed.",
        );
    };
    let lifetime = cx.ua.session_lifetime.as_secs() as i64;
    let s = Session {
        sid,
        iss: logged.issuer,
        sub: logged.user,
        csrf,
        exp: cx.now + lifetime,
    };
    tracing::info!(user = %s.sub, "person signed in");
    Reply::redirect(pending.return_to)
        .cookie(session::set_cookie(&cx.key.seal(&s), lifetime))
        .cookie(format!(
            "{LOGIN_COOKIE}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Lax"
        ))
}

async fn grants(cx: &Ctx<'_>) -> Reply {
    let Some((user, s)) = cx.user() else {
        return begin_login(cx, "/oauth2/grants".into()).await;
    };
    let Some(store) = cx.gw.grants.load_full() else {
        return no_store();
    };
    let list = store.grants_of(&user);
    let registry = &cx.gw.registry;
    let name = |actor: &str| {
        let id = crate::identity::SpiffeId::parse(actor).ok()?;
        registry.by_identity(&id).map(|a| a.name.clone())
    };
    Reply::page(
        StatusCode::OK,
        super::pages::grants(&user.sub, &list, &s.csrf, name),
    )
}

/// The answer while no grant store is open (it is opened at start with
/// `[authorize]`; a failed open stops the start or the reload instead).
pub(crate) fn no_store() -> Reply {
    Reply::message(
        StatusCode::SERVICE_UNAVAILABLE,
        "Unavailable",
        "The grant store is not open.",
    )
}

fn logout() -> Reply {
    Reply::redirect("/oauth2/grants".into()).cookie(session::set_cookie("", 0))
}

/// `with_query` for the code's redirect: `code`, `state` if sent, `iss`
/// (RFC 9207, so a client talking to several servers knows who answered).
pub(crate) fn code_location(cx: &Ctx<'_>, request: &AuthorizeRequest, code: &str) -> String {
    let mut params = vec![("code", code)];
    if let Some(s) = &request.state {
        params.push(("state", s));
    }
    params.push(("iss", &cx.gw.issuer));
    with_query(&request.redirect_uri, &params)
}
