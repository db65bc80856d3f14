//! fail2ban → Rampart.
//!
//! fail2ban's configuration is Python `ConfigParser` files read in its own
//! order: `jail.conf`, `jail.d/*.conf`, `jail.local`, `jail.d/*.local`,
//! later files overriding earlier ones key by key, each file's
//! `[INCLUDES] before/after` files read around it (Debian's `jail.conf`
//! pulls in `paths-debian.conf` → `paths-common.conf`). A jail's value is
//! looked up in its section, then in `[DEFAULT]`, so a `[DEFAULT]` in
//! `jail.local` changes every jail that does not set the key itself.
//! Values interpolate `%(name)s` (same lookup), `%(default/name)s`,
//! `%(known/name)s` and `%(__name__)s` (the jail's name).
//!
//! Each enabled jail maps, by its filter, to Rampart reasons (`sshd`,
//! `smtpauth`, ...): `maxretry` → threshold, `findtime` → window,
//! `bantime` → ban; `logpath` → `[sources] files` (or the journal for
//! `backend = systemd`); `ignoreip` → `[detect] ignore`;
//! `bantime.increment` and the `recidive` jail → `[ban]` escalation.
//! Active bans come from the `bips` table of fail2ban's SQLite database.

use super::{
    ConfigOut, Import, ImportError, ImportedEntry, Report, Tool, duration_text, read_optional,
};
use rampart_core::addr::Net;
use rampart_core::time::Timestamp;
use rampart_store::Kind;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use toml::Value;

/// fail2ban filters → Rampart reasons.
const FILTERS: &[(&str, &[&str])] = &[
    ("sshd", &["sshd"]),
    ("dropbear", &["sshd"]),
    ("selinux-ssh", &["sshd"]),
    ("postfix-sasl", &["smtpauth"]),
    ("sasl", &["smtpauth"]),
    ("sendmail-auth", &["smtpauth"]),
    ("courier-smtp", &["smtpauth"]),
    ("exim", &["email_abuse"]),
    ("exim-spam", &["email_abuse"]),
    ("postfix", &["email_abuse"]),
    ("postfix-rbl", &["email_abuse"]),
    ("sendmail-reject", &["email_abuse"]),
    ("dovecot", &["imapd", "pop3d"]),
    ("courier-auth", &["imapd", "pop3d"]),
    ("uwimap-auth", &["imapd", "pop3d"]),
    ("cyrus-imap", &["imapd"]),
    ("solid-pop3d", &["pop3d"]),
    ("pure-ftpd", &["ftpd"]),
    ("proftpd", &["ftpd"]),
    ("vsftpd", &["ftpd"]),
    ("wuftpd", &["ftpd"]),
    ("apache-auth", &["htpasswd"]),
    ("nginx-http-auth", &["htpasswd"]),
    ("apache-modsecurity", &["mod_security"]),
    ("apache-badbots", &["web_probe"]),
    ("apache-noscript", &["web_probe"]),
    ("apache-nohome", &["web_probe"]),
    ("apache-botsearch", &["web_probe"]),
    ("nginx-botsearch", &["web_probe"]),
    ("php-url-fopen", &["web_probe"]),
    ("apache-overflows", &["web_traversal"]),
    ("apache-shellshock", &["web_traversal"]),
    ("suhosin", &["web_traversal"]),
    ("roundcube-auth", &["webmail"]),
    ("sogo-auth", &["webmail"]),
    ("horde", &["webmail"]),
    ("squirrelmail", &["webmail"]),
    ("webmin-auth", &["cpanel"]),
    ("directadmin", &["cpanel"]),
    ("cpanel", &["cpanel"]),
    ("wordpress", &["cms_login"]),
    ("wordpress-hard", &["cms_login"]),
    ("wordpress-soft", &["cms_login"]),
    ("drupal-auth", &["cms_login"]),
    ("named-refused", &["dns"]),
    ("portsentry", &["portscan"]),
    ("suricata", &["ids"]),
];

/// Sections that are not jails.
const NOT_JAILS: &[&str] = &["DEFAULT", "INCLUDES", "Definition", "Init"];

