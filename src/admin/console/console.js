// actgate operator console. Plain DOM, no framework, no build step.
// Everything shown comes from the admin API of this same origin; values are
// inserted as text (never as HTML), since callers control parts of them.
"use strict";

const REFRESH_MS = 2000;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function time(secs) {
  return new Date(secs * 1000).toLocaleTimeString();
}

function left(secs) {
  const s = Math.max(0, Math.round(secs - Date.now() / 1000));
  return Math.floor(s / 60) + "m " + String(s % 60).padStart(2, "0") + "s";
}

// Caller-chosen text shown as text is inert in the page, but bidi controls
// still reorder what the approver reads, and other controls are invisible:
// show them as escapes (as the CLI does).
function visible(s) {
  return String(s).replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g,
    (c) => "\\u{" + c.charCodeAt(0).toString(16).padStart(4, "0") + "}");
}

function bodyView(b) {
  if (!b) return "–";
  const note = b.truncated ? " (first part of " + b.bytes + " bytes)" : " (" + b.bytes + " bytes)";
  // Line breaks and tabs are kept (a JSON body stays readable); the rest escaped.
  const text = String(b.text).split("\n").map((l) => l.split("\t").map(visible).join("\t")).join("\n");
  return el("div", {}, el("pre", { class: "body" }, text), note);
}

// user → agent → agent: the first element is the user when the call is on
// someone's behalf (it is not a SPIFFE ID).
function chain(ids) {
  const ol = el("ol", { class: "chain" });
  (ids || []).forEach((id, i) => {
    const user = i === 0 && !String(id).startsWith("spiffe://");
    ol.append(el("li", { class: user ? "user" : "agent", title: id }, id));
  });
  return ol;
}

async function api(path, options) {
  const r = await fetch(path, Object.assign({ cache: "no-store", credentials: "same-origin" }, options));
  let body = null;
  try { body = await r.json(); } catch (_) { /* not JSON */ }
  return { ok: r.ok, status: r.status, body };
}

async function decide(id, verb, reasonInput, buttons) {
  buttons.forEach((b) => { b.disabled = true; });
  const result = document.getElementById("decision-result");
  const r = await api("/api/approvals/" + encodeURIComponent(id) + "/" + verb, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ reason: reasonInput.value || null }),
  });
  if (r.ok) {
    result.textContent = (verb === "approve" ? "Approved " : "Denied ") + id;
    result.className = "muted";
  } else {
    result.textContent = "Could not " + verb + " " + id + ": " +
      ((r.body && r.body.error_description) || "HTTP " + r.status);
    result.className = "decision deny";
    buttons.forEach((b) => { b.disabled = false; });
  }
  await refresh();
}

