//! The consent page and the grants page, rendered on the server. Every
//! value from outside (agent cards, clients' names and parameters, the
//! IdP's user names) goes through [`html::escape`]; the pages load nothing
//! and run no script (see [`html::csp`]).

use super::html::{self, escape};
use crate::grants::GrantView;

/// The agent that will act, as its registered card describes it.
pub struct ActorCard {
    pub name: String,
    pub description: String,
    pub provider: Option<String>,
}

/// Everything the consent page shows and posts back.
pub struct ConsentView<'a> {
    pub user: &'a str,
    pub client_name: &'a str,
    pub client_id: &'a str,
    pub actor: &'a str,
    pub actor_card: Option<ActorCard>,
    pub resource: &'a str,
    /// The registered agent or MCP server whose resource it is.
    pub resource_name: Option<&'a str>,
    /// Each requested scope with its description from the resource's card.
    pub scopes: Vec<(&'a str, Option<String>)>,
    /// The pending consent's key and the session's CSRF token.
    pub pending: &'a str,
    pub csrf: &'a str,
}

pub fn consent(v: &ConsentView<'_>) -> String {
    let mut b = String::with_capacity(2048);
    b.push_str(&format!(
        "<h1>Allow an agent to act for you?</h1>\
         <p>Signed in as <strong id=\"user\">{}</strong>.</p>\
         <p><strong id=\"client\">{}</strong> (<code>{}</code>) asks that this agent may act on your behalf:</p>",
        escape(v.user),
        escape(v.client_name),
        escape(v.client_id)
    ));
    b.push_str("<section id=\"agent\"><h2>The agent</h2>");
    if let Some(card) = &v.actor_card {
        b.push_str(&format!(
            "<p><strong id=\"agent-name\">{}</strong></p><p id=\"agent-description\">{}</p>",
            escape(&card.name),
            escape(&card.description)
        ));
        if let Some(p) = &card.provider {
            b.push_str(&format!(
                "<p>Provided by <span id=\"agent-provider\">{}</span></p>",
                escape(p)
            ));
        }
    } else {
        b.push_str("<p>This agent is not registered at this gateway: it has no card to show.</p>");
    }
    b.push_str(&format!(
        "<p>Workload identity: <code id=\"actor\">{}</code></p></section>",
        escape(v.actor)
    ));
    b.push_str(&format!(
        "<section><h2>On</h2><p><code id=\"resource\">{}</code>{}</p></section>",
        escape(v.resource),
        v.resource_name
            .map(|n| format!(" ({})", escape(n)))
            .unwrap_or_default()
    ));
    b.push_str(&format!(
        "<form method=\"post\" action=\"/oauth2/consent\">\
         <input type=\"hidden\" name=\"consent\" value=\"{}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <fieldset><legend>With these rights (untick what you do not allow)</legend>",
        escape(v.pending),
        escape(v.csrf)
    ));
    for (scope, description) in &v.scopes {
        let s = escape(scope);
        b.push_str(&format!(
            "<p><label><input type=\"checkbox\" name=\"scope\" value=\"{s}\" checked> \
             <code class=\"scope\">{s}</code>{}</label></p>",
            description
                .as_deref()
                .map(|d| format!(" — <span class=\"scope-description\">{}</span>", escape(d)))
                .unwrap_or_default()
        ));
    }
    b.push_str(
        "</fieldset><p><button type=\"submit\" name=\"decision\" value=\"allow\" id=\"allow\">Allow</button> \
         <button type=\"submit\" name=\"decision\" value=\"deny\" id=\"deny\">Deny</button></p></form>\
         <p>You can revoke this at any time on <a href=\"/oauth2/grants\">your grants page</a>.</p>",
    );
    html::document("Allow an agent to act for you?", &b)
}

/// The person's grants, live ones with a revoke button.
pub fn grants(
    user: &str,
    list: &[GrantView],
    csrf: &str,
    agent_name: impl Fn(&str) -> Option<String>,
) -> String {
    let mut b = format!(
        "<h1>What agents may do for you</h1><p>Signed in as <strong id=\"user\">{}</strong>.</p>",
        escape(user)
    );
    if list.is_empty() {
        b.push_str("<p id=\"none\">You have allowed no agent to act for you.</p>");
        return html::document("Your grants", &b);
    }
    b.push_str(
        "<table><thead><tr><th>Agent</th><th>Client</th><th>Resource</th><th>Rights</th>\
         <th>Allowed</th><th>Last used</th><th>Status</th></tr></thead><tbody>",
    );
    for g in list {
        let c = &g.consent;
        let agent = agent_name(&c.actor)
            .map(|n| format!("{} ", escape(&n)))
            .unwrap_or_default();
        let status = match g.revoked_at {
            Some(t) => format!("revoked {}", time(t)),
            None => format!(
                "<form method=\"post\" action=\"/oauth2/grants/revoke\">\
                 <input type=\"hidden\" name=\"grant\" value=\"{}\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
                 <button type=\"submit\" class=\"revoke\">Revoke</button></form>",
                escape(&g.id),
                escape(csrf)
            ),
        };
        b.push_str(&format!(
            "<tr class=\"grant\" id=\"{}\"><td>{agent}<code>{}</code></td><td>{}</td><td><code>{}</code></td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{status}</td></tr>",
            escape(&g.id),
            escape(&c.actor),
            escape(&c.client_id),
            escape(&c.resource),
            escape(&c.scopes.join(" ")),
            time(g.created_at),
            g.last_used_at.map(time).unwrap_or_else(|| "never".into()),
        ));
    }
    b.push_str("</tbody></table>");
    html::document("Your grants", &b)
}

/// Seconds since the epoch as an RFC 3339 UTC time.
fn time(t: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64);
    crate::audit::rfc3339::format(at)
}
