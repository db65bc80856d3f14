//! Capture extraction without a regex engine, for patterns that can be
//! read byte by byte without ever looking back.
//!
//! Once a scope's combined regex has said which rule matched a line, the
//! rule's own regex runs again to find its captures (the user, the
//! address, the port). regex-automata's one-pass DFA does that in about 35
//! instructions per byte, which made capture extraction a seventh of a
//! whole auth.log scan. Most rules that match often are far simpler than a
//! general regex: literals, runs of one byte class (`[^ ]+`, `\d+`), a few
//! alternatives told apart by their first byte, optional tails, ending in
//! `$`. This module compiles such a pattern into a small tree and walks the
//! line along it, deciding every choice by the next byte alone: a few
//! instructions per byte.
//!
//! The walk gives exactly the regex's captures because a pattern is only
//! accepted when it is LL(1) with the end of the line as a symbol: at every
//! choice (which alternative, one more repetition or not, an optional part
//! or not) the sets of bytes that can come next on each side are disjoint,
//! so the line has at most one parse, and the walk finds it whenever it
//! exists. The pattern must end in `$`, so a match always ends at the end
//! of the line and the regex's preference for longer or earlier
//! alternatives never chooses between two parses. Anything else (look-around
//! other than `^` first and `$` last, empty repetitions, overlapping
//! choices, Unicode classes) is left to the regex: [`Walker::new`] returns
//! `None`. The test suite checks the walk against the regex on every
//! built-in rule's vectors and on mutations of them.

use regex_syntax::hir::{Class, Hir, HirKind, Look};

/// A set of bytes, and whether the end of the line belongs to it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Set {
    bits: [u64; 4],
    end: bool,
}

impl Set {
    fn byte(b: u8) -> Set {
        let mut s = Set::default();
        s.insert(b);
        s
    }

    fn end() -> Set {
        Set {
            end: true,
            ..Set::default()
        }
    }

    fn insert(&mut self, b: u8) {
        self.bits[usize::from(b >> 6)] |= 1 << (b & 63);
    }

    #[inline]
    fn has(&self, b: u8) -> bool {
        self.bits[usize::from(b >> 6)] >> (b & 63) & 1 == 1
    }

    /// Whether the symbol at `pos` (a byte, or the end) is in the set.
    #[inline]
    fn at(&self, hay: &[u8], pos: usize) -> bool {
        hay.get(pos).map_or(self.end, |&b| self.has(b))
    }

    fn union(self, o: Set) -> Set {
        let mut bits = self.bits;
        for (a, b) in bits.iter_mut().zip(o.bits) {
            *a |= b;
        }
        Set {
            bits,
            end: self.end || o.end,
        }
    }

    fn meets(&self, o: &Set) -> bool {
        (self.end && o.end) || self.bits.iter().zip(o.bits).any(|(a, b)| a & b != 0)
    }
}

/// One step of a pattern.
#[derive(Debug, Clone)]
enum Node {
    /// These bytes.
    Literal(Box<[u8]>),
    /// One byte of the set.
    One(Set),
    /// `min..=max` bytes of the set, as many as there are.
    Run {
        set: Set,
        min: u32,
        max: Option<u32>,
    },
    /// `min..=max` times the body, repeated while the next byte can start it.
    Repeat {
        first: Set,
        body: Vec<Node>,
        min: u32,
        max: Option<u32>,
    },
    /// The alternative the next byte can start, else the one that can be empty.
    Alt {
        firsts: Vec<Set>,
        branches: Vec<Vec<Node>>,
        empty: Option<usize>,
    },
    /// A capture group around its body.
    Capture { index: usize, body: Vec<Node> },
    /// `^`: the start of the line.
    Start,
    /// `$`: the end of the line.
    End,
}

/// Where each capture group matched: `(start, end)` by group index, group 0
/// being the whole match.
pub type Spans = Vec<Option<(usize, usize)>>;