/// One value as read: the text, the file and section it was set in.
#[derive(Debug, Clone)]
struct Raw {
    value: String,
    file: String,
    section: String,
}

/// fail2ban's configuration, merged in reading order.
#[derive(Debug, Default)]
struct Ini {
    /// section → key → value (the last one read wins)
    sections: Vec<(String, HashMap<String, Raw>)>,
    /// `known/`: the value a key had before the last override.
    known: HashMap<(String, String), Raw>,
}

impl Ini {
    fn section_mut(&mut self, name: &str) -> &mut HashMap<String, Raw> {
        let i = match self.sections.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None => {
                self.sections.push((name.to_string(), HashMap::new()));
                self.sections.len() - 1
            }
        };
        &mut self.sections[i].1
    }

    fn set(&mut self, section: &str, key: &str, raw: Raw) {
        if let Some(old) = self.section_mut(section).insert(key.to_string(), raw) {
            self.known
                .insert((section.to_string(), key.to_string()), old);
        }
    }

    fn raw(&self, section: &str, key: &str) -> Option<&Raw> {
        let find = |s: &str| {
            self.sections
                .iter()
                .find(|(n, _)| n == s)
                .and_then(|(_, m)| m.get(key))
        };
        find(section).or_else(|| find("DEFAULT"))
    }

    /// The value of `key` for `section`, interpolated.
    fn get(&self, section: &str, key: &str) -> Option<String> {
        let raw = self.raw(section, key)?;
        Some(self.interpolate(section, key, &raw.value, 0))
    }

    /// `file [section] key = value`, naming where a jail's value was set.
    fn origin(&self, section: &str, key: &str) -> String {
        match self.raw(section, key) {
            Some(r) => format!("{} [{}] {key} = {}", r.file, r.section, one_line(&r.value)),
            None => format!("[{section}] {key} (fail2ban's default)"),
        }
    }

    fn interpolate(&self, section: &str, key: &str, text: &str, depth: u8) -> String {
        if depth > 10 || !text.contains("%(") {
            return text.to_string();
        }
        let mut out = String::new();
        let mut rest = text;
        while let Some(p) = rest.find("%(") {
            out.push_str(&rest[..p]);
            let after = &rest[p + 2..];
            let Some(e) = after.find(")s") else {
                out.push_str(&rest[p..]);
                return out;
            };
            let name = &after[..e];
            let value = if name == "__name__" {
                Some(section.to_string())
            } else if let Some(n) = name.strip_prefix("default/") {
                self.raw("DEFAULT", n).map(|r| r.value.clone())
            } else if let Some(n) = name.strip_prefix("known/") {
                self.known
                    .get(&(section.to_string(), n.to_string()))
                    .or_else(|| self.known.get(&("DEFAULT".to_string(), n.to_string())))
                    .map(|r| r.value.clone())
            } else if name == key {
                // `key = %(key)s extra`: the value before this one
                self.known
                    .get(&(section.to_string(), name.to_string()))
                    .map(|r| r.value.clone())
            } else {
                self.raw(section, name).map(|r| r.value.clone())
            };
            match value {
                Some(v) => out.push_str(&self.interpolate(section, name, &v, depth + 1)),
                None => out.push_str(&rest[p..p + 2 + e + 2]),
            }
            rest = &after[e + 2..];
        }
        out.push_str(rest);
        out
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Parses one ConfigParser file into `ini` (reading its `[INCLUDES]`).
fn read_file(ini: &mut Ini, dir: &Path, name: &str, depth: u8) -> Result<bool, ImportError> {
    let Some(text) = read_optional(&dir.join(name))? else {
        return Ok(false);
    };
    let parsed = parse_ini(&text);
    let includes = |k: &str| -> Vec<String> {
        parsed
            .iter()
            .filter(|(s, key, _)| s == "INCLUDES" && key == k)
            .flat_map(|(_, _, v)| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .collect()
    };
    if depth < 8 {
        for f in includes("before") {
            read_file(ini, dir, &f, depth + 1)?;
        }
    }
    for (section, key, value) in &parsed {
        if section != "INCLUDES" {
            let raw = Raw {
                value: value.clone(),
                file: name.to_string(),
                section: section.clone(),
            };
            ini.set(section, key, raw);
        }
    }
    if depth < 8 {
        for f in includes("after") {
            read_file(ini, dir, &f, depth + 1)?;
        }
    }
    Ok(true)
}

/// `(section, key, value)` in file order; continuation lines joined with
/// a newline; `#`/`;` comments and ` #`/` ;` inline comments dropped.
fn parse_ini(text: &str) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = Vec::new();
    let mut section = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        let t = strip_inline_comment(t);
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut().filter(|l| l.0 == section) {
                last.2.push('\n');
                last.2.push_str(t);
            }
            continue;
        }
        if let Some(s) = t.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            section = s.trim().to_string();
            continue;
        }
        let cut = t.find(['=', ':']).unwrap_or(t.len());
        let (k, v) = t.split_at(cut);
        let v = v.get(1..).unwrap_or("");
        out.push((section.clone(), k.trim().to_string(), v.trim().to_string()));
    }
    out
}