function renderApprovals(r) {
  const box = document.getElementById("approvals");
  const note = document.getElementById("approvals-note");
  const count = document.getElementById("pending-count");
  if (!r.ok) {
    box.replaceChildren();
    count.textContent = "–";
    note.textContent = r.body && r.body.error === "approvals_not_configured"
      ? "Human approval is not configured on this gateway."
      : "Approvals unavailable (HTTP " + r.status + ").";
    return;
  }
  const list = r.body.approvals || [];
  count.textContent = String(list.length);
  note.hidden = list.length > 0;
  // Keep what an operator is typing: only rebuild when the set changed.
  const ids = list.map((a) => a.id).join(",");
  if (box.dataset.ids === ids) {
    box.querySelectorAll("[data-expires]").forEach((e) => { e.textContent = left(Number(e.dataset.expires)); });
    return;
  }
  box.dataset.ids = ids;
  box.replaceChildren(...list.map((a) => {
    const q = a.request;
    const reason = el("input", { type: "text", placeholder: "reason (optional)", maxLength: 500, class: "reason" });
    const approve = el("button", { type: "button", class: "approve" }, "Approve");
    const deny = el("button", { type: "button", class: "deny" }, "Deny");
    approve.addEventListener("click", () => decide(a.id, "approve", reason, [approve, deny]));
    deny.addEventListener("click", () => decide(a.id, "deny", reason, [approve, deny]));
    return el("article", { class: "approval", "data-approval-id": a.id },
      el("strong", {}, visible(q.operation + " on " + q.agent)),
      el("dl", {},
        el("dt", {}, "Chain"), el("dd", {}, chain(q.chain)),
        el("dt", {}, "Caller"), el("dd", {}, visible(q.caller)),
        el("dt", {}, "On behalf of"), el("dd", {}, q.subject ? visible(q.subject + " (" + q.subject_issuer + ")") : "nobody (app-only)"),
        el("dt", {}, "Request"), el("dd", {}, el("code", {}, visible(q.method + " " + q.path))),
        el("dt", {}, "Content-Type"), el("dd", {}, visible(q.content_type || "–")),
        el("dt", {}, "A2A extensions"), el("dd", {}, visible((q.a2a_extensions || []).join(", ") || "–")),
        (q.method_override || []).length ? el("dt", {}, "Method override") : null,
        (q.method_override || []).length ? el("dd", {}, visible(q.method_override.join(", "))) : null,
        el("dt", {}, "User's scopes"), el("dd", {}, visible((q.subject_scopes || []).join(" ") || "–")),
        el("dt", {}, "Body"), el("dd", {}, bodyView(q.body)),
        el("dt", {}, "Body SHA-256"), el("dd", {}, el("code", {}, q.body_sha256)),
        el("dt", {}, "Rule"), el("dd", {}, "#" + q.rule),
        el("dt", {}, "Requested"), el("dd", {}, time(a.created_at)),
        el("dt", {}, "Expires in"), el("dd", { "data-expires": String(a.expires_at) }, left(a.expires_at)),
        el("dt", {}, "Approval ID"), el("dd", {}, el("code", {}, a.id))),
      el("div", { class: "actions" }, reason, approve, deny));
  }));
}

function renderRecent(r) {
  const body = document.querySelector("#recent tbody");
  if (!r.ok) return;
  body.replaceChildren(...(r.body.decisions || []).map((d) => {
    const kind = d.decision.startsWith("approval_") && d.decision !== "approval_required" ? "refused" : d.decision;
    return el("tr", { "data-decision": d.decision },
      el("td", {}, time(d.time)),
      el("td", {}, chain(d.chain)),
      el("td", {}, d.target === "mcp_server" ? "MCP " + d.agent : d.agent),
      el("td", {}, d.name ? visible(d.operation + " " + d.name) : d.operation),
      el("td", { class: "decision " + kind }, d.decision),
      el("td", {}, d.rule === null || d.rule === undefined ? "–" : "#" + d.rule),
      el("td", {}, d.approval_id ? el("code", {}, d.approval_id) : "–"),
      el("td", {}, d.status === null || d.status === undefined ? "–" : d.status));
  }));
}

function renderAgents(r) {
  const box = document.getElementById("agents");
  if (!r.ok) return;
  const ids = JSON.stringify(r.body.agents.map((a) => [a.name, a.callers, !!a.card, a.card_problem]));
  if (box.dataset.ids === ids) return;
  box.dataset.ids = ids;
  box.replaceChildren(...r.body.agents.map((a) => {
    const card = a.card || {};
    const skills = (card.skills || []).map((s) => s.name || s.id).filter(Boolean);
    const callers = el("ul", {}, ...a.callers.map((c) => el("li", {},
      el("code", {}, c.caller),
      c.app_only ? " (app-only allowed)" : " (on a user's behalf)",
      ": " + (c.operations ? c.operations.join(", ") : "every operation"),
      c.scopes.length ? " · scopes " + c.scopes.join(" ") : "",
      c.approval === "human" ? el("span", { class: "badge" }, "human approval") : null)));
    return el("div", { class: "agent", "data-agent": a.name },
      el("h3", {}, a.name),
      el("div", { class: "muted" }, card.description || ""),
      el("div", {}, "Upstream ", el("code", {}, a.upstream), a.spiffe_id ? " · " : "", a.spiffe_id ? el("code", {}, a.spiffe_id) : null),
      a.card_source ? el("div", {}, "Card fetched from ", el("code", {}, a.card_source)) : null,
      a.card ? null : el("div", { class: "badge" }, "unavailable (503): no verified card"),
      a.card_problem ? el("div", { class: "muted" }, "Card problem: " + a.card_problem) : null,
      skills.length ? el("div", {}, "Skills: " + skills.join(", ")) : null,
      el("div", {}, a.callers.length ? "Reachable by:" : "No rule lets anyone reach this agent."),
      a.callers.length ? callers : null,
      el("details", {}, el("summary", {}, "Agent Card"), el("pre", {}, JSON.stringify(card, null, 2))));
  }));
}