/// One step of a walk: [`Node`]s once checked, with capture groups as
/// marks in the sequence and byte sets as lookup tables.
#[derive(Debug, Clone)]
enum Op {
    /// These bytes, also as 8-byte words and masks to compare at once.
    Literal {
        bytes: Box<[u8]>,
        words: Box<[(u64, u64)]>,
    },
    /// One byte of the set.
    One(Box<[bool; 256]>),
    /// `min..=max` bytes of the set, as many as there are.
    Run {
        bytes: Box<[bool; 256]>,
        min: usize,
        max: usize,
    },
    /// `min..=max` times the body, repeated while the next byte can start it.
    Repeat {
        first: Set,
        body: Vec<Op>,
        min: u32,
        max: Option<u32>,
    },
    /// The alternative the next byte can start, else the one that can be empty.
    Alt {
        firsts: Vec<Set>,
        branches: Vec<Vec<Op>>,
        empty: Option<usize>,
    },
    /// A capture group starts here.
    Open(usize),
    /// A capture group ends here.
    Close(usize),
    /// `^`: the start of the line.
    Start,
    /// `$`: the end of the line.
    End,
}

/// A pattern compiled for walking.
#[derive(Debug, Clone)]
pub struct Walker {
    ops: Vec<Op>,
    groups: usize,
}

impl Walker {
    /// Compiles a pattern parsed with Unicode off (byte classes), or
    /// `None` when it cannot be walked exactly (see the module docs).
    pub fn new(hir: &Hir) -> Option<Walker> {
        let items: &[Hir] = match hir.kind() {
            HirKind::Concat(items) => items,
            _ => std::slice::from_ref(hir),
        };
        let mut groups = 1;
        let mut nodes = Vec::with_capacity(items.len());
        for (i, h) in items.iter().enumerate() {
            match h.kind() {
                HirKind::Look(Look::Start) if i == 0 => nodes.push(Node::Start),
                HirKind::Look(Look::End) if i + 1 == items.len() => nodes.push(Node::End),
                _ => nodes.push(compile(h, &mut groups)?),
            }
        }
        if !matches!(nodes.last(), Some(Node::End)) || !deterministic(&nodes, Set::default()) {
            return None;
        }
        Some(Walker {
            ops: lowered(&nodes),
            groups,
        })
    }

    /// Walks `hay` from `start`; on a match fills `spans` (group 0 is the
    /// whole match) and returns true.
    pub fn walk(&self, hay: &[u8], start: usize, spans: &mut Spans) -> bool {
        spans.clear();
        spans.resize(self.groups, None);
        match run(&self.ops, hay, start, spans) {
            Some(end) => {
                spans[0] = Some((start, end));
                true
            }
            None => false,
        }
    }
}

/// A pattern piece as a node; `groups` grows to one more than the highest
/// capture index seen.
fn compile(h: &Hir, groups: &mut usize) -> Option<Node> {
    Some(match h.kind() {
        HirKind::Literal(lit) => Node::Literal(lit.0.clone()),
        HirKind::Class(Class::Bytes(c)) => {
            let mut set = Set::default();
            for r in c.ranges() {
                for b in r.start()..=r.end() {
                    set.insert(b);
                }
            }
            Node::One(set)
        }
        HirKind::Repetition(r) => {
            let body = compile_seq(&r.sub, groups)?;
            match body.as_slice() {
                [Node::One(set)] => Node::Run {
                    set: *set,
                    min: r.min,
                    max: r.max,
                },
                _ => Node::Repeat {
                    first: first_of(&body).0,
                    body,
                    min: r.min,
                    max: r.max,
                },
            }
        }
        HirKind::Capture(c) => {
            let index = usize::try_from(c.index).ok()?;
            *groups = (*groups).max(index + 1);
            Node::Capture {
                index,
                body: compile_seq(&c.sub, groups)?,
            }
        }
        HirKind::Alternation(alts) => {
            let branches = alts
                .iter()
                .map(|a| compile_seq(a, groups))
                .collect::<Option<Vec<_>>>()?;
            let firsts = branches.iter().map(|b| first_of(b).0).collect();
            let empty = branches.iter().position(|b| first_of(b).1);
            Node::Alt {
                firsts,
                branches,
                empty,
            }
        }
        HirKind::Concat(_) | HirKind::Empty => Node::Capture {
            // a transparent group: index 0 is rewritten with the whole match
            index: 0,
            body: compile_seq(h, groups)?,
        },
        HirKind::Class(Class::Unicode(_)) | HirKind::Look(_) => return None,
    })
}

