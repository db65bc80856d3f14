//! The matching engine: one pass per line.
//!
//! 1. The envelope is parsed ([`crate::envelope`]): time, program tag, message.
//! 2. The line picks a *scope*: the rules reading its program tag (syslog
//!    lines), or the rules reading plain lines. Lines from programs no rule
//!    reads stop here.
//! 3. The scope's Aho-Corasick automaton looks for the rules' literals; a
//!    line with none of them never reaches a regex (most lines).
//! 4. The scope's one multi-pattern regex (`regex_automata::meta::Regex`
//!    built with `new_many`) says which rule matched and yields its captures.
//! 5. The address comes only from the `ip` capture, normalised; a trusted
//!    proxy's `forwarded` value replaces it.
//!
//! Everything is linear in the line length; lines above
//! [`Engine::max_line_bytes`] are skipped and counted by the caller.

use crate::addr::{Net, parse_addr, parse_addr_port, parse_dotted_quad};
use crate::envelope::{self, Envelope};
use crate::fxhash::FxHashMap;
use crate::jsonline::{self, Decoded};
use crate::rule::{CAPTURE_NAMES, RuleDef};
use crate::session::{self, Session, SessionCache};
use crate::time::{TimeContext, Timestamp, parse_leading};
use crate::walk::{Spans, Walker};
use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use regex_automata::meta::{self, Regex};
use regex_automata::nfa::thompson;
use regex_automata::util::captures::Captures;
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input, hybrid};
use regex_syntax::hir::{Hir, HirKind};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::OnceLock;

/// Index of a rule in the engine.
pub type RuleIdx = u32;

/// A rule as the engine uses it.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The definition it was compiled from.
    pub def: RuleDef,
    /// Lower-cased `svc` → reason code.
    pub reason_map: Vec<(String, String)>,
    /// The rule's own regex, for its captures when its pattern cannot be
    /// walked (compiled on first use).
    single: OnceLock<Option<Regex>>,
    /// How the rule's captures are found (made on the rule's first match).
    reader: OnceLock<Reader>,
}

impl Rule {
    fn single(&self) -> Option<&Regex> {
        self.single
            .get_or_init(|| compile_single(&self.def).ok())
            .as_ref()
    }

    fn reader(&self) -> &Reader {
        self.reader.get_or_init(|| {
            let Ok(hir) = syntax::parse_with(&self.def.regex, &syntax_config()) else {
                return Reader::default();
            };
            let mut names = Vec::new();
            capture_names(&hir, &mut names);
            Reader {
                walker: Walker::new(&hir),
                slots: Slots::named(&names),
            }
        })
    }
}

/// How a rule's captures are found and where each name is.
#[derive(Debug, Clone, Default)]
struct Reader {
    /// The pattern as a byte-by-byte walk, when it can be walked exactly.
    walker: Option<Walker>,
    /// The capture groups of each name.
    slots: Slots,
}

/// The named capture groups of a pattern and their indices.
fn capture_names<'h>(hir: &'h Hir, out: &mut Vec<(&'h str, usize)>) {
    match hir.kind() {
        HirKind::Capture(c) => {
            if let (Some(name), Ok(i)) = (c.name.as_deref(), usize::try_from(c.index)) {
                out.push((name, i));
            }
            capture_names(&c.sub, out);
        }
        HirKind::Repetition(r) => capture_names(&r.sub, out),
        HirKind::Concat(hs) | HirKind::Alternation(hs) => {
            for h in hs {
                capture_names(h, out);
            }
        }
        HirKind::Empty | HirKind::Literal(_) | HirKind::Class(_) | HirKind::Look(_) => {}
    }
}

/// How every rule's regex is read: bytes, not Unicode text.
fn syntax_config() -> syntax::Config {
    syntax::Config::new().unicode(false).utf8(false)
}

/// An error compiling rules.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// A rule's regex does not compile.
    #[error("rule {rule}: regex does not compile: {message}")]
    Regex {
        /// The rule id.
        rule: String,
        /// The regex engine's message.
        message: String,
    },
    /// A rule has no `ip` capture, or captures an unknown name.
    #[error("rule {rule}: {message}")]
    Captures {
        /// The rule id.
        rule: String,
        /// What is wrong.
        message: String,
    },
    /// A rule reads neither syslog programs nor plain lines.
    #[error(
        "rule {rule}: set `programs` (syslog tags) and/or `line = true`, or the rule never runs"
    )]
    NoInput {
        /// The rule id.
        rule: String,
    },
    /// Two rules share an id.
    #[error("rule id {0} is defined twice")]
    Duplicate(String),
    /// The literal prefilter failed to build.
    #[error("prefilter: {0}")]
    Prefilter(String),
}

/// Capture group indices of one name and its alternates (`ip`, `ip2`,
/// `ip3`, `ip4`: for patterns whose alternation has the field in several places).
#[derive(Debug, Clone, Copy, Default)]
struct Slot([Option<u16>; 4]);

/// Per-pattern capture group indices, resolved once.
#[derive(Debug, Clone, Copy, Default)]
struct Slots {
    ip: Slot,
    ip_port: Slot,
    user: Slot,
    port: Slot,
    count: Slot,
    rule_id: Slot,
    time: Slot,
    forwarded: Slot,
    svc: Slot,
}

impl Slots {
    fn named(names: &[(&str, usize)]) -> Slots {
        let slot = |name: &str| {
            let index = |n: &str| {
                let i = names.iter().find(|(m, _)| *m == n).map(|&(_, i)| i)?;
                u16::try_from(i).ok()
            };
            Slot([
                index(name),
                index(&format!("{name}2")),
                index(&format!("{name}3")),
                index(&format!("{name}4")),
            ])
        };
        Slots {
            ip: slot("ip"),
            ip_port: slot("ipport"),
            user: slot("user"),
            port: slot("port"),
            count: slot("count"),
            rule_id: slot("rule_id"),
            time: slot("time"),
            forwarded: slot("forwarded"),
            svc: slot("svc"),
        }
    }
}

/// A scope compiled on first use: a scan of an auth.log never pays for
/// the web rules.
#[derive(Debug)]
struct LazyScope {
    members: Vec<RuleIdx>,
    built: OnceLock<Option<Scope>>,
}