fn strip_inline_comment(t: &str) -> &str {
    [" #", " ;", "\t#", "\t;"]
        .iter()
        .filter_map(|p| t.find(p))
        .min()
        .map_or(t, |i| t[..i].trim_end())
}

/// Reads `name.conf`, `name.d/*.conf`, `name.local`, `name.d/*.local`.
fn read_layered(ini: &mut Ini, dir: &Path, name: &str) -> Result<Vec<String>, ImportError> {
    let mut read = Vec::new();
    let d = format!("{name}.d");
    let listed = |ext: &str| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir.join(&d))
            .map(|r| {
                r.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(ext))
                    .map(|n| format!("{d}/{n}"))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    let mut files = vec![format!("{name}.conf")];
    files.extend(listed(".conf"));
    files.push(format!("{name}.local"));
    files.extend(listed(".local"));
    for f in files {
        if read_file(ini, dir, &f, 0)? {
            read.push(f);
        }
    }
    Ok(read)
}

/// fail2ban's time values: `600`, `10m`, `1h 30m`, `1d`, `1w`, `-1`.
/// `None` for permanent (negative), `Some(None)` when unreadable.
fn seconds(s: &str) -> Option<Option<u64>> {
    let s = s.trim().to_ascii_lowercase();
    if s.starts_with('-') {
        return None;
    }
    let mut total = 0u64;
    let mut rest = s.as_str();
    while !rest.is_empty() {
        rest = rest.trim_start();
        let n_end = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let Ok(n) = rest[..n_end].parse::<f64>() else {
            return Some(None);
        };
        rest = rest[n_end..].trim_start();
        let u_end = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let mult = match &rest[..u_end] {
            "" | "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
            "m" | "mi" | "min" | "mins" | "minute" | "minutes" => 60.0,
            "h" | "hour" | "hours" => 3600.0,
            "d" | "day" | "days" => 86400.0,
            "w" | "week" | "weeks" => 604800.0,
            "mo" | "mon" | "month" | "months" => 2_629_800.0,
            "y" | "year" | "years" => 31_557_600.0,
            _ => return Some(None),
        };
        total += (n * mult) as u64;
        rest = &rest[u_end..];
    }
    Some(Some(total))
}

fn truthy(s: &str) -> bool {
    matches!(
        s.trim().to_ascii_lowercase().as_str(),
        "true" | "yes" | "1" | "on" | "enabled"
    )
}

/// The filter's name: `sshd[mode=aggressive]` → `sshd`.
fn filter_name(ini: &Ini, jail: &str) -> String {
    let f = ini.get(jail, "filter").unwrap_or_else(|| jail.to_string());
    let f = f.split('[').next().unwrap_or("").trim();
    if f.is_empty() {
        jail.to_string()
    } else {
        f.to_string()
    }
}

fn reasons_of(ini: &Ini, jail: &str) -> &'static [&'static str] {
    // the jail's own name first (`postfix-sasl` runs filter `postfix[mode=auth]`)
    let f = filter_name(ini, jail);
    [jail, f.as_str()]
        .iter()
        .find_map(|name| FILTERS.iter().find(|(n, _)| n == name))
        .map_or(&[], |(_, r)| r)
}

