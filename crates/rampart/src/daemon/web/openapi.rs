//! `GET /api/v1/openapi.json`: the API described in OpenAPI 3.1.
//!
//! Written by hand next to the routes (no derive-macro framework: the
//! document is small, and a test keeps it true): `tests` checks that
//! every route of the router is in the document and every path of the
//! document is routed, and the API test suite runs schemathesis against
//! a live daemon with this document (no 5xx, answers match the schemas).

use super::Web;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use std::sync::Arc;

/// `GET /api/v1/openapi.json` (no authentication: it describes, it tells
/// nothing about this server's state).
pub async fn handler(State(_web): State<Arc<Web>>) -> Json<Value> {
    Json(document())
}

fn nullable(t: &str) -> Value {
    json!({"type": [t, "null"]})
}

fn obj(required: &[&str], props: Value) -> Value {
    json!({"type": "object", "required": required, "properties": props})
}

fn r(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn array(items: Value) -> Value {
    json!({"type": "array", "items": items})
}

fn ok(schema: Value, what: &str) -> Value {
    json!({"description": what, "content": {"application/json": {"schema": schema}}})
}

fn err(what: &str) -> Value {
    ok(r("Error"), what)
}

/// The answers every authenticated operation may give besides its own.
fn responses(success: Value, extra: &[(&str, &str)]) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("200".into(), success);
    m.insert("401".into(), err("no credentials, or unknown ones"));
    m.insert(
        "403".into(),
        err("the token's scope does not allow it, or a session request lacks its CSRF token"),
    );
    for (code, what) in extra {
        m.insert((*code).into(), err(what));
    }
    Value::Object(m)
}

fn body(schema: Value) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema}}})
}

fn read(summary: &str, success: Value, extra: &[(&str, &str)]) -> Value {
    json!({"summary": summary, "security": [{"bearer": []}, {"session": []}], "responses": responses(success, extra)})
}

/// The answers to a malformed body.
const BODY_ERRORS: [(&str, &str); 3] = [
    ("400", "the body is not JSON"),
    ("415", "the body is not sent as application/json"),
    ("422", "the body lacks a field or has one of the wrong type"),
];

fn write(summary: &str, req: Value, success: Value, extra: &[(&str, &str)]) -> Value {
    let mut all: Vec<(&str, &str)> = BODY_ERRORS.to_vec();
    all.extend_from_slice(extra);
    json!({"summary": summary, "security": [{"bearer": []}, {"session": []}], "requestBody": body(req),
        "responses": responses(success, &all)})
}

fn add_op(kind: &str) -> Value {
    write(
        &format!("Put an address or CIDR on the {kind} list (as `rampart {kind}`)"),
        r("AddRequest"),
        ok(r("Add"), "the entry in force"),
        &[
            ("400", "a bad address or duration"),
            ("409", "refused by lockout protection (send force: true)"),
            ("503", "the daemon did not answer"),
        ],
    )
}

/// The document.
pub fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Rampart API", "version": "1",
            "description": "The CLI's commands over HTTP; the JSON shapes are the CLI's --json ones. See docs/api.md."},
        "paths": paths(),
        "components": {"schemas": schemas(), "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "`rampart api token add NAME --scope read|write`"},
            "session": {"type": "apiKey", "in": "cookie", "name": "rampart_session",
                "description": "a console session (POST /api/v1/session); changes need the X-CSRF-Token header"}}}
    })
}