#[derive(Debug)]
struct Scope {
    /// When every pattern is anchored at `^`: their forward lazy DFA, which
    /// says which rule matched (the match starts at 0) without the combined
    /// regex's layers.
    dfa: Option<hybrid::dfa::DFA>,
    /// All the scope's rules as one multi-pattern regex: which rule matched
    /// and where, for scopes with patterns that match anywhere (and should
    /// the lazy DFA ever give up). Built on first use.
    regex: OnceLock<Option<Regex>>,
    /// Pattern index → rule index. Each rule's captures come from its own
    /// walker or regex (a small NFA makes capture extraction several times
    /// cheaper than on the combined one).
    rules: Vec<RuleIdx>,
    /// `None` when some rule in the scope has no literal: always run the regex.
    prefilter: Option<AhoCorasick>,
}

/// A match: which rule, whom it blames and what it captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit<'a> {
    /// The rule that matched.
    pub rule: RuleIdx,
    /// The reason code (the rule's, or from its `reason_map`).
    pub reason: &'a str,
    /// The address the line is evidence against.
    pub ip: IpAddr,
    /// The account, when the line names one.
    pub user: Option<&'a [u8]>,
    /// The port, when the line names one.
    pub port: Option<u16>,
    /// How many failures the line reports (at least 1).
    pub count: u32,
    /// The rule id the service reported (mod_security, IDS signature).
    pub rule_id: Option<&'a [u8]>,
    /// The line's time: from the envelope, else from a `time` capture.
    pub time: Option<Timestamp>,
    /// The line repeats an attempt its session already counted
    /// (`once_per_session`): an event, not to be counted again.
    pub repeat: bool,
}

/// Why a recognised line produced no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Miss {
    /// No rule recognised the line.
    NoMatch,
    /// A rule matched but the `ip` capture is not an address.
    BadAddress,
    /// The address is a trusted proxy and the line names no client behind it.
    TrustedProxy,
    /// An `ignore` rule took the line (a known-harmless or ambiguous shape).
    Ignored(RuleIdx),
    /// A `session` rule recorded the connection's address; not an event.
    SessionOnly(RuleIdx, IpAddr),
    /// The rule takes its address from the session, and none was recorded.
    NoSession,
    /// A `once_per_session` line names another address than the attempts
    /// its process already counted: the line contradicts its own session
    /// (sshd serves one client per process) and is not believed.
    Contradicts,
}

/// How JSON lines are read.
#[derive(Debug, Clone, Default)]
pub struct JsonOptions {
    /// Suricata alerts less severe than this (numerically higher) are ignored.
    pub max_severity: u8,
    /// The host's own networks (which side of an IDS alert is the attacker).
    pub own: Vec<Net>,
}

/// Reusable per-thread scratch space for [`Engine::match_line`].
#[derive(Debug)]
pub struct Scratch {
    /// Per scope: the search caches of the lazy DFA, the combined regex
    /// and each single-rule regex (owned here, so no search goes through
    /// the regexes' shared cache pools).
    caches: Vec<Option<ScopeCaches>>,
    /// The last address seen per (host, program, pid): for rules whose
    /// line does not repeat it (`ip_from_session`).
    sessions: SessionCache,
    /// The scopes of recently seen program tags.
    tags: TagCache,
    /// The last BSD timestamp computed.
    times: TimeCache,
    /// Captures found by a rule's walker.
    spans: Spans,
}

/// The last BSD syslog stamp (`Nov 27 08:15:00`) and its time: events
/// come in bursts within one second, and computing a year-less stamp
/// (month name, year inference) costs more than matching the line. The
/// zone of one engine's contexts never changes (a reload builds a new
/// detector), so the context is known by its reference and hint times.
#[derive(Debug, Default)]
struct TimeCache {
    stamp: [u8; 15],
    ctx: Option<(Timestamp, Timestamp)>,
    time: Option<Timestamp>,
}

impl TimeCache {
    fn get(&mut self, t: &envelope::LineTime<'_>, ctx: &TimeContext) -> Option<Timestamp> {
        let envelope::LineTime::Bsd(b) = *t else {
            return t.get(ctx);
        };
        let key = Some((ctx.reference, ctx.near));
        if self.ctx == key && self.stamp == b {
            return self.time;
        }
        let time = t.get(ctx);
        if let Ok(stamp) = <[u8; 15]>::try_from(b) {
            (self.stamp, self.ctx, self.time) = (stamp, key, time);
        }
        time
    }
}

/// A scope's search caches, each made on first use.
#[derive(Debug)]
struct ScopeCaches {
    dfa: Option<hybrid::dfa::Cache>,
    combined: Option<meta::Cache>,
    /// Per pattern: the cache and captures of the rule's own regex.
    singles: Vec<Option<(meta::Cache, Captures)>>,
}

/// Program tags whose scope is remembered; a tag longer than this is
/// looked up every time.
const TAG_CACHE_BYTES: usize = 32;

/// Recently seen program tags and their scopes: a direct-mapped cache of
/// 16 slots, indexed by the tag's length and end bytes. A log interleaves
/// a handful of programs (sshd, CRON, systemd-logind; postfix/smtpd,
/// dovecot, postfix/qmgr), so nearly every line skips the hash lookup and
/// the `postfix/submission/smtpd` fallbacks (5-7% of a scan without it).
#[derive(Debug, Default)]
struct TagCache {
    slots: [(u8, [u8; TAG_CACHE_BYTES], Option<usize>); 16],
}

impl TagCache {
    fn get(&mut self, tag: &[u8], lookup: impl FnOnce(&[u8]) -> Option<usize>) -> Option<usize> {
        let (Some(&first), Some(&last)) = (tag.first(), tag.last()) else {
            return lookup(tag);
        };
        if tag.len() > TAG_CACHE_BYTES {
            return lookup(tag);
        }
        let slot = &mut self.slots[(tag.len() ^ usize::from(last) ^ usize::from(first) >> 2) & 15];
        if usize::from(slot.0) == tag.len() && same_short(&slot.1[..tag.len()], tag) {
            return slot.2;
        }
        let scope = lookup(tag);
        slot.0 = tag.len() as u8;
        slot.1[..tag.len()].copy_from_slice(tag);
        slot.2 = scope;
        scope
    }
}