/// The conversion in progress.
struct Conv<'i> {
    ini: &'i Ini,
    out: ConfigOut,
    report: Report,
    files: Vec<String>,
    journal: Option<String>,
    ignore: Vec<String>,
}

impl Conv<'_> {
    fn conv(&mut self, jail: &str, key: &str, table: &str, tkey: &str, value: Value) {
        let origin = self.ini.origin(jail, key);
        self.report
            .converted(&origin, format!("[{table}] {tkey} = {value}"));
        self.out.set(table, tkey, value, origin);
    }

    fn jail(&mut self, jail: &str) {
        let reasons = reasons_of(self.ini, jail);
        if jail == "recidive" {
            self.recidive();
            return;
        }
        if reasons.is_empty() {
            let f = filter_name(self.ini, jail);
            self.report.todo(
                format!("jail [{jail}]"),
                format!("filter {f:?} has no built-in equivalent: write its failregex as [[rule]]s in /etc/rampart/rules.d/ (docs/rules.md) and test them with `rampart rules test`"),
            );
            return;
        }
        for r in reasons {
            self.tune(jail, r);
        }
        self.logs(jail);
        self.jail_notes(jail);
    }

    fn tune(&mut self, jail: &str, reason: &str) {
        let t = format!("reasons.{reason}");
        if self.out.get(&t, "threshold").is_some() {
            self.report.different(
                format!("jail [{jail}]"),
                format!("Rampart has one `{reason}` setting; the first jail's values were kept"),
            );
            return;
        }
        if let Some(n) = self
            .ini
            .get(jail, "maxretry")
            .and_then(|v| v.trim().parse::<i64>().ok())
            .filter(|n| *n > 0)
        {
            self.conv(jail, "maxretry", &t, "threshold", Value::Integer(n));
        }
        match self.ini.get(jail, "findtime").map(|v| seconds(&v)) {
            Some(Some(Some(s))) if s > 0 => self.conv(
                jail,
                "findtime",
                &t,
                "window",
                Value::String(duration_text(s)),
            ),
            Some(Some(_)) | Some(None) => self.report.none(
                self.ini.origin(jail, "findtime"),
                "not a time Rampart reads",
            ),
            None => {}
        }
        match self.ini.get(jail, "bantime").map(|v| seconds(&v)) {
            Some(None) => self.conv(
                jail,
                "bantime",
                &t,
                "ban",
                Value::String("permanent".into()),
            ),
            Some(Some(Some(s))) if s > 0 => {
                self.conv(jail, "bantime", &t, "ban", Value::String(duration_text(s)))
            }
            Some(Some(_)) => self
                .report
                .none(self.ini.origin(jail, "bantime"), "not a time Rampart reads"),
            None => {}
        }
    }

    fn logs(&mut self, jail: &str) {
        let backend = self.ini.get(jail, "backend").unwrap_or_default();
        if backend.trim().starts_with("systemd") {
            self.journal
                .get_or_insert_with(|| self.ini.origin(jail, "backend"));
            return;
        }
        let Some(paths) = self.ini.get(jail, "logpath") else {
            return;
        };
        for p in paths.split_whitespace() {
            if p.contains("%(") {
                self.report.none(
                    self.ini.origin(jail, "logpath"),
                    format!("{p}: an unknown variable"),
                );
            } else if !self.files.iter().any(|f| f == p) {
                self.files.push(p.to_string());
            }
        }
    }

    fn jail_notes(&mut self, jail: &str) {
        if let Some(ips) = self
            .ini
            .raw(jail, "ignoreip")
            .filter(|r| r.section == jail)
            .map(|r| r.value.clone())
        {
            self.report.different(
                self.ini.origin(jail, "ignoreip"),
                "a jail's ignoreip applies to every reason in Rampart ([detect] ignore)",
            );
            self.ignore_list(jail, &ips);
        }
        if self
            .ini
            .get(jail, "action")
            .is_some_and(|a| a.contains("mail") || a.contains("mw"))
        {
            self.report.none(
                self.ini.origin(jail, "action"),
                "e-mail actions: not implemented yet; Rampart logs every ban (journal) and `rampart why ADDR` explains it",
            );
        }
    }

    fn ignore_list(&mut self, section: &str, text: &str) {
        let text = self.ini.interpolate(section, "ignoreip", text, 0);
        for a in text.split([' ', ',', '\n', '\t']).filter(|a| !a.is_empty()) {
            if Net::parse(a).is_some() {
                if !self.ignore.iter().any(|i| i == a) {
                    self.ignore.push(a.to_string());
                }
            } else {
                self.report.none(
                    self.ini.origin(section, "ignoreip"),
                    format!("{a:?}: Rampart ignores addresses and CIDRs, not host names"),
                );
            }
        }
    }

    /// `bantime.increment` and its factors → `[ban]`.
    fn escalation(&mut self) {
        let inc = self
            .ini
            .get("DEFAULT", "bantime.increment")
            .is_some_and(|v| truthy(&v));
        if !inc {
            let origin = self.ini.origin("DEFAULT", "bantime.increment");
            self.out.set(
                "ban",
                "escalation_factor",
                Value::Integer(1),
                origin.clone(),
            );
            self.out
                .set("ban", "permanent_after", Value::Integer(0), origin.clone());
            self.report.converted(
                &origin,
                "[ban] escalation_factor = 1, permanent_after = 0 (every ban lasts bantime)",
            );
            self.report.different(&origin, "Rampart escalates repeat offenders by default (4x per repeat, permanent at the 4th ban in 7 days); kept flat as in fail2ban: remove [ban] to use it");
            return;
        }
        self.conv(
            "DEFAULT",
            "bantime.increment",
            "ban",
            "escalation_factor",
            Value::Integer(2),
        );
        self.out.set(
            "ban",
            "permanent_after",
            Value::Integer(0),
            "fail2ban never makes an incremented ban permanent",
        );
        if let Some(Some(Some(m))) = self
            .ini
            .get("DEFAULT", "bantime.maxtime")
            .map(|v| seconds(&v))
        {
            self.conv(
                "DEFAULT",
                "bantime.maxtime",
                "ban",
                "max_ban",
                Value::String(duration_text(m)),
            );
        }
        let set = |k: &str| {
            self.ini
                .get("DEFAULT", k)
                .is_some_and(|v| !v.trim().is_empty() && v.trim() != "1")
        };
        for k in ["bantime.factor", "bantime.formula", "bantime.multipliers"] {
            if set(k) {
                self.report.different(self.ini.origin("DEFAULT", k), "Rampart multiplies each repeat ban by [ban] escalation_factor (2 here, fail2ban's doubling); other formulas are approximated");
            }
        }
        if set("bantime.rndtime") {
            self.report.none(
                self.ini.origin("DEFAULT", "bantime.rndtime"),
                "random extra ban time: not in Rampart",
            );
        }
        if self
            .ini
            .get("DEFAULT", "bantime.overalljails")
            .is_none_or(|v| !truthy(&v))
        {
            self.report.different(self.ini.origin("DEFAULT", "bantime.overalljails"), "Rampart counts an address's earlier bans across all reasons (as overalljails = true)");
        }
    }

    /// `[recidive]`: repeat offenders → `[ban]` history and permanence.
    fn recidive(&mut self) {
        if let Some(Some(Some(s))) = self.ini.get("recidive", "findtime").map(|v| seconds(&v)) {
            self.conv(
                "recidive",
                "findtime",
                "ban",
                "history",
                Value::String(duration_text(s)),
            );
        }
        let n = self
            .ini
            .get("recidive", "maxretry")
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or(5);
        match self.ini.get("recidive", "bantime").map(|v| seconds(&v)) {
            Some(None) => self.conv(
                "recidive",
                "maxretry",
                "ban",
                "permanent_after",
                Value::Integer(n),
            ),
            Some(Some(Some(s))) => {
                if self.out.get("ban", "max_ban").is_none() {
                    let v = Value::String(duration_text(s));
                    self.conv("recidive", "bantime", "ban", "max_ban", v);
                }
                self.report.different("jail [recidive]", format!("fail2ban banned for {} after {n} bans; Rampart escalates each repeat ban up to [ban] max_ban instead", duration_text(s)));
            }
            _ => {}
        }
        self.report.different(
            "jail [recidive]",
            "Rampart needs no log of its own bans: escalation counts the bans in its store",
        );
    }

    fn finish(&mut self) {
        if !self.ignore.is_empty() {
            let arr = self.ignore.iter().cloned().map(Value::String).collect();
            let origin = self.ini.origin("DEFAULT", "ignoreip");
            self.report.converted(
                &origin,
                format!("[detect] ignore = {} addresses", self.ignore.len()),
            );
            self.out.set("detect", "ignore", Value::Array(arr), origin);
        }
        if !self.files.is_empty() {
            let arr = self.files.iter().cloned().map(Value::String).collect();
            self.out.set(
                "sources",
                "files",
                Value::Array(arr),
                "logpath of the enabled jails",
            );
            self.report.converted(
                "logpath",
                format!(
                    "[sources] files = {} log files of the enabled jails",
                    self.files.len()
                ),
            );
        }
        if let Some(origin) = self.journal.clone() {
            self.report.converted(&origin, "[sources] journal = true");
            self.out
                .set("sources", "journal", Value::Boolean(true), origin);
        }
    }
}

