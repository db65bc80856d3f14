//! Templates (minijinja): built-in ones embedded in the binary, each
//! overridable by a file of the same name in the templates directory
//! (`[alerts] templates`, default `/etc/rampart/templates/`).
//!
//! Each alert is rendered in three parts: `subject` (one line), `txt` (the
//! plain-text body, also used by chat webhooks) and `html` (the HTML part
//! of e-mails, HTML-escaped automatically). A part is looked up as
//! `KIND.PART` (`perm_ban.subject`) then `GROUP.PART` (`ban.subject`);
//! groups are `ban` (both ban kinds), `digest`, `summary` and `notice`
//! (everything else). A user template that fails to parse or render is
//! reported and the built-in one is used: an alert is never lost to a
//! template typo.

use super::kinds::Alert;
use minijinja::{Environment, Value};
use std::path::Path;

/// The parts of an alert.
const PARTS: [&str; 3] = ["subject", "txt", "html"];
/// Template groups.
const GROUPS: [&str; 4] = ["ban", "digest", "notice", "summary"];

macro_rules! builtin {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("templates/", $name)))),*]
    };
}

/// The built-in templates, by name.
const BUILTIN: &[(&str, &str)] = builtin!(
    "ban.subject",
    "ban.txt",
    "ban.html",
    "digest.subject",
    "digest.txt",
    "digest.html",
    "notice.subject",
    "notice.txt",
    "notice.html",
    "summary.subject",
    "summary.txt",
    "summary.html",
);

/// An alert, rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// One line.
    pub subject: String,
    /// Plain text.
    pub text: String,
    /// HTML.
    pub html: String,
}

/// The loaded templates.
pub struct Templates {
    env: Environment<'static>,
    /// Names of the user's templates that were loaded.
    user: Vec<String>,
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .build()
    {
        env.set_syntax(syntax);
    }
    env
}

impl Templates {
    /// The built-ins plus the overrides found in `dir`; problems with user
    /// files come back as messages (those files are not used).
    pub fn load(dir: &Path) -> (Templates, Vec<String>) {
        let mut env = environment();
        for (name, src) in BUILTIN {
            // the built-ins are checked by the tests
            let _ = env.add_template_owned(format!("builtin/{name}"), *src);
        }
        let mut user = Vec::new();
        let mut problems = Vec::new();
        for name in user_names() {
            let path = dir.join(&name);
            let Ok(src) = std::fs::read_to_string(&path) else {
                continue;
            };
            match env.add_template_owned(name.clone(), src) {
                Ok(()) => user.push(name),
                Err(e) => problems.push(format!("{}: {e:#}", path.display())),
            }
        }
        (Templates { env, user }, problems)
    }

    /// The user templates in use.
    pub fn overrides(&self) -> &[String] {
        &self.user
    }

    /// Renders `alert`; a failing user template falls back to the
    /// built-in (the problem comes back with the result).
    pub fn render(&self, alert: &Alert) -> (Rendered, Option<String>) {
        let ctx = Value::from(minijinja::value::Serde(alert));
        let mut problem = None;
        let mut part = |p: &str| self.part(alert, p, &ctx, &mut problem);
        let subject = one_line(&part("subject"));
        let text = part("txt");
        let html = part("html");
        (
            Rendered {
                subject,
                text,
                html,
            },
            problem,
        )
    }

    fn part(&self, alert: &Alert, part: &str, ctx: &Value, problem: &mut Option<String>) -> String {
        let group = group(alert);
        for name in [format!("{}.{part}", alert.kind), format!("{group}.{part}")] {
            if !self.user.contains(&name) {
                continue;
            }
            match self.env.get_template(&name).and_then(|t| t.render(ctx)) {
                Ok(s) => return s,
                Err(e) => *problem = Some(format!("template {name}: {e:#}")),
            }
        }
        let name = format!("builtin/{group}.{part}");
        self.env
            .get_template(&name)
            .and_then(|t| t.render(ctx))
            .unwrap_or_else(|e| {
                *problem = Some(format!("built-in template {name}: {e:#}"));
                String::new()
            })
    }
}

fn group(alert: &Alert) -> &'static str {
    if alert.digest.is_some() {
        "digest"
    } else if alert.ban.is_some() {
        "ban"
    } else if alert.summary.is_some() {
        "summary"
    } else {
        "notice"
    }
}

/// Every file name the templates directory may override.
fn user_names() -> Vec<String> {
    let kinds = rampart_core::config::alerts::AlertKind::ALL.map(|k| k.name());
    let mut out = Vec::new();
    for stem in kinds.iter().chain(GROUPS.iter()) {
        for p in PARTS {
            out.push(format!("{stem}.{p}"));
        }
    }
    out
}

/// A subject is one line, whatever the template did.
fn one_line(s: &str) -> String {
    let s: Vec<&str> = s.split_whitespace().collect();
    s.join(" ")
}

#[cfg(test)]
mod tests {
    use super::super::kinds::{Context, Lookup};
    use super::super::storm::Digest;
    use super::*;
    use crate::daemon::events::{Ban, BanOrigin, Event};
    use rampart_core::addr::Net;
    use rampart_core::config::alerts::AlertKind;
    use std::sync::Arc;