/// Whether two slices of the same length are equal, for the short ones
/// without a call: two overlapping loads cover 4 to 16 bytes.
#[inline]
fn same_short(a: &[u8], b: &[u8]) -> bool {
    fn word<const N: usize>(s: &[u8], at: usize) -> [u8; N] {
        let mut w = [0; N];
        w.copy_from_slice(&s[at..at + N]);
        w
    }
    let n = a.len();
    match n {
        8..=16 => word::<8>(a, 0) == word::<8>(b, 0) && word::<8>(a, n - 8) == word::<8>(b, n - 8),
        4..8 => word::<4>(a, 0) == word::<4>(b, 0) && word::<4>(a, n - 4) == word::<4>(b, n - 4),
        _ => a == b,
    }
}

/// The compiled rule set.
#[derive(Debug)]
pub struct Engine {
    rules: Vec<Rule>,
    scopes: Vec<LazyScope>,
    by_program: FxHashMap<Box<[u8]>, usize>,
    line_scope: Option<usize>,
    trusted_proxies: Vec<Net>,
    /// Private addresses count as trusted proxies (a forwarded client is believed).
    pub trust_private_proxies: bool,
    /// Lines longer than this are not matched (the caller counts them).
    pub max_line_bytes: usize,
}

/// The scope's patterns as one multi-pattern regex.
fn build_combined(rules: &[Rule], members: &[RuleIdx]) -> Result<Regex, CompileError> {
    Regex::builder()
        .syntax(syntax_config())
        .configure(
            meta::Config::new()
                .utf8_empty(false)
                // Only "which pattern, where" is asked of the combined regex:
                // the lazy DFA answers that; the backtracker would be slower.
                .backtrack(false)
                .onepass(false)
                .match_kind(regex_automata::MatchKind::LeftmostFirst),
        )
        .build_many(&patterns(rules, members))
        .map_err(|e| {
            let rule = e
                .pattern()
                .and_then(|p| members.get(p.as_usize()))
                .map(|&i| rules[i as usize].def.id.clone())
                .unwrap_or_default();
            CompileError::Regex {
                rule,
                message: e.to_string(),
            }
        })
}

/// The patterns as one NFA (`None` if they do not compile: the combined
/// regex then names the rule).
fn build_nfa(patterns: &[&str]) -> Option<thompson::NFA> {
    thompson::Compiler::new()
        .syntax(syntax_config())
        .configure(thompson::Config::new().utf8(false))
        .build_many(patterns)
        .ok()
}

/// The patterns' forward lazy DFA, leftmost-first like the combined regex.
fn build_dfa(nfa: thompson::NFA) -> Option<hybrid::dfa::DFA> {
    hybrid::dfa::Builder::new()
        .configure(hybrid::dfa::Config::new().match_kind(regex_automata::MatchKind::LeftmostFirst))
        .build_from_nfa(nfa)
        .ok()
}

fn patterns<'r>(rules: &'r [Rule], members: &[RuleIdx]) -> Vec<&'r str> {
    members
        .iter()
        .map(|&i| rules[i as usize].def.regex.as_str())
        .collect()
}

fn build_scope(rules: &[Rule], members: &[RuleIdx]) -> Result<Scope, CompileError> {
    let all_have_literals = members
        .iter()
        .all(|&i| !rules[i as usize].def.literals.is_empty());
    // When every pattern is anchored at the start of the message, the
    // combined regex's DFA rejects a line within its first bytes, which
    // measured cheaper than scanning the whole line for literals (auth.log
    // benchmark: 11% fewer instructions); the literal prefilter serves the
    // scopes that have patterns matching anywhere in the line.
    let nfa = build_nfa(&patterns(rules, members));
    let all_anchored = nfa
        .as_ref()
        .is_some_and(thompson::NFA::is_always_start_anchored);
    let prefilter = if all_have_literals && !all_anchored {
        let mut lits: Vec<&str> = members
            .iter()
            .flat_map(|&i| rules[i as usize].def.literals.iter().map(String::as_str))
            .collect();
        lits.sort_unstable();
        lits.dedup();
        Some(
            AhoCorasick::builder()
                // Leftmost-first (not standard) semantics enable the packed
                // SIMD (Teddy) prefilter for small literal sets; the DFA is
                // one lookup per byte where Teddy cannot be used.
                .match_kind(MatchKind::LeftmostFirst)
                .kind(Some(AhoCorasickKind::DFA))
                .build(&lits)
                .map_err(|e| CompileError::Prefilter(e.to_string()))?,
        )
    } else {
        None
    };
    let regex = OnceLock::new();
    let dfa = nfa.filter(|_| all_anchored).and_then(build_dfa);
    if dfa.is_none() {
        let _ = regex.set(Some(build_combined(rules, members)?));
    }
    Ok(Scope {
        dfa,
        regex,
        rules: members.to_vec(),
        prefilter,
    })
}

fn compile_single(def: &RuleDef) -> Result<Regex, CompileError> {
    Regex::builder()
        .syntax(syntax_config())
        // used only for anchored capture extraction on a line the combined
        // regex already matched: no lazy/full DFAs needed
        .configure(
            meta::Config::new()
                .utf8_empty(false)
                .hybrid(false)
                .dfa(false),
        )
        .build(&def.regex)
        .map_err(|e| CompileError::Regex {
            rule: def.id.clone(),
            message: e.to_string(),
        })
}

fn check_captures(def: &RuleDef) -> Result<Regex, CompileError> {
    let re = compile_single(def)?;
    let gi = re.group_info();
    let mut has_ip = false;
    for name in gi.pattern_names(regex_automata::PatternID::ZERO).flatten() {
        if name == "ip" || name == "ipport" {
            has_ip = true;
        }
        let base = name.strip_suffix(['2', '3', '4']).unwrap_or(name);
        if !CAPTURE_NAMES.contains(&base) {
            return Err(CompileError::Captures {
                rule: def.id.clone(),
                message: format!(
                    "unknown capture name {name:?}; accepted: {} (and NAME2..NAME4 for alternates)",
                    CAPTURE_NAMES.join(", ")
                ),
            });
        }
    }
    if !has_ip && !def.ignore && !def.ip_from_session {
        return Err(CompileError::Captures {
            rule: def.id.clone(),
            message: "the regex must capture the address as (?P<ip>...)".into(),
        });
    }
    Ok(re)
}