/// Active bans from fail2ban's database (`bips`).
fn active_bans(
    db: &Path,
    ini: &Ini,
    now: Timestamp,
    report: &mut Report,
) -> Result<Vec<ImportedEntry>, ImportError> {
    let shown = db.display().to_string();
    if !db.exists() {
        report.different(&shown, "no database there: no active bans imported");
        return Ok(Vec::new());
    }
    let err = |source| ImportError::Database {
        path: shown.clone(),
        source,
    };
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(err)?;
    let mut st = conn
        .prepare(
            "SELECT ip, jail, timeofban, bantime, bancount, data FROM bips ORDER BY timeofban, ip",
        )
        .map_err(err)?;
    let rows = st
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })
        .map_err(err)?;
    let (mut out, mut expired) = (Vec::new(), 0);
    for row in rows {
        let (ip, jail, at, len, count, data) = row.map_err(err)?;
        let origin = format!(
            "{} [{jail}] {ip}",
            db.file_name()
                .map_or(shown.clone(), |f| f.to_string_lossy().into_owned())
        );
        let Some(target) = Net::parse(&ip) else {
            report.none(origin, "not an address");
            continue;
        };
        let expires = (len >= 0).then(|| at.saturating_add(len));
        if expires.is_some_and(|e| e <= now) {
            expired += 1;
            continue;
        }
        let (failures, evidence) = ban_data(data.as_deref());
        let reason = reasons_of(ini, &jail).first().copied().unwrap_or("manual");
        let summary = format!("fail2ban jail {jail}: {failures} failures, ban #{count}");
        out.push(ImportedEntry {
            kind: Kind::Deny,
            target,
            expires,
            reason: reason.into(),
            summary,
            evidence,
            origin,
        });
    }
    if !out.is_empty() {
        report.converted(
            &shown,
            format!(
                "{} active bans, with their remaining time and log lines",
                out.len()
            ),
        );
    }
    if expired > 0 {
        report.different(&shown, format!("{expired} expired bans skipped"));
    }
    Ok(out)
}

