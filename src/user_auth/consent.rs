//! The consent itself: the page that names the agent, the person's
//! answer, the code it yields, and revocation, each with its audit record.
//! A code never leaves without its record on disk: the record is written
//! (synced) after the grant store accepted the consent and before the
//! redirect carrying the code is answered; when the log cannot take it the
//! code stays unused (it expires in 60 s) and the person is told.

use std::sync::Arc;

use http::StatusCode;

use super::authorize::{AuthorizeRequest, Refusal};
use super::pages::{ActorCard, ConsentView};
use super::respond::Reply;
use super::routes::{code_location, no_store, redirect_refusal, values, Ctx};
use crate::audit::{AuditRecord, Decision, RecordKind};
use crate::cards::model::SecurityScheme;
use crate::grants::{CodeBinding, Consent, GrantStore, GrantView, User};

pub(crate) fn consent_page(cx: &Ctx<'_>, request: &AuthorizeRequest, pending: &str) -> Reply {
    let Some((user, s)) = cx.user() else {
        return Reply::message(
            StatusCode::UNAUTHORIZED,
            "Signed out",
            "Your sign-in has expired.",
        );
    };
    let registry = &cx.gw.registry;
    let client = cx.ua.clients.get(&request.client_id);
    let actor_card = registry.by_identity(&request.actor).and_then(|a| {
        let live = a.card.live()?;
        let card = &live.served.card;
        Some(ActorCard {
            name: card.name.clone(),
            description: card.description.clone(),
            provider: card.provider.as_ref().map(|p| p.organization.clone()),
        })
    });
    let target = registry.agents().find(|a| a.resource == request.resource);
    let resource_name = target.map(|a| a.name.as_str()).or_else(|| {
        registry
            .mcp_servers()
            .find(|m| m.resource == request.resource)
            .map(|m| m.name.as_str())
    });
    let card = target.and_then(|a| a.card.live());
    let describe = |scope: &str| -> Option<String> {
        let card = &card.as_ref()?.served.card;
        card.security_schemes
            .values()
            .find_map(|scheme| match scheme {
                SecurityScheme::OAuth2(o) => {
                    o.flows.iter().find_map(|f| f.scopes.get(scope).cloned())
                }
                _ => None,
            })
    };
    let view = ConsentView {
        user: &user.sub,
        client_name: client.map_or(request.client_id.as_str(), |c| c.name.as_str()),
        client_id: &request.client_id,
        actor: request.actor.as_str(),
        actor_card,
        resource: &request.resource,
        resource_name,
        scopes: request
            .scopes
            .iter()
            .map(|s| (s.as_str(), describe(s)))
            .collect(),
        pending,
        csrf: &s.csrf,
    };
    Reply::page(StatusCode::OK, super::pages::consent(&view))
        .form_redirects_to(&request.redirect_uri)
}

/// `POST /oauth2/consent`: Allow (with the scopes left ticked) or Deny.
pub(crate) async fn answer(cx: &Ctx<'_>, form: &[(String, String)]) -> Reply {
    let Some((user, s)) = cx.user() else {
        return Reply::message(
            StatusCode::UNAUTHORIZED,
            "Signed out",
            "Your sign-in has expired.",
        );
    };
    let key = values(form, "consent").next().unwrap_or("");
    // Only the session the page was shown to may answer it, once.
    let Some(pending) = cx
        .st
        .consents
        .take_if(key, |p| p.sid == s.sid && p.user == user)
    else {
        return Reply::message(
            StatusCode::BAD_REQUEST,
            "Nothing to answer",
            "This consent request has expired or was already answered. Start again from the application.",
        );
    };
    let request = pending.request;
    // The page may have been shown under an earlier config: the client must
    // still be registered with this redirect URI, actor and these scopes.
    let still = cx.ua.clients.get(&request.client_id).is_some_and(|c| {
        c.redirects_to(&request.redirect_uri)
            && c.may_name(&request.actor)
            && c.allows_scopes(request.scopes.iter().map(String::as_str))
    });
    if !still {
        return Reply::message(
            StatusCode::BAD_REQUEST,
            "Registration changed",
            "The application's registration at this gateway changed since this page was shown. Start again from the application.",
        );
    }
    let decision: Vec<&str> = values(form, "decision").collect();
    let chosen: Vec<String> = values(form, "scope").map(str::to_owned).collect();
    if let Some(bad) = chosen.iter().find(|c| !request.scopes.contains(c)) {
        return Reply::message(
            StatusCode::BAD_REQUEST,
            "Refused",
            &format!("{bad:?} was not asked for: only what the application asked can be allowed."),
        );
    }
    let refuse = |description: &str| Refusal::Redirect {
        redirect_uri: request.redirect_uri.clone(),
        state: request.state.clone(),
        error: "access_denied",
        description: description.to_owned(),
    };
    match decision.as_slice() {
        ["allow"] if !chosen.is_empty() => {}
        ["allow"] | ["deny"] => {
            let why = if decision == ["deny"] {
                "the person denied the request"
            } else {
                "the person allowed no scope"
            };
            let mut rec = consent_record(cx, &request, &user, &[], None);
            rec.refuse(Decision::Deny, why);
            if let Err(e) = cx.gw.audit.append_synced(rec).await {
                tracing::error!(error = %e, "audit record of a denied consent not written");
            }
            return redirect_refusal(cx, &refuse(why));
        }
        _ => {
            return Reply::message(
                StatusCode::BAD_REQUEST,
                "Refused",
                "Answer with Allow or Deny.",
            )
        }
    }
    let Some(store) = cx.gw.grants.load_full() else {
        return no_store();
    };
    issue_code(cx, store, &request, &user, chosen, "consented").await
}