    fn ban_event() -> Event {
        Event::BanApplied(Arc::new(Ban {
            target: Net::parse("198.51.100.7").expect("address"),
            reason: "sshd".into(),
            rule: "sshd.failed_password".into(),
            summary: "(sshd) Failed SSH login from 198.51.100.7: 5 in the last 3600 secs".into(),
            evidence: vec!["sshd[9]: Failed password for <b>root</b>".into()],
            len: Some(3600),
            level: 1,
            base_len: None,
            origin: BanOrigin::Detector,
            decided: 0,
            read_at: std::time::Instant::now(),
            offender: std::net::IpAddr::from([198, 51, 100, 7]),
        }))
    }

    fn cx(reasons: &[rampart_core::explain::Reason]) -> Context<'_> {
        Context {
            host: "web1",
            reasons,
            now: 1_700_000_000,
        }
    }

    #[test]
    fn built_in_templates_render_every_group() {
        let (t, problems) = Templates::load(Path::new("/nonexistent"));
        assert!(problems.is_empty() && t.overrides().is_empty());
        let reasons = rampart_core::explain::builtin();
        let lookup = Lookup {
            rdns: Some("scanner.example.net".into()),
            country: Some(("NL".into(), Some("Netherlands".into()))),
        };
        let (r, p) = t.render(&cx(&reasons).build(AlertKind::TempBan, &ban_event(), &lookup));
        assert_eq!(p, None);
        assert_eq!(
            r.subject,
            "rampart on web1: blocked 198.51.100.7 (NL/Netherlands/scanner.example.net)"
        );
        assert!(
            r.text
                .contains("Reason:   Failed SSH login (sshd, rule sshd.failed_password)"),
            "{}",
            r.text
        );
        assert!(
            r.text
                .contains("Blocked:  for 1h (ban 2 within the history window)"),
            "{}",
            r.text
        );
        assert!(
            r.text
                .contains("  sshd[9]: Failed password for <b>root</b>\n"),
            "{}",
            r.text
        );
        assert!(
            r.text.contains("To lift it:  rampart unblock 198.51.100.7"),
            "{}",
            r.text
        );
        assert!(
            r.html.contains("for &lt;b&gt;root&lt;") && !r.html.contains("<b>"),
            "HTML is escaped: {}",
            r.html
        );
        let d = Digest {
            kind: AlertKind::TempBan,
            count: 312,
            duplicates: 0,
            since: 1_700_000_000,
            until: 1_700_000_600,
            by_category: vec![("sshd".into(), 280), ("smtpauth".into(), 32)],
            top_networks: vec![("198.51.100.0/24".into(), 40)],
            other_networks: 0,
            samples: vec!["198.51.100.7".into()],
        };
        let (r, p) = t.render(&cx(&reasons).digest(d, 600, 5));
        assert_eq!(p, None);
        assert_eq!(
            r.subject,
            "rampart on web1: 312 more temporary bans in the last 10 minutes"
        );
        assert!(
            r.text.starts_with(
                "312 more temporary bans in the last 10 minutes: 280 sshd, 32 smtpauth\n"
            ),
            "{}",
            r.text
        );
        assert!(
            r.text.contains("Top networks: 198.51.100.0/24 (40)\n"),
            "{}",
            r.text
        );
        let (r, _) = t.render(&cx(&reasons).build(
            AlertKind::Lifecycle,
            &Event::ReloadRefused("a.toml:3: x: bad\nb".into()),
            &Lookup::default(),
        ));
        assert_eq!(
            r.subject,
            "rampart on web1: reload refused, the running configuration stays"
        );
        assert!(r.text.contains("  a.toml:3: x: bad\n  b\n"), "{}", r.text);
        let mut day = super::super::summary::Day::default();
        day.add(&ban_event(), 0);
        let (r, p) = t.render(&cx(&reasons).summary(day.take(86_400)));
        assert_eq!(
            (p, r.subject.as_str()),
            (None, "rampart on web1: daily summary, 1 bans")
        );
    }

    #[test]
    fn user_templates_override_and_a_broken_one_falls_back() {
        let dir = std::env::temp_dir().join(format!("rampart-tpl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("perm_ban.subject"), "PERM {{ ban.address }}\n").expect("write");
        std::fs::write(
            dir.join("ban.subject"),
            "BAN {{ ban.address | nosuchfilter }}",
        )
        .expect("write");
        std::fs::write(dir.join("notice.txt"), "{% if %}").expect("write");
        let (t, problems) = Templates::load(&dir);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("notice.txt"), "{problems:?}");
        let reasons = rampart_core::explain::builtin();
        let Event::BanApplied(b) = ban_event() else {
            unreachable!()
        };
        let mut perm = (*b).clone();
        perm.len = None;
        let ev = Event::BanApplied(Arc::new(perm));
        let (r, p) = t.render(&cx(&reasons).build(AlertKind::PermBan, &ev, &Lookup::default()));
        assert_eq!((r.subject.as_str(), p), ("PERM 198.51.100.7", None));
        let (r, p) =
            t.render(&cx(&reasons).build(AlertKind::TempBan, &ban_event(), &Lookup::default()));
        assert_eq!(r.subject, "rampart on web1: blocked 198.51.100.7 (-/-/-)");
        assert!(p.is_some_and(|p| p.contains("ban.subject")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