// What an MCP rule covers: `null` lists leave that kind unrestricted.
function covers(l) {
  const kinds = [["tools", l.tools], ["resources", l.resources], ["prompts", l.prompts]]
    .filter(([, v]) => v !== null && v !== undefined);
  if (!kinds.length) return "every tool, resource and prompt";
  return kinds.map(([k, v]) => k + " " + (v.length ? v.join(", ") : "none")).join("; ");
}

function renderMcp(r) {
  const box = document.getElementById("mcp-servers");
  if (!r.ok) return;
  const list = r.body.mcp_servers || [];
  document.getElementById("mcp-note").hidden = list.length > 0;
  const ids = JSON.stringify(list);
  if (box.dataset.ids === ids) return;
  box.dataset.ids = ids;
  box.replaceChildren(...list.map((s) => {
    const tools = el("ul", {}, ...s.tools.map((t) => el("li", { "data-tool": t.name },
      el("code", {}, t.name), t.scopes.length ? " needs " + t.scopes.join(" ") : " needs no scope")));
    const callers = el("ul", {}, ...s.callers.map((c) => el("li", {},
      el("code", {}, c.caller),
      c.app_only ? " (app-only allowed)" : " (on a user's behalf)",
      ": " + covers(c.lists),
      c.scopes.length ? " · scopes " + c.scopes.join(" ") : "",
      c.approval === "human" ? el("span", { class: "badge" }, "human approval") : null)));
    return el("div", { class: "agent", "data-mcp-server": s.name },
      el("h3", {}, s.name),
      el("div", {}, "Upstream ", el("code", {}, s.upstream), s.spiffe_id ? " · " : "", s.spiffe_id ? el("code", {}, s.spiffe_id) : null),
      el("div", {}, "Resource (token audience) ", el("code", {}, s.resource)),
      el("div", {}, s.tools.length ? "Tools with required scopes:" : "No tool needs a scope."),
      s.tools.length ? tools : null,
      el("div", {}, s.callers.length ? "Reachable by:" : "No rule lets anyone reach this MCP server."),
      s.callers.length ? callers : null);
  }));
}

// One refresh at a time; a request for another while one runs (say, right
// after a decision) runs once it ends, so the page never stays stale.
let refreshing = false;
let again = false;
async function refresh() {
  if (refreshing) { again = true; return; }
  refreshing = true;
  again = false;
  try {
    const [approvals, recent, agents, mcp] = await Promise.all([
      api("/api/approvals?status=pending"), api("/api/recent"), api("/api/agents"),
      api("/api/mcp_servers"),
    ]);
    renderApprovals(approvals);
    renderRecent(recent);
    renderAgents(agents);
    renderMcp(mcp);
    document.getElementById("refreshed").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) {
    document.getElementById("refreshed").textContent = "gateway unreachable";
  } finally {
    refreshing = false;
  }
  if (again) await refresh();
}

refresh();
setInterval(refresh, REFRESH_MS);