/// The person allowed `scopes` of `request` (or a remembered consent
/// covers them): the code, its record, the redirect to the client.
pub(crate) async fn issue_code(
    cx: &Ctx<'_>,
    store: Arc<GrantStore>,
    request: &AuthorizeRequest,
    user: &User,
    scopes: Vec<String>,
    how: &'static str,
) -> Reply {
    let consent = Consent::new(
        &request.client_id,
        request.actor.as_str(),
        &request.resource,
        &scopes,
    );
    let binding = CodeBinding {
        redirect_uri: request.redirect_uri.clone(),
        code_challenge: request.code_challenge.clone(),
    };
    let (u, now) = (user.clone(), cx.now);
    // The store writes its file before answering: not on an async worker.
    let issued = tokio::task::spawn_blocking(move || {
        let code = store.issue_code(&u, &consent, binding, now)?;
        Ok::<_, crate::grants::GrantsError>((code, store.remembered(&u, &consent)))
    })
    .await;
    let (code, grant) = match issued {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "grant store refused a consent");
            return Reply::message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable",
                "Your consent could not be stored. Try again later.",
            );
        }
        Err(_) => {
            return Reply::message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable",
                "Your consent could not be stored.",
            )
        }
    };
    let mut rec = consent_record(cx, request, user, &scopes, grant.as_ref());
    rec.decision = Decision::Allow;
    rec.reason = Some(how.into());
    if let Err(e) = cx.gw.audit.append_synced(rec).await {
        tracing::error!(error = %e, "audit record of a consent not written; code withheld");
        return Reply::message(StatusCode::SERVICE_UNAVAILABLE, "Unavailable", "The gateway cannot record your consent right now, so it was not passed on. Try again later.");
    }
    Reply::redirect(code_location(cx, request, &code))
}

fn consent_record(
    cx: &Ctx<'_>,
    request: &AuthorizeRequest,
    user: &User,
    scopes: &[String],
    grant: Option<&GrantView>,
) -> AuditRecord {
    let mut rec = AuditRecord::new(RecordKind::Consent);
    rec.subject = Some(user.sub.clone());
    rec.subject_issuer = Some(user.issuer.clone());
    rec.act = vec![request.actor.as_str().to_owned()];
    rec.agent = resource_name(cx, &request.resource);
    rec.operation = Some(format!("Authorize {}", request.client_id));
    rec.method = Some("POST".into());
    rec.path = Some("/oauth2/consent".into());
    rec.scopes = scopes.to_vec();
    rec.grant = grant.map(|g| g.id.clone());
    rec
}

fn resource_name(cx: &Ctx<'_>, resource: &str) -> Option<String> {
    let r = &cx.gw.registry;
    r.agents()
        .find(|a| a.resource == resource)
        .map(|a| a.name.clone())
        .or_else(|| {
            r.mcp_servers()
                .find(|m| m.resource == resource)
                .map(|m| m.name.clone())
        })
}

/// `POST /oauth2/grants/revoke`: the person ends one of their grants; its
/// refresh tokens stop at once.
pub(crate) async fn revoke(cx: &Ctx<'_>, form: &[(String, String)]) -> Reply {
    let Some((user, _)) = cx.user() else {
        return Reply::message(
            StatusCode::UNAUTHORIZED,
            "Signed out",
            "Your sign-in has expired.",
        );
    };
    let Some(store) = cx.gw.grants.load_full() else {
        return no_store();
    };
    let id = values(form, "grant").next().unwrap_or("").to_owned();
    let (u, now) = (user.clone(), cx.now);
    let revoked = tokio::task::spawn_blocking(move || store.revoke(&u, &id, now)).await;
    let g = match revoked {
        Ok(Ok(g)) => g,
        Ok(Err(e)) => {
            tracing::info!(error = %e, "revocation refused");
            return Reply::message(
                StatusCode::NOT_FOUND,
                "No such grant",
                "You hold no grant by that name.",
            );
        }
        Err(_) => {
            return Reply::message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable",
                "The grant could not be revoked.",
            )
        }
    };
    let mut rec = AuditRecord::new(RecordKind::GrantRevocation);
    rec.subject = Some(user.sub.clone());
    rec.subject_issuer = Some(user.issuer.clone());
    rec.act = vec![g.consent.actor.clone()];
    rec.agent = resource_name(cx, &g.consent.resource);
    rec.operation = Some("RevokeGrant".into());
    rec.method = Some("POST".into());
    rec.path = Some("/oauth2/grants/revoke".into());
    rec.scopes = g.consent.scopes.clone();
    rec.grant = Some(g.id.clone());
    rec.decision = Decision::Allow;
    rec.reason = Some("revoked by the person".into());
    // The revocation took effect already (it only takes rights away); a
    // record the log cannot take is an error in the gateway's log.
    if let Err(e) = cx.gw.audit.append_synced(rec).await {
        tracing::error!(error = %e, grant = %g.id, "audit record of a revocation not written");
    }
    Reply::redirect("/oauth2/grants".into())
}
