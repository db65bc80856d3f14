//! The share policy on the receiving side: which peers' decisions this
//! node applies. Own decisions coming back are skipped, expired ones
//! dropped, reasons not accepted and bans shorter than `min_ban` refused,
//! and for quorum reasons a ban waits until enough distinct nodes have
//! reported the same target. (Protected addresses — loopback, own, allowed,
//! ignored — are the detector's check: it owns that list.)

use super::wire::{Decision, Op};
use rampart_core::config::SharePolicy;
use std::collections::HashMap;

/// Targets awaiting a quorum that are remembered at most.
const MAX_VOTES: usize = 100_000;

/// What to do with a peer's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Apply it (a quorum ban's summary names the reporting nodes).
    Apply(Decision),
    /// This node's own decision, back from the stream.
    Own,
    /// Already over.
    Expired,
    /// The share policy does not take it.
    Refused,
    /// Waiting for more nodes to report the target.
    AwaitQuorum,
}

struct Votes {
    nodes: Vec<String>,
    expires: Option<i64>,
}

/// The receiving side's policy and its quorum votes.
pub struct Gate {
    policy: SharePolicy,
    node: String,
    votes: HashMap<(String, String), Votes>,
}

impl Gate {
    /// The gate of node `node`.
    pub fn new(policy: SharePolicy, node: &str) -> Gate {
        Gate {
            policy,
            node: node.to_string(),
            votes: HashMap::new(),
        }
    }

    /// Judges `d` at `now` (Unix seconds).
    pub fn judge(&mut self, d: Decision, now: i64) -> Verdict {
        if d.node == self.node {
            return Verdict::Own;
        }
        if d.op == Op::Unban {
            self.votes.retain(|(t, _), _| *t != d.target);
            return Verdict::Apply(d);
        }
        if d.expires.is_some_and(|e| e <= now) {
            return Verdict::Expired;
        }
        let len = d.expires.map(|e| e - d.decided_ms / 1000);
        if !SharePolicy::lists(&self.policy.accept, &d.reason)
            || len.is_some_and(|l| l < self.policy.min_ban_secs as i64)
        {
            return Verdict::Refused;
        }
        let quorum = self.policy.quorum_for(&d.reason) as usize;
        if quorum <= 1 {
            return Verdict::Apply(d);
        }
        self.vote(d, now, quorum)
    }

    fn vote(&mut self, mut d: Decision, now: i64, quorum: usize) -> Verdict {
        if self.votes.len() >= MAX_VOTES {
            self.votes.retain(|_, v| v.expires.is_none_or(|e| e > now));
        }
        if self.votes.len() >= MAX_VOTES {
            tracing::warn!("fleet: {MAX_VOTES} targets awaiting a quorum; forgetting them");
            self.votes.clear();
        }
        let key = (d.target.clone(), d.reason.clone());
        let v = self.votes.entry(key.clone()).or_insert(Votes {
            nodes: Vec::new(),
            expires: d.expires,
        });
        v.expires = match (v.expires, d.expires) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
        if !v.nodes.contains(&d.node) {
            v.nodes.push(d.node.clone());
        }
        if v.nodes.len() < quorum {
            return Verdict::AwaitQuorum;
        }
        let nodes = v.nodes.join(", ");
        self.votes.remove(&key);
        d.summary = format!("{} (quorum: reported by {nodes})", d.summary);
        Verdict::Apply(d)
    }

    /// Targets awaiting a quorum.
    pub fn awaiting(&self) -> usize {
        self.votes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ban(node: &str, reason: &str, len: i64) -> Decision {
        Decision {
            v: 1,
            op: Op::Ban,
            node: node.into(),
            target: "203.0.113.9".into(),
            reason: reason.into(),
            rule: String::new(),
            summary: "s".into(),
            evidence: Vec::new(),
            decided_ms: 1_000_000,
            expires: Some(1000 + len),
        }
    }

    fn policy() -> SharePolicy {
        SharePolicy {
            publish: vec!["*".into()],
            accept: vec!["sshd".into(), "portscan".into()],
            min_ban_secs: 300,
            quorum: 2,
            quorum_reasons: vec!["portscan".into()],
        }
    }

    #[test]
    fn own_expired_refused_and_accepted() {
        let mut g = Gate::new(policy(), "web1");
        assert_eq!(g.judge(ban("web1", "sshd", 3600), 1000), Verdict::Own);
        assert_eq!(g.judge(ban("web2", "sshd", 3600), 5000), Verdict::Expired);
        assert_eq!(g.judge(ban("web2", "ftpd", 3600), 1000), Verdict::Refused);
        assert_eq!(g.judge(ban("web2", "sshd", 60), 1000), Verdict::Refused);
        let mut permanent = ban("web2", "sshd", 0);
        permanent.expires = None;
        assert!(matches!(g.judge(permanent, 1000), Verdict::Apply(_)));
        assert!(matches!(
            g.judge(ban("web2", "sshd", 3600), 1000),
            Verdict::Apply(_)
        ));
    }

    #[test]
    fn quorum_reasons_wait_for_distinct_nodes() {
        let mut g = Gate::new(policy(), "web1");
        assert_eq!(
            g.judge(ban("web2", "portscan", 3600), 1000),
            Verdict::AwaitQuorum
        );
        assert_eq!(
            g.judge(ban("web2", "portscan", 3600), 1000),
            Verdict::AwaitQuorum,
            "the same node twice is one vote"
        );
        assert_eq!(g.awaiting(), 1);
        let Verdict::Apply(d) = g.judge(ban("web3", "portscan", 3600), 1000) else {
            panic!("quorum reached")
        };
        assert!(
            d.summary.contains("reported by web2, web3"),
            "{}",
            d.summary
        );
        assert_eq!(g.awaiting(), 0);
    }
}
