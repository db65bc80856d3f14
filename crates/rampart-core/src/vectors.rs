//! Rule test vectors: every rule carries lines that must match (with the
//! captures they must give) and lines that must not. The test suite runs
//! all built-in vectors; `rampart rules test` runs users' too.

use crate::addr::parse_addr;
use crate::config::Config;
use crate::engine::{Engine, JsonOptions, Miss, Scratch};
use crate::rule::RuleDef;
use crate::time::{TimeContext, Timestamp};

/// A vector that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The rule the vector belongs to.
    pub rule: String,
    /// The line.
    pub line: String,
    /// What went wrong.
    pub problem: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rule {}: {}\n    line: {}",
            self.rule, self.problem, self.line
        )
    }
}

/// The outcome of one line through an engine: `(rule id, ip, user, count, rule_id, reason, port)`.
type Got = (
    String,
    String,
    Option<String>,
    u32,
    Option<String>,
    String,
    Option<u16>,
);

fn run(
    engine: &Engine,
    (program, line): (Option<&str>, &str),
    ctx: &TimeContext,
    json: &JsonOptions,
    scratch: &mut Scratch,
) -> Result<Got, String> {
    let mut buf = Vec::new();
    let got = match program {
        Some(p) => engine.match_as(p.as_bytes(), line.as_bytes(), ctx, scratch),
        None => engine.match_any(line.as_bytes(), ctx, json, scratch, &mut buf),
    };
    match got {
        Ok(h) => Ok((
            engine.rules()[h.rule as usize].def.id.clone(),
            h.ip.to_string(),
            h.user.map(|u| String::from_utf8_lossy(u).into_owned()),
            h.count,
            h.rule_id.map(|u| String::from_utf8_lossy(u).into_owned()),
            h.reason.to_string(),
            h.port,
        )),
        // session and ignore rules take a line without an event: report
        // them as that rule, so their own vectors can check them
        Err(Miss::SessionOnly(r, ip)) => Ok((
            engine.rules()[r as usize].def.id.clone(),
            ip.to_string(),
            None,
            1,
            None,
            engine.rules()[r as usize].def.reason.clone(),
            None,
        )),
        Err(Miss::Ignored(r)) => Ok((
            engine.rules()[r as usize].def.id.clone(),
            String::new(),
            None,
            1,
            None,
            engine.rules()[r as usize].def.reason.clone(),
            None,
        )),
        Err(m) => Err(format!("{m:?}")),
    }
}

/// Whether a pattern compiles to a one-pass DFA (captures without backtracking).
fn is_one_pass(pattern: &str) -> bool {
    regex_automata::dfa::onepass::DFA::builder()
        .syntax(
            regex_automata::util::syntax::Config::new()
                .unicode(false)
                .utf8(false),
        )
        .thompson(regex_automata::nfa::thompson::Config::new().utf8(false))
        .build(pattern)
        .is_ok()
}