/// `data` of a ban: `{"matches": [...], "failures": N}` (matches are lines,
/// or lists of line parts).
fn ban_data(data: Option<&str>) -> (u64, Vec<String>) {
    let Some(v) = data.and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok()) else {
        return (0, Vec::new());
    };
    let failures = v["failures"].as_u64().unwrap_or(0);
    let lines = v["matches"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| match m {
                    serde_json::Value::Array(parts) => parts
                        .iter()
                        .filter_map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join(""),
                    other => other.as_str().unwrap_or("").to_string(),
                })
                .filter(|l| !l.is_empty())
                .collect()
        })
        .unwrap_or_default();
    (failures, lines)
}

/// Where fail2ban keeps its database: `fail2ban.conf`/`.local` `dbfile`.
fn db_path(dir: &Path) -> Result<Option<PathBuf>, ImportError> {
    let mut ini = Ini::default();
    read_layered(&mut ini, dir, "fail2ban")?;
    let p = ini
        .get("Definition", "dbfile")
        .unwrap_or_else(|| "/var/lib/fail2ban/fail2ban.sqlite3".into());
    let p = p.trim();
    Ok(
        (!p.is_empty() && p != ":memory:" && !p.eq_ignore_ascii_case("none"))
            .then(|| PathBuf::from(p)),
    )
}