fn paths() -> Value {
    let addr_param = json!([{"name": "addr", "in": "path", "required": true, "schema": {"type": "string"},
        "description": "an IPv4 or IPv6 address (or CIDR: its first address)"}]);
    json!({
        "/api/v1/status": {"get": read("The firewall, the store and the daemon (as `rampart status --json`)",
            ok(r("Status"), "the status"), &[])},
        "/api/v1/list": {"get": {
            "summary": "Entries in force (as `rampart list --json`)",
            "security": [{"bearer": []}, {"session": []}],
            "parameters": [
                {"name": "kind", "in": "query", "schema": {"type": "string", "enum": ["deny", "allow", "ignore"]}},
                {"name": "temp", "in": "query", "schema": {"type": "boolean"}}],
            "responses": responses(ok(array(r("Entry")), "the entries"), &[("400", "a bad query")])}},
        "/api/v1/why/{addr}": {"get": {
            "summary": "Everything known about an address (as `rampart why ADDR --json`)",
            "security": [{"bearer": []}, {"session": []}],
            "parameters": addr_param,
            "responses": responses(ok(r("Why"), "the verdict and its evidence"), &[("400", "not an address")])}},
        "/api/v1/deny": {"post": add_op("deny")},
        "/api/v1/allow": {"post": add_op("allow")},
        "/api/v1/ignore": {"post": add_op("ignore")},
        "/api/v1/unblock": {"post": write("Lift deny entries and forget the detectors' counts (as `rampart unblock`)",
            r("UnblockRequest"), ok(r("Removed"), "what was removed"),
            &[("400", "a bad address"), ("404", "the address was not on the deny list"), ("503", "the daemon did not answer")])},
        "/api/v1/blocklists": {"get": read("Blocklists and their refresh state (as `rampart blocklist list --json`)",
            ok(array(r("Blocklist")), "the blocklists"), &[])},
        "/api/v1/countries": {"get": read("Country blocking and the database's refresh time",
            ok(r("Countries"), "country blocking"), &[])},
        "/api/v1/rules": {"get": read("Detection rules with their thresholds (as `rampart rules list --json`)",
            ok(array(r("Rule")), "the rules"), &[])},
        "/api/v1/rules/test": {"post": write("Which rule takes each line, and what it captures (as `rampart rules test LINE --json`); nothing is counted",
            obj(&["lines"], json!({"lines": array(json!({"type": "string"}))})),
            ok(array(r("LineTest")), "one result per line"), &[("400", "too many lines")])},
        "/api/v1/config/check": {"get": read("The configuration file checked (as `rampart config check --json`)",
            ok(r("ConfigCheck"), "every error with file, line and key"), &[])},
        "/api/v1/events": {"get": {"summary": "The live feed: server-sent events, one JSON FeedEvent per message",
            "security": [{"bearer": []}, {"session": []}],
            "responses": responses(json!({"description": "an endless event stream",
                "content": {"text/event-stream": {"schema": {"type": "string"}}}}), &[])}},
        "/api/v1/openapi.json": {"get": {"summary": "This document", "security": [],
            "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
        "/api/v1/session": {
            "get": {"summary": "The console session: user and CSRF token", "security": [{"session": []}],
                "responses": {"200": ok(r("Session"), "the session"), "401": err("not logged in")}},
            "post": {"summary": "Log in to the console (sets the session cookie); failures count towards a ban (reason console)",
                "security": [], "requestBody": body(obj(&["user", "password"], json!({"user": {"type": "string"}, "password": {"type": "string"}}))),
                "responses": {"200": ok(r("Session"), "logged in"), "401": err("wrong user or password"),
                    "400": err("the body is not JSON"), "415": err("the body is not sent as application/json"),
                    "422": err("the body lacks user or password"),
                    "429": err("too many attempts from this address"), "503": err("the user database cannot be read")}},
            "delete": {"summary": "Log out (X-CSRF-Token required)", "security": [{"session": []}],
                "responses": {"200": ok(obj(&["ok"], json!({"ok": {"type": "boolean"}})), "logged out"),
                    "401": err("not logged in"), "403": err("missing or wrong CSRF token")}}},
    })
}

fn schemas() -> Value {
    let s = || json!({"type": "string"});
    let ns = || nullable("string");
    let b = || json!({"type": "boolean"});
    let n = || json!({"type": "integer", "minimum": 0});
    let nn = || nullable("integer");
    json!({
        "Error": obj(&["ok", "error"], json!({"ok": b(), "error": s()})),
        "Entry": obj(&["id", "kind", "target", "reason", "summary", "evidence", "origin", "since", "created", "permanent"], json!({
            "id": {"type": "integer"}, "kind": {"type": "string", "enum": ["deny", "allow", "ignore"]}, "target": s(),
            "reason": s(), "rule": ns(), "summary": s(), "evidence": array(s()), "country": ns(), "origin": s(),
            "comment": ns(), "since": s(), "created": s(), "expires": ns(), "permanent": b(), "remaining_secs": nn()})),
        "KernelPlan": obj(&["elements_added", "elements_deleted", "ruleset_loaded", "table_removed", "warnings"], json!({
            "elements_added": n(), "elements_deleted": n(), "ruleset_loaded": b(), "table_removed": b(), "warnings": array(s())})),
        "AddRequest": obj(&["addr"], json!({"addr": s(), "duration": {"type": "string", "description": "90s, 15m, 2h, 7d; permanent when absent"},
            "reason": s(), "force": b()})),
        "Add": obj(&["ok", "action", "entry", "kernel"], json!({"ok": b(),
            "action": {"type": "string", "enum": ["inserted", "extended", "kept"]}, "entry": r("Entry"), "kernel": r("KernelPlan")})),
        "UnblockRequest": obj(&["addr"], json!({"addr": s(), "comment": s()})),
        "Removed": obj(&["ok", "removed", "still_blocking", "daemon_counts_reset", "kernel"], json!({"ok": b(),
            "removed": array(r("Entry")), "still_blocking": array(r("Entry")), "daemon_counts_reset": b(), "kernel": r("KernelPlan")})),
        "Why": obj(&["address", "blocked", "kernel", "store_blocked", "agree", "allowed", "ignored", "entries", "blocklists",
            "country_blocked", "explanations", "history", "state_dir"], json!({
            "address": s(), "blocked": b(), "store_blocked": b(), "agree": b(), "allowed": b(), "ignored": b(),
            "kernel": obj(&["table_loaded", "blocked", "elements"], json!({"table_loaded": b(), "blocked": b(),
                "elements": array(obj(&["list", "element"], json!({"list": s(), "element": s(), "expires": ns()})))})),
            "detector_counts": {"type": ["array", "null"], "items": {"type": "object"}},
            "entries": array(r("Entry")), "blocklists": array(s()), "country": ns(), "country_blocked": b(),
            "explanations": array(obj(&["reason", "title", "explanation", "remedy"], json!({"reason": s(), "title": s(), "explanation": s(), "remedy": s()}))),
            "history": array(obj(&["entry", "ended", "how"], json!({"entry": r("Entry"), "ended": s(), "how": s(), "by": ns(), "comment": ns()}))),
            "state_dir": s()})),
        "Status": obj(&["table_loaded", "agree", "disagreements", "mode", "store", "blocklists", "state_dir"], json!({
            "table_loaded": b(), "agree": b(), "disagreements": n(), "reconcile": {"type": "object"},
            "mode": {"type": "string", "enum": ["strict", "ban-only"]}, "store": {"type": "object"}, "listening": {"type": "object"},
            "blocklists": array(obj(&["name", "entries", "failures"], json!({"name": s(), "entries": n(), "updated": ns(),
                "failures": n(), "last_error": ns(), "next_due": ns()}))),
            "state_dir": s(), "daemon": {"type": ["object", "null"]}})),
        "Blocklist": obj(&["name", "direction", "entries"], json!({"name": s(), "url": ns(), "file": ns(), "direction": s(),
            "entries": n(), "updated": nn(), "failures": n(), "last_error": ns(), "next_due": nn()})),
        "Countries": obj(&["deny", "allow"], json!({"database": ns(), "database_updated": ns(), "deny": array(s()),
            "allow": array(s()), "allow_ports": ns()})),
        "Rule": obj(&["id", "reason", "service", "description", "enabled", "programs", "line"], json!({"id": s(), "reason": s(),
            "service": s(), "description": s(), "enabled": b(), "programs": array(s()), "line": b(), "threshold": nn(),
            "window_secs": nn(), "ban_secs": nn(), "title": ns()})),
        "LineTest": obj(&["line", "rule"], json!({"line": s(), "rule": ns(), "reason": s(), "ip": s(), "user": ns(),
            "port": nn(), "count": n(), "rule_id": ns(), "time": ns()})),
        "ConfigCheck": obj(&["file", "ok", "errors"], json!({"file": s(), "ok": b(),
            "errors": array(obj(&["file", "key", "message"], json!({"file": s(), "line": nn(), "key": s(), "message": s()})))})),
        "Session": obj(&["ok", "user", "csrf"], json!({"ok": b(), "user": s(), "csrf": s()})),
        "FeedEvent": obj(&["kind"], json!({"kind": s(), "target": s(), "reason": s(), "rule": s(), "text": s(), "by": s(),
            "ban_secs": nn(), "time": s()})),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// `(method, path)` of every `.route(...)` in the router's sources,
    /// read from the source text so a new route cannot be forgotten.
    fn routed() -> BTreeSet<(String, String)> {
        let mut out = BTreeSet::new();
        for src in [include_str!("api.rs"), include_str!("mod.rs")] {
            for part in src.split(".route(\"").skip(1) {
                let Some((path, rest)) = part.split_once('"') else {
                    continue;
                };
                let call = rest.split(')').take(4).collect::<Vec<_>>().join(")");
                let call = &call[..call.find("\n        .route(").unwrap_or(call.len())];
                for m in ["get", "post", "delete", "put", "patch"] {
                    if call.contains(&format!("{m}(")) {
                        out.insert((m.to_string(), path.to_string()));
                    }
                }
            }
        }
        out
    }

    fn documented() -> BTreeSet<(String, String)> {
        let doc = document();
        let mut out = BTreeSet::new();
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for m in ops.as_object().unwrap().keys() {
                out.insert((m.clone(), path.clone()));
            }
        }
        out
    }

    #[test]
    fn every_api_route_is_documented_and_every_documented_path_is_routed() {
        let routed: BTreeSet<_> = routed()
            .into_iter()
            .filter(|(_, p)| p.starts_with("/api/"))
            .collect();
        assert!(
            routed.len() >= 15,
            "the route scan found too little: {routed:?}"
        );
        assert_eq!(routed, documented());
    }

    #[test]
    fn every_reference_resolves() {
        let doc = document();
        let text = doc.to_string();
        for part in text.split("#/components/schemas/").skip(1) {
            let name = &part[..part.find('"').unwrap()];
            assert!(doc["components"]["schemas"].get(name).is_some(), "{name}");
        }
    }
}