/// Checks every vector of `defs`, with all rules enabled (disabled rules
/// are tested too). `now` anchors year-less timestamps.
pub fn check(defs: &[RuleDef], now: Timestamp) -> Result<Vec<Failure>, String> {
    // Lines that must match are checked with every rule enabled (disabled
    // rules are tested too); lines that must not match are checked against
    // the rules as shipped (a disabled catch-all may take them).
    let mut all = defs.to_vec();
    for d in &mut all {
        d.enabled = true;
    }
    let cfg = Config::default();
    let shipped =
        Engine::new(defs.to_vec(), cfg.trusted_proxies.clone()).map_err(|e| e.to_string())?;
    let engine = Engine::new(all, cfg.trusted_proxies).map_err(|e| e.to_string())?;
    engine.compile_all().map_err(|e| e.to_string())?;
    let mut shipped_scratch;
    let json = JsonOptions {
        max_severity: cfg.ids_max_severity,
        own: Vec::new(),
    };
    let ctx = TimeContext::utc(now);
    // a rule's shortcut (a cheap form of its common shape) may take its lines
    let same = |got: &str, want: &str| {
        got == want
            || defs
                .iter()
                .any(|r| r.id == got && r.shortcut_for.as_deref() == Some(want))
    };
    let mut scratch;
    let mut out = Vec::new();
    for d in defs {
        let fail = |line: &str, problem: String| Failure {
            rule: d.id.clone(),
            line: line.to_string(),
            problem,
        };
        if d.shortcut_for.is_some() && !is_one_pass(&d.regex) {
            out.push(fail("", "a shortcut_for rule must be one-pass (unambiguous byte by byte), or it gives no speed-up".into()));
        }
        if d.must_match.is_empty() {
            out.push(fail("", "the rule has no [[rule.match]] vectors".into()));
        }
        if d.must_not_match.is_empty() {
            out.push(fail("", "the rule has no [[rule.nomatch]] vectors".into()));
        }
        for v in &d.must_match {
            // each vector is its own log: no session carries over
            scratch = engine.scratch();
            let prog = v.program.as_deref();
            for b in &v.before {
                let _ = run(&engine, (prog, b), &ctx, &json, &mut scratch);
            }
            match run(&engine, (prog, &v.line), &ctx, &json, &mut scratch) {
                Err(m) => out.push(fail(&v.line, format!("must match, but no rule did ({m})"))),
                Ok((id, ip, user, count, rule_id, reason, port)) => {
                    let want_ip = parse_addr(&v.ip)
                        .map(|i| i.to_string())
                        .unwrap_or_else(|| v.ip.clone());
                    let mut p = Vec::new();
                    if !same(&id, &d.id) {
                        p.push(format!("matched rule {id} instead"));
                    }
                    if ip != want_ip && !d.ignore {
                        p.push(format!("blamed {ip}, expected {want_ip}"));
                    }
                    if v.user.is_some() && user != v.user {
                        p.push(format!("user {user:?}, expected {:?}", v.user));
                    }
                    if count != v.count.unwrap_or(1) {
                        p.push(format!("count {count}, expected {}", v.count.unwrap_or(1)));
                    }
                    if v.rule_id.is_some() && rule_id != v.rule_id {
                        p.push(format!("rule_id {rule_id:?}, expected {:?}", v.rule_id));
                    }
                    if v.port.is_some() && port != v.port {
                        p.push(format!("port {port:?}, expected {:?}", v.port));
                    }
                    if let Some(r) = &v.reason
                        && *r != reason
                    {
                        p.push(format!("reason {reason}, expected {r}"));
                    }
                    if !p.is_empty() {
                        out.push(fail(&v.line, p.join("; ")));
                    }
                }
            }
        }
        for v in &d.must_not_match {
            scratch = engine.scratch();
            shipped_scratch = shipped.scratch();
            let prog = v.program.as_deref();
            for b in &v.before {
                let _ = run(&shipped, (prog, b), &ctx, &json, &mut shipped_scratch);
                let _ = run(&engine, (prog, b), &ctx, &json, &mut scratch);
            }
            let got = match run(&shipped, (prog, &v.line), &ctx, &json, &mut shipped_scratch) {
                Ok(g) => Some(g),
                // a disabled rule must not take its own nomatch lines either
                Err(_) if !d.enabled => run(&engine, (prog, &v.line), &ctx, &json, &mut scratch)
                    .ok()
                    .filter(|g| g.0 == d.id),
                Err(_) => None,
            };
            let event_rule = |id: &str| {
                defs.iter()
                    .find(|r| r.id == id)
                    .is_none_or(|r| !r.ignore && !r.session)
            };
            if let Some((id, ip, ..)) = got.filter(|g| event_rule(&g.0) || g.0 == d.id) {
                let allowed =
                    v.other_rule.as_deref().is_some_and(|o| same(&id, o)) && !same(&id, &d.id);
                let ip_ok = v.ip.as_ref().is_none_or(|want| {
                    parse_addr(want).map(|i| i.to_string()).as_deref() == Some(ip.as_str())
                });
                if !allowed || !ip_ok {
                    out.push(fail(
                        &v.line,
                        format!("must not match, but rule {id} blamed {ip}"),
                    ));
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    /// Every built-in rule's vectors pass.
    #[test]
    fn builtin_vectors() {
        let defs = crate::builtin::rules().unwrap();
        // 2026-11-27T12:00:00Z
        let failures = super::check(&defs, 1_795_780_800).unwrap();
        let text: Vec<String> = failures.iter().map(ToString::to_string).collect();
        assert!(
            failures.is_empty(),
            "{} vector failures:\n{}",
            failures.len(),
            text.join("\n")
        );
    }
}