/// Imports the fail2ban set-up in `dir` (`/etc/fail2ban`); active bans
/// from `db` (default: fail2ban's `dbfile`). `now` decides which bans are
/// still in force.
pub fn import(dir: &Path, db: Option<&Path>, now: Timestamp) -> Result<Import, ImportError> {
    let mut ini = Ini::default();
    let files = read_layered(&mut ini, dir, "jail")?;
    if files.is_empty() {
        return Err(ImportError::NotFound {
            dir: dir.display().to_string(),
            what: "jail.conf or jail.local",
        });
    }
    let header = [
        format!(
            "Rampart configuration imported from fail2ban ({}) by `rampart import fail2ban`.",
            dir.display()
        ),
        format!(
            "Read: {}. Each setting names its origin; the import report lists what was not converted.",
            files.join(", ")
        ),
    ];
    let mut cv = Conv {
        ini: &ini,
        out: ConfigOut::new(&header.iter().map(String::as_str).collect::<Vec<_>>()),
        report: Report::default(),
        files: Vec::new(),
        journal: None,
        ignore: Vec::new(),
    };
    if let Some(ips) = ini.raw("DEFAULT", "ignoreip").map(|r| r.value.clone()) {
        cv.ignore_list("DEFAULT", &ips);
    }
    let jails: Vec<&str> = ini
        .sections
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| !NOT_JAILS.contains(n))
        .collect();
    let enabled: Vec<&str> = jails
        .iter()
        .copied()
        .filter(|j| ini.get(j, "enabled").is_some_and(|v| truthy(&v)))
        .collect();
    cv.escalation();
    for j in &enabled {
        cv.jail(j);
    }
    cv.finish();
    let off = jails.len() - enabled.len();
    let Conv {
        out, mut report, ..
    } = cv;
    report.different(
        "jail.conf",
        format!(
            "{} jails enabled, {off} disabled (not converted)",
            enabled.len()
        ),
    );
    report.different(
        "jail.conf",
        "fail2ban banned the jail's ports; Rampart bans the whole address",
    );
    let db = match db {
        Some(p) => Some(p.to_path_buf()),
        None => db_path(dir)?,
    };
    let entries = match db {
        Some(p) => active_bans(&p, &ini, now, &mut report)?,
        None => Vec::new(),
    };
    Ok(Import {
        tool: Tool::Fail2ban,
        config: out,
        entries,
        report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail2ban_times() {
        assert_eq!(seconds("600"), Some(Some(600)));
        assert_eq!(seconds("10m"), Some(Some(600)));
        assert_eq!(seconds("1h 30m"), Some(Some(5400)));
        assert_eq!(seconds("1w"), Some(Some(604_800)));
        assert_eq!(seconds("-1"), None);
        assert_eq!(seconds("soon"), Some(None));
    }

    #[test]
    fn interpolation_and_continuations() {
        let mut ini = Ini::default();
        let text = "[DEFAULT]\nlog = /var/log/auth.log\nbackend = auto\nfilter = %(__name__)s[mode=%(mode)s]\nmode = normal\n[sshd]\nlogpath = %(log)s\n          /var/log/secure ; inline\nbackend = %(default/backend)s\n";
        for (s, k, v) in parse_ini(text) {
            ini.set(
                &s,
                &k,
                Raw {
                    value: v,
                    file: "t".into(),
                    section: s.clone(),
                },
            );
        }
        assert_eq!(
            ini.get("sshd", "logpath").as_deref(),
            Some("/var/log/auth.log\n/var/log/secure")
        );
        assert_eq!(ini.get("sshd", "backend").as_deref(), Some("auto"));
        assert_eq!(
            ini.get("sshd", "filter").as_deref(),
            Some("sshd[mode=normal]")
        );
        assert_eq!(filter_name(&ini, "sshd"), "sshd");
    }
}
