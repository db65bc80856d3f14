//! The account a blocked address tried, for the page: read again from the
//! ban's evidence lines by the same rules that decided the ban, so the
//! account comes from the rule's `user` capture (a trusted position in the
//! line), never from a guess at the text. Only lines whose address is the
//! requester's own are read: the page never shows another address's data.

use rampart_core::config::Config;
use rampart_core::engine::{Engine, Scratch};
use rampart_core::rule::RuleDef;
use rampart_core::text::escape_controls;
use rampart_core::time::{TimeContext, Timestamp};
use std::net::IpAddr;
use std::sync::Mutex;

/// Longest account name shown (longer ones are cut, with `…`).
const MAX_CHARS: usize = 64;

/// The rules, compiled lazily per scope on first use, with their scratch.
pub struct Accounts {
    engine: Engine,
    scratch: Mutex<Scratch>,
}

impl Accounts {
    /// The rules the daemon detects with, and its proxy settings.
    pub fn new(rules: Vec<RuleDef>, config: &Config) -> anyhow::Result<Accounts> {
        let mut engine = Engine::new(rules, config.trusted_proxies.clone())?;
        engine.trust_private_proxies = config.trust_private_proxies;
        Ok(Accounts::with(engine))
    }

    fn with(engine: Engine) -> Accounts {
        let scratch = Mutex::new(engine.scratch());
        Accounts { engine, scratch }
    }

    /// The last account `ip` tried in `evidence` (oldest first), escaped
    /// for display; `None` when no line names one.
    pub fn tried(&self, ip: IpAddr, evidence: &[String], now: Timestamp) -> Option<String> {
        let ctx = TimeContext::utc(now);
        let mut scratch = self
            .scratch
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        evidence.iter().rev().find_map(|line| {
            let hit = self
                .engine
                .match_line(line.as_bytes(), &ctx, &mut scratch)
                .ok()?;
            let user = hit.user.filter(|u| !u.is_empty() && hit.ip == ip)?;
            Some(shorten(&escape_controls(&String::from_utf8_lossy(user))))
        })
    }
}

fn shorten(s: &str) -> String {
    match s.char_indices().nth(MAX_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accounts() -> Accounts {
        let rules = rampart_core::builtin::rules().expect("built-in rules");
        Accounts::with(Engine::new(rules, Vec::new()).expect("compiles"))
    }

    #[test]
    fn the_account_comes_from_the_requesters_own_lines() {
        let a = accounts();
        let evidence = vec![
            "Dec  3 10:00:00 mail dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<alice@example.com>, method=PLAIN, rip=198.51.100.7, lip=192.0.2.1, session=<x>".to_string(),
            "Dec  3 10:00:01 mail dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<mallory@example.com>, method=PLAIN, rip=203.0.113.9, lip=192.0.2.1, session=<y>".to_string(),
        ];
        let me: IpAddr = "198.51.100.7".parse().expect("addr");
        assert_eq!(
            a.tried(me, &evidence, 1_796_292_000).as_deref(),
            Some("alice@example.com")
        );
        let nobody: IpAddr = "192.0.2.99".parse().expect("addr");
        assert_eq!(a.tried(nobody, &evidence, 1_796_292_000), None);
    }

    #[test]
    fn control_characters_are_escaped_and_long_names_cut() {
        assert_eq!(shorten(&"x".repeat(70)).chars().count(), MAX_CHARS + 1);
        let a = accounts();
        let line = "Dec  3 10:00:00 web1 sshd[42]: Invalid user \u{1b}[31mroot from 198.51.100.7 port 4000".to_string();
        let me: IpAddr = "198.51.100.7".parse().expect("addr");
        let got = a.tried(me, &[line], 1_796_292_000).unwrap_or_default();
        assert!(!got.contains('\u{1b}'), "{got}");
    }
}
