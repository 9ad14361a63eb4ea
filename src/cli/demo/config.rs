//! The demo's gateway configuration: the shape of `actgate.example.toml`
//! (same cards, same kinds of rules), with the ports the example agents and
//! the listener actually got.

use std::net::SocketAddr;
use std::path::Path;

use super::{IDP, ISSUER, TD};

/// Where the demo's gateway listens and finds its agents.
pub struct Addresses {
    pub listen: SocketAddr,
    pub scheduler: SocketAddr,
    pub notifier: SocketAddr,
    /// The example MCP server.
    pub mcp: SocketAddr,
    /// The `[authorize]` listener people's browsers reach.
    pub authorize: SocketAddr,
    /// The demo IdP people log in at, and the file of the gateway's
    /// client secret there.
    pub login_issuer: String,
    pub login_secret: std::path::PathBuf,
    /// Roots for the IdP's TLS (the demo IdP is plain HTTP on loopback; set
    /// so the demo needs no system roots).
    pub login_ca: std::path::PathBuf,
    /// The demo client application's redirect URI.
    pub client_redirect: String,
}

/// The config text. Paths are as given (relative ones resolve against the
/// working directory, where the config notionally lives), so the audit log
/// lands in `audit/` and approvals in `data/approvals/`, as with the example
/// config.
pub fn demo_config(certs: &Path, cards: &Path, at: &Addresses) -> String {
    let c = |p: &str| certs.join(p).display().to_string();
    let card = |p: &str| cards.join(p).display().to_string();
    format!(
        r#"
[gateway]
listen = "{listen}"
issuer = "{ISSUER}"
public_url = "https://localhost:{port}"
server_cert = "{gw_cert}"
server_key = "{gw_key}"
admin_listen = "127.0.0.1:0"

[[trust_domain]]
name = "{TD}"
bundle = "{bundle}"

[tokens]
signing_key = "{signing}"
algorithm = "ES256"
ttl = "5m"

[cards]
signing_key = "{card_signing}"

[[subject_issuer]]
issuer = "{IDP}"
jwks = "{idp_jwks}"
audience = "{ISSUER}"

[[agent]]
name = "scheduler"
card = "{sched_card}"
upstream = "http://{scheduler}"
spiffe_id = "spiffe://{TD}/agent/scheduler"

[[agent]]
name = "notifier"
card = "{notif_card}"
upstream = "http://{notifier}"
spiffe_id = "spiffe://{TD}/agent/notifier"

# No operations list: the orchestrator may also exchange a user's token for
# the scheduler at /oauth2/token (an exchanged token cannot be held to a list
# of operations, so only rules without one allow an exchange).
[[rule]]
caller = "spiffe://{TD}/agent/orchestrator"
agent = "scheduler"
subject_issuer = "{IDP}"
skills = ["book-meeting"]
scopes = ["calendar:read", "calendar:write", "notify:send"]

[[rule]]
caller_agent = "scheduler"
agent = "notifier"
scopes = ["notify:send"]

# Sending mail outside the company cannot be undone: a person approves each
# such call from the orchestrator.
[[rule]]
caller = "spiffe://{TD}/agent/orchestrator"
agent = "notifier"
scopes = ["notify:send"]
approval = "human"

# Whatever else allows it: nobody acts for suspended accounts.
[[rule]]
effect = "deny"
caller_trust_domain = "{TD}"
agent = "*"
subject = "*@suspended.example.com"

{mcp_block}
{authorize_block}
[approvals]
dir = "data/approvals"
ttl = "15m"

[audit]
enabled = true
directory = "audit"
"#,
        listen = at.listen,
        port = at.listen.port(),
        scheduler = at.scheduler,
        notifier = at.notifier,
        mcp_block = mcp_config(at.mcp),
        authorize_block = authorize_config(at),
        gw_cert = c("gateway.pem"),
        gw_key = c("gateway.key"),
        bundle = c(&format!("{TD}/bundle.pem")),
        signing = c("token-signing.key"),
        card_signing = c("card-signing.key"),
        idp_jwks = c("idp-jwks.json"),
        sched_card = card("scheduler.json"),
        notif_card = card("notifier.json"),
    )
}

/// The user's side: the authorization endpoint, its login at the demo
/// IdP, the demo client application, and the rule for the tokens people's
/// grants give the orchestrator (their subject issuer is the login IdP).
fn authorize_config(at: &Addresses) -> String {
    format!(
        r#"[authorize]
listen = "{listen}"
public_url = "https://localhost:{port}"
grants_file = "data/grants.json"

[authorize.login]
issuer = "{issuer}"
client_id = "{login_client}"
client_secret_file = "{secret}"
ca = "{ca}"

[[oauth_client]]
client_id = "{client}"
name = "Planner (demo app)"
redirect_uris = ["{redirect}"]
actors = ["spiffe://{TD}/agent/orchestrator"]
scopes = ["calendar:read", "calendar:write", "notify:send"]

[[rule]]
caller = "spiffe://{TD}/agent/orchestrator"
agent = "scheduler"
subject_issuer = "{issuer}"
skills = ["book-meeting"]
scopes = ["calendar:read", "calendar:write", "notify:send"]
"#,
        listen = at.authorize,
        port = at.authorize.port(),
        issuer = at.login_issuer,
        login_client = super::consent::LOGIN_CLIENT_ID,
        secret = at.login_secret.display(),
        ca = at.login_ca.display(),
        client = super::consent::CLIENT_ID,
        redirect = at.client_redirect,
    )
}

/// The demo's MCP tool server and the rules naming it.
fn mcp_config(mcp: SocketAddr) -> String {
    format!(
        r#"# An MCP tool server behind the same gate: tools not listed need no scopes.
[[mcp_server]]
name = "files"
upstream = "http://{mcp}/mcp"
[[mcp_server.tool]]
name = "read_file"
scopes = ["files:read"]
[[mcp_server.tool]]
name = "delete_file"
scopes = ["files:delete"]

# The orchestrator may read files for itself...
[[rule]]
caller = "spiffe://{TD}/agent/orchestrator"
mcp_server = "files"
app_only = true
tools = ["read_*"]
scopes = ["files:read"]

# ...and delete them only for a user holding files:delete, after a person
# approved each call.
[[rule]]
caller = "spiffe://{TD}/agent/orchestrator"
mcp_server = "files"
subject_issuer = "{IDP}"
tools = ["delete_file"]
scopes = ["files:delete"]
approval = "human""#
    )
}