fn compile_seq(h: &Hir, groups: &mut usize) -> Option<Vec<Node>> {
    match h.kind() {
        HirKind::Concat(items) => items.iter().map(|i| compile(i, groups)).collect(),
        HirKind::Empty => Some(Vec::new()),
        _ => Some(vec![compile(h, groups)?]),
    }
}

/// What a node can start with, and whether it can match nothing.
fn first(n: &Node) -> (Set, bool) {
    match n {
        Node::Literal(b) => b
            .first()
            .map_or((Set::default(), true), |&c| (Set::byte(c), false)),
        Node::One(set) => (*set, false),
        Node::Run { set, min, .. } => (*set, *min == 0),
        Node::Repeat {
            first, min, body, ..
        } => (*first, *min == 0 || first_of(body).1),
        Node::Alt { firsts, empty, .. } => (
            firsts.iter().fold(Set::default(), |a, f| a.union(*f)),
            empty.is_some(),
        ),
        Node::Capture { body, .. } => first_of(body),
        Node::Start => (Set::default(), true),
        Node::End => (Set::end(), false),
    }
}

/// [`first`] of a sequence.
fn first_of(nodes: &[Node]) -> (Set, bool) {
    let mut set = Set::default();
    for n in nodes {
        let (f, empty) = first(n);
        set = set.union(f);
        if !empty {
            return (set, false);
        }
    }
    (set, true)
}

/// Whether every choice in `nodes` is decided by the next symbol, given
/// what can follow the sequence.
fn deterministic(nodes: &[Node], follow: Set) -> bool {
    nodes.iter().enumerate().all(|(i, n)| {
        let (rest, rest_empty) = first_of(&nodes[i + 1..]);
        let after = if rest_empty { rest.union(follow) } else { rest };
        node_deterministic(n, after)
    })
}

fn node_deterministic(n: &Node, follow: Set) -> bool {
    match n {
        Node::Literal(b) => !b.is_empty(),
        // `^` is only ever the pattern's first step (see Walker::new)
        Node::One(_) | Node::Start | Node::End => true,
        Node::Run { set, min, max } => *max == Some(*min) || !set.meets(&follow),
        Node::Repeat {
            first,
            body,
            min,
            max,
        } => {
            !first_of(body).1
                && (*max == Some(*min) || !first.meets(&follow))
                && deterministic(body, first.union(follow))
        }
        Node::Alt {
            firsts,
            branches,
            empty,
        } => {
            let disjoint = firsts
                .iter()
                .enumerate()
                .all(|(i, a)| firsts[i + 1..].iter().all(|b| !a.meets(b)));
            let one_empty = branches.iter().filter(|b| first_of(b).1).count() <= 1;
            let empty_ok = empty.is_none_or(|e| {
                firsts
                    .iter()
                    .enumerate()
                    .all(|(i, f)| i == e || !f.meets(&follow))
            });
            disjoint && one_empty && empty_ok && branches.iter().all(|b| deterministic(b, follow))
        }
        Node::Capture { body, .. } => deterministic(body, follow),
    }
}

/// Checked nodes as the steps of a walk.
fn lower(nodes: &[Node], out: &mut Vec<Op>) {
    let table = |set: &Set| Box::new(std::array::from_fn(|b| set.has(b as u8)));
    for n in nodes {
        let op = match n {
            Node::Literal(b) => Op::Literal {
                bytes: b.clone(),
                words: b
                    .chunks(8)
                    .map(|c| {
                        let mut w = [0; 8];
                        w[..c.len()].copy_from_slice(c);
                        let mask = u64::MAX >> (8 * (8 - c.len()));
                        (u64::from_le_bytes(w), mask)
                    })
                    .collect(),
            },
            Node::One(set) => Op::One(table(set)),
            Node::Run { set, min, max } => Op::Run {
                bytes: table(set),
                min: *min as usize,
                max: max.map_or(usize::MAX, |m| m as usize),
            },
            Node::Repeat {
                first,
                body,
                min,
                max,
            } => Op::Repeat {
                first: *first,
                body: lowered(body),
                min: *min,
                max: *max,
            },
            Node::Alt {
                firsts,
                branches,
                empty,
            } => Op::Alt {
                firsts: firsts.clone(),
                branches: branches.iter().map(|b| lowered(b)).collect(),
                empty: *empty,
            },
            Node::Capture { index, body } => {
                if *index > 0 {
                    out.push(Op::Open(*index));
                }
                lower(body, out);
                if *index == 0 {
                    continue;
                }
                Op::Close(*index)
            }
            Node::Start => Op::Start,
            Node::End => Op::End,
        };
        out.push(op);
    }
}