/// Capture groups, from the rule's regex or from its walker.
enum Caps<'c> {
    Regex(&'c Captures),
    Walk(&'c Spans),
}

/// The captures of one match, over the text the rule saw.
struct Matched<'a, 'c> {
    msg: &'a [u8],
    caps: Caps<'c>,
}

impl<'a> Matched<'a, '_> {
    /// The text of capture group `i`, if it took part in the match.
    fn group(&self, i: usize) -> Option<&'a [u8]> {
        let range = match self.caps {
            Caps::Regex(c) => c.get_group(i)?.range(),
            Caps::Walk(s) => {
                let (start, end) = (*s.get(i)?)?;
                start..end
            }
        };
        self.msg.get(range)
    }

    /// The first alternate of a capture that took part in the match.
    fn get(&self, s: Slot) -> Option<&'a [u8]> {
        s.0.iter()
            .flatten()
            .find_map(|&i| self.group(usize::from(i)))
    }

    /// Every alternate of a capture that took part, as text.
    fn all(&self, s: Slot) -> impl Iterator<Item = &'a str> + '_ {
        s.0.into_iter()
            .flatten()
            .filter_map(|i| self.group(usize::from(i)))
            .filter_map(|t| std::str::from_utf8(t).ok())
    }
}

/// A captured decimal number (a port, a repeat count): ASCII digits only;
/// `None` when empty or beyond `u64` (the caller narrows it).
fn decimal(b: &[u8]) -> Option<u64> {
    if b.is_empty() {
        return None;
    }
    b.iter().try_fold(0u64, |n, &c| {
        let d = c.checked_sub(b'0').filter(|d| *d < 10)?;
        n.checked_mul(10)?.checked_add(u64::from(d))
    })
}

/// Whom a match blames: the `ip` capture (`ipport`: followed by a port,
/// IPv6 unbracketed), or for `ip_from_session` rules the address the
/// process's session recorded. Such a rule may capture the places an
/// address could be when the line reads two ways (an injected user name):
/// the session's address must then be one of them.
fn blamed(
    def: &RuleDef,
    slots: &Slots,
    m: &Matched<'_, '_>,
    known: Option<Session>,
) -> Result<IpAddr, Miss> {
    if def.ip_from_session {
        let ip = known.and_then(|s| s.ip).ok_or(Miss::NoSession)?;
        let mut candidates = m
            .all(slots.ip)
            .filter_map(parse_addr)
            .chain(m.all(slots.ip_port).filter_map(parse_addr_port))
            .peekable();
        if candidates.peek().is_some() && !candidates.any(|c| c == ip) {
            return Err(Miss::NoSession);
        }
        return Ok(ip);
    }
    let parsed = match m.get(slots.ip) {
        Some(t) => {
            parse_dotted_quad(t).or_else(|| std::str::from_utf8(t).ok().and_then(parse_addr))
        }
        None => m
            .get(slots.ip_port)
            .and_then(|t| std::str::from_utf8(t).ok())
            .and_then(parse_addr_port),
    };
    parsed.ok_or(Miss::BadAddress)
}

/// Keeps the process's session up to date after a match blaming `ip`;
/// returns whether the line repeats an attempt the session already counted.
fn track_session(
    sessions: &mut SessionCache,
    key: u64,
    def: &RuleDef,
    ip: IpAddr,
    count: u32,
    time: Option<Timestamp>,
) -> Result<bool, Miss> {
    let s = sessions.entry(key, time);
    let repeat = def.once_per_session && s.counted > 0;
    if repeat && s.ip != Some(ip) {
        return Err(Miss::Contradicts);
    }
    if s.ip != Some(ip) {
        // a new client under this key (a reused pid): its count starts again
        *s = Session {
            ip: Some(ip),
            counted: 0,
            last: None,
        };
    }
    s.last = time.or(s.last);
    if def.ends_session {
        // the process's connection is over: later lines of a reused pid
        // must not inherit this address
        *s = Session::default();
    } else if !def.session && !repeat {
        s.counted = s.counted.saturating_add(count);
    }
    Ok(repeat)
}

