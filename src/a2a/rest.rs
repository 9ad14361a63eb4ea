//! The HTTP+JSON (REST) route grammar, anchored at both ends.
//!
//! A route is `MOUNT [/v1] ROUTE`, `MOUNT /TENANT ROUTE` or
//! `/TENANT MOUNT ROUTE`, where MOUNT is the root or the path of an
//! `HTTP+JSON` interface on the agent's card, `/v1` is the v0.3 prefix,
//! TENANT is one segment (v1.0 §11: every route also exists as
//! `/{tenant}/…`; a2a-sdk mounts it before its path prefix) and ROUTE is one
//! of the spec's paths matched whole. Every way of reading the path is tried:
//! when two readings name different operations (`/tasks/tasks` is `GetTask`
//! of task "tasks", or `ListTasks` of tenant "tasks"), the path is refused,
//! because the upstream may pick either.

use http::Method;

/// The outcome of matching a canonical path against the grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RestMatch {
    None,
    One(&'static str),
    /// Readings that name different operations.
    Ambiguous,
}

/// Collects the operations named by each reading.
struct Readings(RestMatch);

impl Readings {
    fn add(&mut self, op: Option<&'static str>) {
        let Some(op) = op else { return };
        self.0 = match self.0 {
            RestMatch::None => RestMatch::One(op),
            RestMatch::One(o) if o == op => RestMatch::One(o),
            _ => RestMatch::Ambiguous,
        };
    }
}

/// Classify canonical `path` under the root mount and each of `mounts`
/// (canonical, without a trailing `/`).
pub(super) fn classify(method: &Method, path: &str, mounts: &[String]) -> RestMatch {
    let mut r = Readings(RestMatch::None);
    let roots = std::iter::once("").chain(mounts.iter().map(String::as_str));
    for mount in roots {
        if let Some(tail) = strip_mount(path, mount) {
            r.add(route(method, tail, false));
            if let Some(v03) = tail.strip_prefix("/v1") {
                if v03.starts_with('/') {
                    r.add(route(method, v03, true));
                }
            }
            if let Some(after) = strip_tenant(tail) {
                r.add(route(method, after, false));
            }
        }
        if !mount.is_empty() {
            if let Some(after) = strip_tenant(path).and_then(|p| strip_mount(p, mount)) {
                r.add(route(method, after, false));
            }
        }
    }
    r.0
}

/// `path` below `mount`, starting with `/`.
fn strip_mount<'a>(path: &'a str, mount: &str) -> Option<&'a str> {
    path.strip_prefix(mount).filter(|t| t.starts_with('/'))
}

/// `path` without its first segment, which must be a valid tenant.
fn strip_tenant(path: &str) -> Option<&str> {
    let rest = path.strip_prefix('/')?;
    let i = rest.find('/')?;
    id(&rest[..i]).then_some(&rest[i..])
}

/// A task, config or tenant id: non-empty, without `:` (so it can never be
/// read as `id:verb`).
fn id(seg: &str) -> bool {
    !seg.is_empty() && !seg.contains(':')
}

/// One of the spec's routes, matched whole (reference §4.1). `v03`: the
/// path came after `/v1`, where `GET /card` is the extended card.
fn route(method: &Method, tail: &str, v03: bool) -> Option<&'static str> {
    let segs = tail.strip_prefix('/')?;
    let mut it = segs.split('/');
    let parts = (it.next(), it.next(), it.next(), it.next(), it.next());
    let m = method.as_str();
    match parts {
        (Some("message:send"), None, ..) if m == "POST" => Some("SendMessage"),
        (Some("message:stream"), None, ..) if m == "POST" => Some("SendStreamingMessage"),
        (Some("extendedAgentCard"), None, ..) if m == "GET" => Some("GetExtendedAgentCard"),
        (Some("card"), None, ..) if v03 && m == "GET" => Some("GetExtendedAgentCard"),
        (Some("tasks"), None, ..) if m == "GET" => Some("ListTasks"),
        (Some("tasks"), Some(task), None, ..) => task_route(m, task),
        (Some("tasks"), Some(task), Some("pushNotificationConfigs"), None, _) if id(task) => {
            match m {
                "POST" => Some("CreateTaskPushNotificationConfig"),
                "GET" => Some("ListTaskPushNotificationConfigs"),
                _ => None,
            }
        }
        (Some("tasks"), Some(task), Some("pushNotificationConfigs"), Some(cfg), None)
            if id(task) && id(cfg) =>
        {
            match m {
                "GET" => Some("GetTaskPushNotificationConfig"),
                "DELETE" => Some("DeleteTaskPushNotificationConfig"),
                _ => None,
            }
        }
        _ => None,
    }
}