fn lowered(nodes: &[Node]) -> Vec<Op> {
    let mut ops = Vec::new();
    lower(nodes, &mut ops);
    ops
}

fn run(ops: &[Op], hay: &[u8], mut pos: usize, spans: &mut Spans) -> Option<usize> {
    for op in ops {
        pos = step(op, hay, pos, spans)?;
    }
    Some(pos)
}

/// Whether `bytes` (as `words`) are at `pos`.
#[inline]
fn literal_at(bytes: &[u8], words: &[(u64, u64)], hay: &[u8], pos: usize) -> bool {
    let mut at = pos;
    for &(word, mask) in words {
        match hay.get(at..at + 8).map(<[u8; 8]>::try_from) {
            Some(Ok(w)) if u64::from_le_bytes(w) & mask == word => at += 8,
            Some(Ok(_)) => return false,
            // near the end of the line: byte by byte
            _ => return hay.get(pos..).is_some_and(|h| h.starts_with(bytes)),
        }
    }
    true
}

fn step(op: &Op, hay: &[u8], pos: usize, spans: &mut Spans) -> Option<usize> {
    match op {
        Op::Literal { bytes, words } => {
            literal_at(bytes, words, hay, pos).then(|| pos + bytes.len())
        }
        Op::One(set) => set[usize::from(*hay.get(pos)?)].then_some(pos + 1),
        Op::Run { bytes, min, max } => {
            let rest = hay.get(pos..)?;
            let rest = &rest[..rest.len().min(*max)];
            let n = rest
                .iter()
                .position(|&b| !bytes[usize::from(b)])
                .unwrap_or(rest.len());
            (n >= *min).then_some(pos + n)
        }
        Op::Repeat {
            first,
            body,
            min,
            max,
        } => {
            let mut pos = pos;
            let mut count = 0;
            while max.is_none_or(|m| count < m) && (count < *min || first.at(hay, pos)) {
                pos = run(body, hay, pos, spans)?;
                count += 1;
            }
            Some(pos)
        }
        Op::Alt {
            firsts,
            branches,
            empty,
        } => {
            let i = firsts.iter().position(|f| f.at(hay, pos)).or(*empty)?;
            run(&branches[i], hay, pos, spans)
        }
        // a walk never backtracks: a group opened is closed, or the walk fails
        Op::Open(i) => {
            spans[*i] = Some((pos, pos));
            Some(pos)
        }
        Op::Close(i) => {
            if let Some(span) = &mut spans[*i] {
                span.1 = pos;
            }
            Some(pos)
        }
        Op::Start => (pos == 0).then_some(pos),
        Op::End => (pos == hay.len()).then_some(pos),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex_automata::meta::Regex;
    use regex_automata::util::syntax;
    use regex_automata::{Anchored, Input};

    fn config() -> syntax::Config {
        syntax::Config::new().unicode(false).utf8(false)
    }

    fn walker(p: &str) -> Option<Walker> {
        Walker::new(&syntax::parse_with(p, &config()).unwrap())
    }

    /// The regex's captures of an anchored match from 0.
    fn regex_spans(re: &Regex, hay: &[u8]) -> Option<Spans> {
        let mut caps = re.create_captures();
        re.search_captures(&Input::new(hay).anchored(Anchored::Yes), &mut caps);
        caps.is_match().then(|| {
            (0..caps.group_len())
                .map(|i| caps.get_group(i).map(|s| (s.start, s.end)))
                .collect()
        })
    }

    /// The walk and the regex agree on `hay` and on mutations of it.
    pub(crate) fn agree(pattern: &str, w: &Walker, hays: &[&[u8]]) {
        let re = Regex::builder().syntax(config()).build(pattern).unwrap();
        let mut spans = Spans::new();
        let mut check = |h: &[u8]| {
            let got = w.walk(h, 0, &mut spans).then(|| spans.clone());
            let want = regex_spans(&re, h);
            assert_eq!(got, want, "{pattern} on {:?}", String::from_utf8_lossy(h));
        };
        for &h in hays {
            for end in 0..=h.len() {
                check(&h[..end]);
            }
            for pos in 0..h.len() {
                for b in [
                    b' ',
                    b':',
                    b'x',
                    b'0',
                    b'.',
                    b'\n',
                    b'[',
                    h[pos].wrapping_add(1),
                ] {
                    let mut m = h.to_vec();
                    m[pos] = b;
                    check(&m);
                    m.insert(pos, b);
                    check(&m);
                }
                let mut m = h.to_vec();
                m.remove(pos);
                check(&m);
            }
        }
    }

    #[test]
    fn walkable_patterns() {
        let sshd = r"^Failed (?:password|keyboard-interactive(?:/pam)?) for (?P<user>[^ :]+) from (?P<ip>[0-9A-Fa-f:.]+) port (?P<port>[0-9]+)(?: ssh2)?$";
        let w = walker(sshd).expect("walkable");
        agree(
            sshd,
            &w,
            &[
                b"Failed password for root from 192.0.2.1 port 22 ssh2",
                b"Failed keyboard-interactive/pam for x from 2001:db8::1 port 4",
            ],
        );
        for (p, hays) in [
            (r"^(?:(a)|b)+c\s*$", &[&b"abac  "[..], b"bbc", b"c"][..]),
            (
                r"^x(?P<n>\d{1,3})\.(?P<m>\d{2})$",
                &[&b"x123.45"[..], b"x1.4"],
            ),
            (r"^(?:ab|cd)*(?:e|)f$", &[&b"abcdabef"[..], b"f", b"cdf"]),
            (
                r"^user=<(?P<u>[^>]*)>, rip=(?P<ip>[0-9.]+)(?:, lip=[0-9.]+)?;.*$",
                &[&b"user=<a@b>, rip=198.51.100.7, lip=192.0.2.1; TLS"[..]],
            ),
            (
                r"^(?i:failed) (?P<x>.*)$",
                &[&b"FaIlEd anything at all"[..]],
            ),
            (r"^a(?:)b$", &[&b"ab"[..]]),
        ] {
            let w = walker(p).unwrap_or_else(|| panic!("{p} should be walkable"));
            agree(p, &w, hays);
        }
    }

    /// Every built-in rule that is walked agrees with its regex on its
    /// vectors' messages and on mutations of them.
    #[test]
    fn builtin_rules_walk_as_their_regexes_match() {
        let ctx = crate::time::TimeContext::utc(1_795_780_800);
        let mut walked = 0;
        for def in crate::builtin::rules().unwrap() {
            let Some(w) = walker(&def.regex) else {
                continue;
            };
            walked += 1;
            let lines = def.must_match.iter().map(|v| v.line.as_str());
            let lines = lines.chain(def.must_not_match.iter().map(|v| v.line.as_str()));
            let mut hays: Vec<&[u8]> = Vec::new();
            for l in lines {
                let env = crate::envelope::parse(l.as_bytes(), &ctx);
                hays.extend([env.message, env.after_time]);
            }
            agree(&def.regex, &w, &hays);
        }
        assert!(walked >= 15, "only {walked} built-in rules are walked");
    }

    #[test]
    fn ambiguous_patterns_are_left_to_the_regex() {
        for p in [
            // no `$`: a shorter match may win
            r"^Failed (?P<x>\S+)",
            r"^a(?: ssh2)?",
            // choices the next byte cannot decide
            r"^(?:a|ab)$",
            r"^(?P<u>.*) from (?P<ip>\S+)$",
            r"^(?P<u>\S+)\S$",
            r"^user=<(?P<u>[^>]*)>, rip=(?P<ip>\S+)(?:, lip=\S+)?.*$",
            r"^(?:x)?x$",
            r"^(?:a*)*$",
            r"^(?:|a|)$",
            // look-around beyond ^ first and $ last
            r"^a\bb$",
            r"a^b$",
            r"^a$b$",
        ] {
            assert!(walker(p).is_none(), "{p} must not be walked");
        }
    }
}