impl Engine {
    /// Compiles rules. Disabled rules are left out.
    pub fn new(defs: Vec<RuleDef>, trusted_proxies: Vec<Net>) -> Result<Engine, CompileError> {
        let mut rules = Vec::with_capacity(defs.len());
        let mut seen = std::collections::HashSet::new();
        for def in defs {
            if !seen.insert(def.id.clone()) {
                return Err(CompileError::Duplicate(def.id));
            }
            if def.programs.is_empty() && !def.line {
                return Err(CompileError::NoInput { rule: def.id });
            }
            // Built-in rules are compiled by the test suite; they compile
            // lazily, when a line first needs their scope. Users' rules are
            // checked now, so a mistake is reported at load time.
            let single = OnceLock::new();
            if !def.builtin {
                let _ = single.set(Some(check_captures(&def)?));
            }
            let reason_map = def
                .reason_map
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect();
            rules.push(Rule {
                def,
                reason_map,
                single,
                reader: OnceLock::new(),
            });
        }
        let mut program_members: Vec<(String, Vec<RuleIdx>)> = Vec::new();
        let mut line_members = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            if !r.def.enabled {
                continue;
            }
            for p in &r.def.programs {
                match program_members.iter_mut().find(|(name, _)| name == p) {
                    Some((_, m)) => m.push(i as RuleIdx),
                    None => program_members.push((p.clone(), vec![i as RuleIdx])),
                }
            }
            if r.def.line {
                line_members.push(i as RuleIdx);
            }
        }
        let mut scopes = Vec::new();
        let mut by_program = FxHashMap::default();
        // programs with identical member lists share a scope
        let mut by_members: HashMap<Vec<RuleIdx>, usize> = HashMap::new();
        for (p, m) in program_members {
            let idx = match by_members.get(&m) {
                Some(&idx) => idx,
                None => {
                    scopes.push(LazyScope {
                        members: m.clone(),
                        built: OnceLock::new(),
                    });
                    by_members.insert(m, scopes.len() - 1);
                    scopes.len() - 1
                }
            };
            by_program.insert(p.into_bytes().into_boxed_slice(), idx);
        }
        let line_scope = if line_members.is_empty() {
            None
        } else {
            scopes.push(LazyScope {
                members: line_members,
                built: OnceLock::new(),
            });
            Some(scopes.len() - 1)
        };
        Ok(Engine {
            rules,
            scopes,
            by_program,
            line_scope,
            trusted_proxies,
            trust_private_proxies: true,
            max_line_bytes: 64 * 1024,
        })
    }

    /// The compiled rules, in definition order (disabled ones included).
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Index of a rule by id.
    pub fn rule_index(&self, id: &str) -> Option<RuleIdx> {
        self.rules
            .iter()
            .position(|r| r.def.id == id)
            .map(|i| i as RuleIdx)
    }

    /// Compiles every scope now (instead of on first use), reporting the
    /// first rule that fails. `rules test` and `config check` use it.
    pub fn compile_all(&self) -> Result<(), CompileError> {
        for r in &self.rules {
            if r.def.enabled && r.single().is_none() {
                check_captures(&r.def)?;
            }
        }
        for i in 0..self.scopes.len() {
            if self.scope(i).is_none() {
                let members = &self.scopes[i].members;
                build_scope(&self.rules, members)?;
            }
        }
        Ok(())
    }

    fn scope(&self, i: usize) -> Option<&Scope> {
        let lazy = &self.scopes[i];
        lazy.built
            .get_or_init(|| build_scope(&self.rules, &lazy.members).ok())
            .as_ref()
    }

    /// Scratch space sized for this engine.
    pub fn scratch(&self) -> Scratch {
        Scratch {
            caches: self.scopes.iter().map(|_| None).collect(),
            sessions: SessionCache::default(),
            tags: TagCache::default(),
            times: TimeCache::default(),
            spans: Spans::new(),
        }
    }

    /// The scope for a line, and the text its rules see. A syslog line
    /// from a program no rule reads goes to the plain-line rules with the
    /// text after its timestamp: some services' own files look like
    /// host-less syslog (`2026-11-27 08:15:00 1abc-00 SA: ...`).
    fn scope_for<'a>(&self, env: &Envelope<'a>, tags: &mut TagCache) -> Option<(usize, &'a [u8])> {
        let Some(p) = env.program else {
            return self.line_scope.map(|s| (s, env.message));
        };
        match tags.get(p, |p| self.program_scope(p)) {
            Some(s) => Some((s, env.message)),
            // Real daemons tag with a pid (CRON[123]); the look-alikes are
            // words in a service's own log line (exim's "SA:", BIND's
            // "security:"), which carry none.
            None if env.pid.is_none() => self.line_scope.map(|s| (s, env.after_time)),
            None => None,
        }
    }

    fn program_scope(&self, p: &[u8]) -> Option<usize> {
        if let Some(&s) = self.by_program.get(p) {
            return Some(s);
        }
        // "postfix/submission/smtpd" → "postfix/smtpd"; "postfix-out/smtpd" → "postfix/smtpd"
        let first = memchr::memchr(b'/', p)?;
        let last = memchr::memrchr(b'/', p)?;
        let mut key = Vec::with_capacity(p.len());
        let head = &p[..first];
        key.extend_from_slice(if head.starts_with(b"postfix") {
            b"postfix"
        } else {
            head
        });
        key.extend_from_slice(&p[last..]);
        // "httpd/backend1" → "httpd" as a last resort
        self.by_program
            .get(key.as_slice())
            .or_else(|| self.by_program.get(head))
            .copied()
    }

    /// Matches one line. `line` excludes the newline.
    pub fn match_line<'a>(
        &'a self,
        line: &'a [u8],
        ctx: &TimeContext,
        scratch: &mut Scratch,
    ) -> Result<Hit<'a>, Miss> {
        self.match_envelope(envelope::parse(line, ctx), ctx, scratch)
    }

    /// Matches a line from a source declared to be `program`'s output
    /// (dropbear or sshd under BusyBox/OpenWrt `logread`, a container's
    /// stdout): such lines often have no syslog header, so the program is
    /// taken from the declaration, never guessed from the text. A line that
    /// does carry a header naming the same program is read as usual.
    pub fn match_as<'a>(
        &'a self,
        program: &'a [u8],
        line: &'a [u8],
        ctx: &TimeContext,
        scratch: &mut Scratch,
    ) -> Result<Hit<'a>, Miss> {
        self.match_envelope(envelope::parse_as(line, program, ctx), ctx, scratch)
    }

    /// Matches any line: JSON lines (Suricata alerts, JSON access logs) are
    /// decoded into `buf` first, everything else goes to [`Engine::match_line`].
    #[inline]
    pub fn match_any<'a>(
        &'a self,
        line: &'a [u8],
        ctx: &TimeContext,
        json: &JsonOptions,
        scratch: &mut Scratch,
        buf: &'a mut Vec<u8>,
    ) -> Result<Hit<'a>, Miss> {
        if line.first() != Some(&b'{') {
            return self.match_line(line, ctx, scratch);
        }
        self.match_json(line, ctx, json, scratch, buf)
    }

    /// [`Engine::match_any`] for a JSON line (out of line: most lines are
    /// not JSON, and the plain path stays small enough to inline).
    #[inline(never)]
    fn match_json<'a>(
        &'a self,
        line: &'a [u8],
        ctx: &TimeContext,
        json: &JsonOptions,
        scratch: &mut Scratch,
        buf: &'a mut Vec<u8>,
    ) -> Result<Hit<'a>, Miss> {
        let Some((kind, time)) = jsonline::decode(line, json.max_severity, &json.own, buf) else {
            return Err(Miss::NoMatch);
        };
        let time = time.and_then(|t| parse_leading(t.as_bytes(), ctx).map(|(t, _)| t));
        let program = match kind {
            Decoded::Eve => Some(jsonline::EVE_PROGRAM),
            Decoded::Access => None,
            Decoded::Nextcloud => Some(jsonline::NEXTCLOUD_PROGRAM),
            Decoded::Ignore => return Err(Miss::NoMatch),
        };
        let buf: &'a [u8] = buf;
        let env = Envelope {
            time: time.map_or(envelope::LineTime::None, envelope::LineTime::Known),
            program,
            host: None,
            pid: None,
            message: buf,
            after_time: buf,
        };
        self.match_envelope(env, ctx, scratch)
    }

    fn match_envelope<'a>(
        &'a self,
        env: Envelope<'a>,
        ctx: &TimeContext,
        scratch: &mut Scratch,
    ) -> Result<Hit<'a>, Miss> {
        let Some((si, msg)) = self.scope_for(&env, &mut scratch.tags) else {
            return Err(Miss::NoMatch);
        };
        let Some(scope) = self.scope(si) else {
            return Err(Miss::NoMatch);
        };
        if let Some(pf) = &scope.prefilter
            && !pf.is_match(msg)
        {
            return Err(Miss::NoMatch);
        }
        let cache = scratch.caches[si].get_or_insert_with(|| ScopeCaches {
            dfa: None,
            combined: None,
            singles: scope.rules.iter().map(|_| None).collect(),
        });
        let Some((pid, start)) = self.find(si, scope, cache, msg) else {
            return Err(Miss::NoMatch);
        };
        let rule_idx = scope.rules[pid];
        let rule = &self.rules[rule_idx as usize];
        let reader = rule.reader();
        // Captures from the matched rule's walker, or else its own regex,
        // over the same haystack from where the match starts.
        let caps = if reader
            .walker
            .as_ref()
            .is_some_and(|w| w.walk(msg, start, &mut scratch.spans))
        {
            Caps::Walk(&scratch.spans)
        } else {
            let single = rule.single().ok_or(Miss::NoMatch)?;
            let (c, caps) = cache.singles[pid]
                .get_or_insert_with(|| (single.create_cache(), single.create_captures()));
            single.search_captures_with(
                c,
                &Input::new(msg).range(start..).anchored(Anchored::Yes),
                caps,
            );
            if !caps.is_match() {
                return Err(Miss::NoMatch);
            }
            Caps::Regex(caps)
        };
        let slots = &reader.slots;
        let m = Matched { msg, caps };
        let def = &rule.def;
        if def.ignore {
            return Err(Miss::Ignored(rule_idx));
        }
        let time = scratch.times.get(&env.time, ctx).or_else(|| {
            let t = m.get(slots.time)?;
            parse_leading(t, ctx).map(|(t, _)| t)
        });
        // A service's own log file has no program tag: its sessions are
        // keyed by the rule's service, so two services' pids never meet.
        let program = env.program.or(Some(def.service.as_bytes()));
        let key = env.pid.map(|pid| session::key(env.host, program, pid));
        let known = if def.ip_from_session {
            key.and_then(|k| scratch.sessions.get(k, time))
        } else {
            None
        };
        let ip = blamed(def, slots, &m, known)?;
        let count = m
            .get(slots.count)
            .and_then(decimal)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(1)
            .clamp(1, 10_000);
        let repeat = match key {
            Some(k) => track_session(&mut scratch.sessions, k, def, ip, count, time)?,
            None => false,
        };
        if def.session {
            return Err(Miss::SessionOnly(rule_idx, ip));
        }
        let ip = self.behind_proxy(ip, m.get(slots.forwarded))?;
        let port = m
            .get(slots.port)
            .and_then(decimal)
            .and_then(|n| u16::try_from(n).ok());
        let reason = m
            .get(slots.svc)
            .and_then(|svc| {
                rule.reason_map
                    .iter()
                    .find(|(k, _)| k.as_bytes().eq_ignore_ascii_case(svc))
                    .map(|(_, v)| v.as_str())
            })
            .unwrap_or(rule.def.reason.as_str());
        Ok(Hit {
            rule: rule_idx,
            reason,
            ip,
            user: m.get(slots.user).filter(|u| !u.is_empty()),
            port,
            count,
            rule_id: m.get(slots.rule_id),
            time,
            repeat,
        })
    }

    /// Which of a scope's patterns matches `msg` (leftmost-first), and
    /// where its match starts.
    fn find(
        &self,
        si: usize,
        scope: &Scope,
        cache: &mut ScopeCaches,
        msg: &[u8],
    ) -> Option<(usize, usize)> {
        if let Some(dfa) = &scope.dfa {
            let c = cache.dfa.get_or_insert_with(|| dfa.create_cache());
            // Every pattern starts with `^`. The lazy DFA cannot give up as
            // configured; if it did, the combined regex would answer.
            if let Ok(m) = dfa.try_search_fwd(c, &Input::new(msg).anchored(Anchored::Yes)) {
                return m.map(|m| (m.pattern().as_usize(), 0));
            }
        }
        let regex = scope
            .regex
            .get_or_init(|| build_combined(&self.rules, &self.scopes[si].members).ok())
            .as_ref()?;
        let c = cache.combined.get_or_insert_with(|| regex.create_cache());
        let m = regex.search_with(c, &Input::new(msg))?;
        Some((m.pattern().as_usize(), m.start()))
    }

    /// Behind a proxy the connecting address is the proxy's: believe the
    /// forwarded client (when the rule captures one), never blame the proxy.
    /// Private addresses count as proxies only for rules that read a
    /// forwarded header; elsewhere a private address is just a client.
    fn behind_proxy(&self, ip: IpAddr, forwarded: Option<&[u8]>) -> Result<IpAddr, Miss> {
        if self.trusted_proxies.iter().any(|n| n.contains(ip)) {
            let fwd = forwarded.ok_or(Miss::TrustedProxy)?;
            return self.client_behind_proxies(fwd).ok_or(Miss::TrustedProxy);
        }
        if self.trust_private_proxies && crate::addr::is_private(ip) {
            // a private address with a forwarded client is a local proxy;
            // without one it is simply a client on a private network
            return Ok(forwarded
                .and_then(|f| self.client_behind_proxies(f))
                .unwrap_or(ip));
        }
        Ok(ip)
    }

    /// The client behind a chain of proxies: the rightmost address in an
    /// `X-Forwarded-For` list that is not itself a trusted proxy.
    fn client_behind_proxies(&self, fwd: &[u8]) -> Option<IpAddr> {
        let s = std::str::from_utf8(fwd).ok()?;
        s.rsplit(',')
            .map(str::trim)
            .filter(|x| !x.is_empty() && *x != "-")
            .map(parse_addr)
            .find(|ip| ip.is_none_or(|ip| !self.is_trusted_proxy(ip)))
            .flatten()
    }

    /// A configured trusted proxy, or (unless turned off) a private,
    /// loopback or link-local address: a reverse proxy or load balancer in
    /// front of the service, never a remote attacker worth banning.
    fn is_trusted_proxy(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|n| n.contains(ip))
            || (self.trust_private_proxies && crate::addr::is_private(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::parse_rule_file;

    const RULES: &str = r#"
[[rule]]
id = "t.sshd"
reason = "sshd"
programs = ["sshd"]
literals = ["Failed "]
regex = '^Failed password for (?:invalid user )?(?P<user>.*) from (?P<ip>\S+) port (?P<port>\d+) ssh2$'
[[rule]]
id = "t.web"
reason = "web_probe"
line = true
literals = ["GET"]
regex = '^(?P<ip>\S+) \S+ \S+ \[[^\]]+\] "GET /\.env[^"]*" \d+ \S+(?: "[^"]*" "[^"]*")?(?: "(?P<forwarded>[^"]*)")?'
[[rule]]
id = "t.dovecot"
reason = "imapd"
programs = ["dovecot"]
literals = ["-login:"]
regex = '^(?P<svc>imap|pop3)-login: Disconnected.*\(auth failed, (?P<count>\d+) attempts.*rip=(?P<ip>[0-9a-fA-F:.]+)'
reason_map = { pop3 = "pop3d", imap = "imapd" }
[[rule]]
id = "t.postfix"
reason = "smtpauth"
programs = ["postfix/smtpd"]
literals = ["SASL"]
regex = '^warning: [^\[]*\[(?P<ip>[^\]]+)\]: SASL \S+ authentication failed'
"#;

    fn engine(proxies: &[&str]) -> Engine {
        let defs = parse_rule_file("test", RULES).unwrap();
        Engine::new(
            defs,
            proxies.iter().map(|p| Net::parse(p).unwrap()).collect(),
        )
        .unwrap()
    }

    fn m(e: &Engine, line: &str) -> Result<(String, String, String), Miss> {
        let mut s = e.scratch();
        let ctx = TimeContext::utc(1_795_780_800);
        let h = e.match_line(line.as_bytes(), &ctx, &mut s)?;
        Ok((
            e.rules()[h.rule as usize].def.id.clone(),
            h.ip.to_string(),
            format!("{}/{}", h.reason, h.count),
        ))
    }

    #[test]
    fn captured_numbers_read_as_str_parse_would() {
        for t in [
            "0",
            "22",
            "65535",
            "65536",
            "4294967295",
            "4294967296",
            "",
            "+1",
            "-1",
            "1a",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999",
        ] {
            let b = t.as_bytes();
            assert_eq!(
                decimal(b).and_then(|n| u16::try_from(n).ok()),
                t.parse::<u16>().ok().filter(|_| !t.starts_with('+')),
                "{t:?}"
            );
            assert_eq!(
                decimal(b).and_then(|n| u32::try_from(n).ok()),
                t.parse::<u32>().ok().filter(|_| !t.starts_with('+')),
                "{t:?}"
            );
        }
    }

    #[test]
    fn picks_rule_by_program_and_pattern() {
        let e = engine(&[]);
        let r = m(
            &e,
            "Nov 27 08:15:00 h sshd[1]: Failed password for root from 198.51.100.7 port 22 ssh2",
        )
        .unwrap();
        assert_eq!((r.0.as_str(), r.1.as_str()), ("t.sshd", "198.51.100.7"));
        // the same message from another program is not believed
        assert_eq!(
            m(
                &e,
                "Nov 27 08:15:00 h evil[1]: Failed password for root from 198.51.100.7 port 22 ssh2"
            ),
            Err(Miss::NoMatch)
        );
        // injection: the address in the user name is not the one blamed
        let r = m(&e, "Nov 27 08:15:00 h sshd[1]: Failed password for invalid user x from 192.0.2.1 port 1 from 198.51.100.7 port 22 ssh2").unwrap();
        assert_eq!(r.1, "198.51.100.7");
    }

    #[test]
    fn cached_tag_scopes_never_leak_to_other_tags() {
        let e = engine(&[]);
        let mut s = e.scratch();
        let ctx = TimeContext::utc(1_795_780_800);
        // "rshd" and "sshd" share a cache slot (same length, last byte, first byte >> 2)
        for _ in 0..3 {
            for (tag, hit) in [("sshd", true), ("rshd", false), ("sshd", true)] {
                let l = format!(
                    "Nov 27 08:15:00 h {tag}[1]: Failed password for root from 198.51.100.7 port 22 ssh2"
                );
                assert_eq!(
                    e.match_line(l.as_bytes(), &ctx, &mut s).is_ok(),
                    hit,
                    "{tag}"
                );
            }
            let l = "Nov 27 08:15:00 h postfix/submission/smtpd[1]: warning: unknown[203.0.113.9]: SASL LOGIN authentication failed: x";
            assert!(e.match_line(l.as_bytes(), &ctx, &mut s).is_ok());
        }
    }

    #[test]
    fn session_correlation_and_ignore() {
        let rules = r#"
[[rule]]
id = "s.conn"
reason = "sshd"
programs = ["sshd"]
session = true
literals = ["Connection from"]
regex = '^Connection from (?P<ip>\S+) port \d+ on \S+ port \d+$'
[[rule]]
id = "s.ambiguous"
reason = "sshd"
programs = ["sshd"]
ignore = true
literals = ["Failed"]
regex = '^Failed \S+ for .* port \d+ ssh2.* port \d+ ssh2$'
[[rule]]
id = "s.failed"
reason = "sshd"
programs = ["sshd"]
literals = ["Failed"]
regex = '^Failed \S+ for (?P<user>.*) from (?P<ip>\S+) port \d+ ssh2$'
[[rule]]
id = "s.toomany"
reason = "sshd"
programs = ["sshd"]
ip_from_session = true
literals = ["Too many"]
regex = '^Disconnecting: Too many authentication failures'
"#;
        let e = Engine::new(parse_rule_file("t", rules).unwrap(), vec![]).unwrap();
        let mut s = e.scratch();
        let ctx = TimeContext::utc(1_795_780_800);
        let mut m = |l: &str| {
            e.match_line(l.as_bytes(), &ctx, &mut s)
                .map(|h| h.ip.to_string())
        };
        assert_eq!(
            m(
                "Nov 27 08:15:00 h sshd[7]: Disconnecting: Too many authentication failures [preauth]"
            ),
            Err(Miss::NoSession)
        );
        assert_eq!(
            m(
                "Nov 27 08:15:00 h sshd[7]: Connection from 198.51.100.7 port 1 on 192.0.2.1 port 22"
            ),
            Err(Miss::SessionOnly(0, "198.51.100.7".parse().unwrap()))
        );
        assert_eq!(m("Nov 27 08:15:01 h sshd[7]: Disconnecting: Too many authentication failures [preauth]").as_deref(), Ok("198.51.100.7"));
        // another process, or another host, has its own session
        assert_eq!(
            m("Nov 27 08:15:01 h sshd[8]: Disconnecting: Too many authentication failures"),
            Err(Miss::NoSession)
        );
        assert_eq!(
            m("Nov 27 08:15:01 other sshd[7]: Disconnecting: Too many authentication failures"),
            Err(Miss::NoSession)
        );
        // an event's address also opens the session
        assert_eq!(
            m("Nov 27 08:15:02 h sshd[9]: Failed password for root from 203.0.113.4 port 2 ssh2")
                .as_deref(),
            Ok("203.0.113.4")
        );
        assert_eq!(
            m("Nov 27 08:15:03 h sshd[9]: Disconnecting: Too many authentication failures")
                .as_deref(),
            Ok("203.0.113.4")
        );
        // ambiguous lines are ignored rather than guessed
        assert_eq!(
            m(
                "Nov 27 08:15:02 h sshd[9]: Failed password for x from 192.0.2.9 port 22 ssh2: from 203.0.113.4 port 2 ssh2"
            ),
            Err(Miss::Ignored(1))
        );
    }

    #[test]
    fn short_slices_compare_like_slices() {
        let a: Vec<u8> = (0..20).collect();
        for n in 0..=20 {
            for diff in 0..n {
                let mut b = a[..n].to_vec();
                assert!(same_short(&a[..n], &b));
                b[diff] ^= 0x40;
                assert!(!same_short(&a[..n], &b), "{n} {diff}");
            }
        }
    }

    #[test]
    fn anchoring_is_detected() {
        let anchored = |p: &[&str]| build_nfa(p).unwrap().is_always_start_anchored();
        assert!(anchored(&["^Failed (?P<ip>x)", "^(?:a|b)c"]));
        assert!(!anchored(&["(?:^a|b)"]));
        assert!(!anchored(&["^a", "Failed"]));
    }

    #[test]
    fn multi_instance_postfix_tags() {
        let e = engine(&[]);
        let l = "Nov 27 08:15:00 h postfix/submission/smtpd[1]: warning: unknown[203.0.113.9]: SASL LOGIN authentication failed: x";
        assert_eq!(m(&e, l).unwrap().1, "203.0.113.9");
        let l = "Nov 27 08:15:00 h postfix-out/smtpd[1]: warning: unknown[203.0.113.9]: SASL LOGIN authentication failed: x";
        assert_eq!(m(&e, l).unwrap().1, "203.0.113.9");
    }

    #[test]
    fn counts_and_reason_map() {
        let e = engine(&[]);
        let l = "Nov 27 08:15:00 h dovecot: pop3-login: Disconnected (auth failed, 3 attempts in 12 secs): user=<a>, method=PLAIN, rip=2001:db8::5, lip=2001:db8::1";
        let r = m(&e, l).unwrap();
        assert_eq!((r.1.as_str(), r.2.as_str()), ("2001:db8::5", "pop3d/3"));
    }

    #[test]
    fn trusted_proxy_forwarded() {
        let l = r#"203.0.113.1 - - [27/Nov/2026:08:15:00 +0000] "GET /.env HTTP/1.1" 404 10 "-" "curl" "198.51.100.7, 203.0.113.2""#;
        // untrusted: the connecting address is blamed, the header ignored
        assert_eq!(m(&engine(&[]), l).unwrap().1, "203.0.113.1");
        // trusted proxies: the rightmost untrusted forwarded address
        assert_eq!(
            m(&engine(&["203.0.113.0/24"]), l).unwrap().1,
            "198.51.100.7"
        );
        // trusted proxy without a header: nobody is blamed
        let l2 = r#"203.0.113.1 - - [27/Nov/2026:08:15:00 +0000] "GET /.env HTTP/1.1" 404 10"#;
        assert_eq!(m(&engine(&["203.0.113.0/24"]), l2), Err(Miss::TrustedProxy));
    }

    #[test]
    fn bad_input_never_panics() {
        let e = engine(&[]);
        let mut s = e.scratch();
        let ctx = TimeContext::utc(0);
        let mut junk: Vec<u8> =
            b"Nov 27 08:15:00 h sshd[1]: Failed password for \xff\xfe\x00 from ".to_vec();
        junk.extend(std::iter::repeat_n(b'A', 100_000));
        assert!(e.match_line(&junk, &ctx, &mut s).is_err());
        let l = b"Nov 27 08:15:00 h sshd[1]: Failed password for root from 999.1.1.1 port 22 ssh2";
        assert_eq!(e.match_line(l, &ctx, &mut s), Err(Miss::BadAddress));
    }

    #[test]
    fn compile_errors_name_the_rule() {
        let bad = |r: &str| {
            let defs = parse_rule_file("t", r).unwrap();
            Engine::new(defs, vec![]).unwrap_err().to_string()
        };
        let e = bad("[[rule]]\nid='a.b'\nreason='sshd'\nprograms=['x']\nregex='(?P<host>x)'\n");
        assert!(e.contains("a.b") && e.contains("ip"), "{e}");
        let e = bad("[[rule]]\nid='a.b'\nreason='sshd'\nprograms=['x']\nregex='(?P<ip>x'\n");
        assert!(e.contains("a.b") && e.contains("compile"), "{e}");
        let e = bad("[[rule]]\nid='a.b'\nreason='sshd'\nregex='(?P<ip>x)'\n");
        assert!(e.contains("programs"), "{e}");
    }
}