/// `/tasks/{id}`, `/tasks/{id}:cancel`, `/tasks/{id}:subscribe`. Verbs are
/// exact (case-sensitive, as the spec and a2a-sdk route them).
fn task_route(m: &str, seg: &str) -> Option<&'static str> {
    match seg.split_once(':') {
        None if m == "GET" && id(seg) => Some("GetTask"),
        Some((task, "cancel")) if m == "POST" && id(task) => Some("CancelTask"),
        // §5.3 says POST, the proto binding GET; a2a-sdk serves both.
        Some((task, "subscribe")) if matches!(m, "POST" | "GET") && id(task) => {
            Some("SubscribeToTask")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RestMatch::*;

    fn c(m: Method, p: &str) -> RestMatch {
        classify(&m, p, &["/a2a/rest".to_string()])
    }

    #[test]
    fn spec_routes_under_every_prefix() {
        let cases = [
            (Method::POST, "/message:send", "SendMessage"),
            (Method::POST, "/message:stream", "SendStreamingMessage"),
            (Method::GET, "/tasks/abc", "GetTask"),
            (Method::GET, "/tasks", "ListTasks"),
            (Method::POST, "/tasks/abc:cancel", "CancelTask"),
            (Method::GET, "/tasks/abc:subscribe", "SubscribeToTask"),
            (Method::POST, "/tasks/abc:subscribe", "SubscribeToTask"),
            (
                Method::POST,
                "/tasks/abc/pushNotificationConfigs",
                "CreateTaskPushNotificationConfig",
            ),
            (
                Method::GET,
                "/tasks/abc/pushNotificationConfigs",
                "ListTaskPushNotificationConfigs",
            ),
            (
                Method::GET,
                "/tasks/a/pushNotificationConfigs/c",
                "GetTaskPushNotificationConfig",
            ),
            (
                Method::DELETE,
                "/tasks/a/pushNotificationConfigs/c",
                "DeleteTaskPushNotificationConfig",
            ),
            (Method::GET, "/extendedAgentCard", "GetExtendedAgentCard"),
        ];
        for (m, p, want) in cases {
            for prefix in [
                "",
                "/a2a/rest",
                "/a2a/rest/v1",
                "/t1",
                "/a2a/rest/t1",
                "/t1/a2a/rest",
            ] {
                let path = format!("{prefix}{p}");
                assert_eq!(c(m.clone(), &path), One(want), "{m} {path}");
            }
        }
        assert_eq!(c(Method::GET, "/v1/card"), One("GetExtendedAgentCard"));
        assert_eq!(
            c(Method::GET, "/a2a/rest/v1/card"),
            One("GetExtendedAgentCard")
        );
    }

    #[test]
    fn anchored_and_exact() {
        for (m, p) in [
            // Not ListTasks: a push-config id that happens to be "tasks".
            (Method::GET, "/tasks/T/pushNotificationConfigs/tasks/x"),
            (Method::GET, "/x/y/tasks"),
            (Method::POST, "/tasks/t1:CANCEL"),
            (Method::POST, "/tasks/t1:cancel:cancel"),
            (Method::POST, "/tasks/:cancel"),
            (Method::GET, "/tasks/t1:cancel"),
            (Method::HEAD, "/tasks/t1"),
            (Method::PUT, "/tasks/t1"),
            (Method::POST, "/TASKS/t1:cancel"),
            (Method::POST, "/message:Send"),
            (Method::GET, "/card"),
            (Method::GET, "/a:b/tasks/t1"),
            (Method::POST, "/"),
        ] {
            assert_eq!(c(m.clone(), p), None, "{m} {p}");
        }
        assert_eq!(
            c(Method::GET, "/tasks/T/pushNotificationConfigs/tasks"),
            One("GetTaskPushNotificationConfig")
        );
    }

    #[test]
    fn readings_that_disagree_are_ambiguous() {
        for p in ["/tasks/tasks", "/a2a/rest/tasks/tasks"] {
            assert_eq!(c(Method::GET, p), Ambiguous, "{p}");
        }
        // Agreeing readings are fine: tenant "v1" or the v0.3 prefix.
        assert_eq!(c(Method::GET, "/v1/tasks/x"), One("GetTask"));
    }
}
