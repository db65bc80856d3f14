//! CSF/LFD → Rampart.
//!
//! Reads `csf.conf` (`KEY = "value"` lines), `csf.allow`, `csf.deny`,
//! `csf.ignore` (with `Include` lines, comments and the date stamps csf
//! appends), the temporary entries in `csf.tempban`/`csf.tempallow`
//! (`epoch|ip|ports|dir|ttl|comment`, in CSF's state directory),
//! `csf.blocklists`, `csf.dyndns` and `regex.custom.pm`.
//!
//! Every csf.conf key ends up in exactly one place: converted (a setting
//! with its origin as comment), no equivalent (grouped by feature, only
//! when the feature is on), different (a note on behaviour), or counted as
//! CSF's own mechanics (binary paths, timing, update servers) or as off.

use super::{
    ConfigOut, Import, ImportError, ImportedEntry, Report, Tool, duration_text, read, read_optional,
};
use rampart_core::addr::Net;
use rampart_core::time::Timestamp;
use rampart_store::Kind;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use toml::Value;

/// `csf.conf`: key → (value, line).
#[derive(Debug, Default)]
struct Conf {
    values: BTreeMap<String, (String, usize)>,
    order: Vec<String>,
}

impl Conf {
    fn parse(text: &str) -> Conf {
        let mut c = Conf::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.starts_with('#') {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let k = k.trim();
            if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                continue;
            }
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.rfind('"').map(|e| &v[..e]))
                .unwrap_or(v);
            if !c.values.contains_key(k) {
                c.order.push(k.to_string());
            }
            c.values
                .insert(k.to_string(), (v.trim().to_string(), i + 1));
        }
        c
    }
    fn get(&self, k: &str) -> Option<&str> {
        self.values.get(k).map(|(v, _)| v.as_str())
    }
    fn num(&self, k: &str) -> Option<u64> {
        self.get(k).and_then(|v| v.trim().parse().ok())
    }
    fn on(&self, k: &str) -> bool {
        self.num(k).is_some_and(|n| n > 0)
    }
    fn origin(&self, k: &str) -> String {
        format!("csf.conf {k} = \"{}\"", self.get(k).unwrap_or(""))
    }
}

/// Login-failure triggers with a Rampart reason: (trigger, reasons, log settings).
const TRIGGERS: &[(&str, &[&str], &[&str])] = &[
    ("LF_SSHD", &["sshd"], &["SSHD_LOG"]),
    ("LF_FTPD", &["ftpd"], &["FTPD_LOG"]),
    ("LF_SMTPAUTH", &["smtpauth"], &["SMTPAUTH_LOG"]),
    ("LF_EXIMSYNTAX", &["email_abuse"], &["SMTPAUTH_LOG"]),
    ("LF_POP3D", &["pop3d"], &["POP3D_LOG"]),
    ("LF_IMAPD", &["imapd"], &["IMAPD_LOG"]),
    ("LF_HTACCESS", &["htpasswd"], &["HTACCESS_LOG"]),
    ("LF_CPANEL", &["cpanel", "webmail"], &["CPANEL_LOG"]),
    ("LF_MODSEC", &["mod_security"], &["MODSEC_LOG"]),
    ("LF_BIND", &["dns"], &["BIND_LOG"]),
];

/// Triggers Rampart counts under another trigger's reason.
const SHARED: &[(&str, &str, &str, &str)] = &[
    ("LF_WEBMIN", "cpanel", "WEBMIN_LOG", "Webmin"),
    ("LF_DIRECTADMIN", "cpanel", "DIRECTADMIN_LOG", "DirectAdmin"),
];

/// Triggers without equivalent, and why (reported only when on).
const NO_TRIGGER: &[(&str, &str)] = &[
    (
        "LF_CXS",
        "ConfigServer eXploit Scanner upload rejections: no built-in rule",
    ),
    (
        "LF_SUHOSIN",
        "Rampart detects Suhosin alerts under `web_traversal` (rules web.suhosin*), with that reason's threshold",
    ),
    ("LF_QOS", "mod_qos denials: no built-in rule"),
    (
        "LF_SYMLINK",
        "Apache symlink-race denials: no built-in rule",
    ),
    (
        "LF_APACHE_404",
        "counting every 404: Rampart's `web_probe` counts requests for sensitive files instead",
    ),
    ("LF_APACHE_403", "counting every 403: no built-in rule"),
    (
        "LF_APACHE_401",
        "counting every 401: Rampart counts failed web logins under `htpasswd`",
    ),
    ("LF_INTERWORX", "InterWorx logins: no built-in rule"),
    ("LF_CWP", "CWP logins: no built-in rule"),
    ("LF_VESTA", "VestaCP logins: no built-in rule"),
    (
        "LF_DISTFTP",
        "successful FTP logins of one account from many addresses: Rampart counts failures only",
    ),
    (
        "LF_DISTSMTP",
        "successful SMTP AUTH logins of one account from many addresses: Rampart counts failures only",
    ),
    (
        "LT_POP3D",
        "a limit on successful POP3 logins per hour: Rampart counts failures only",
    ),
    (
        "LT_IMAPD",
        "a limit on successful IMAP logins per hour: Rampart counts failures only",
    ),
    (
        "LF_TRIGGER",
        "one count across all services: Rampart counts per service (each reason keeps LF_TRIGGER as its own threshold)",
    ),
    (
        "LF_SELECT",
        "blocking only the attacked service's ports: Rampart blocks the whole address",
    ),
    (
        "LF_BLOCKINONLY",
        "inbound-only blocks: Rampart's deny list drops the address's traffic",
    ),
    (
        "LF_REPEATBLOCK",
        "re-adding lost rules: Rampart's store is the source of truth (`rampart apply` restores)",
    ),
];

/// A feature without equivalent: its keys (by prefix), the keys that turn
/// it on (exact; empty: each key is its own switch), and why.
struct Family {
    keys: &'static [&'static str],
    switches: &'static [&'static str],
    why: &'static str,
}

/// Features without equivalent, reported once each (listing the switches
/// that are on) and only when on. The first family whose prefix matches a
/// key owns it.
const FAMILIES: &[Family] = &[
    Family {
        keys: &[
            "LF_SSH_EMAIL_ALERT",
            "LF_SU_EMAIL_ALERT",
            "LF_SUDO_EMAIL_ALERT",
            "LF_CONSOLE_EMAIL_ALERT",
            "LF_WEBMIN_EMAIL_ALERT",
            "LF_CPANEL_ALERT",
        ],
        switches: &[
            "LF_SSH_EMAIL_ALERT",
            "LF_SU_EMAIL_ALERT",
            "LF_SUDO_EMAIL_ALERT",
            "LF_CONSOLE_EMAIL_ALERT",
            "LF_WEBMIN_EMAIL_ALERT",
            "LF_CPANEL_ALERT",
        ],
        why: "login notifications (alert only, nothing is blocked): not in Rampart",
    },
    Family {
        keys: &[
            "LF_EMAIL_ALERT",
            "LF_TEMP_EMAIL_ALERT",
            "LF_PERMBLOCK_ALERT",
            "LF_NETBLOCK_ALERT",
            "PS_EMAIL_ALERT",
            "CT_EMAIL_ALERT",
            "LT_EMAIL_ALERT",
            "LF_DISTFTP_ALERT",
            "LF_DISTSMTP_ALERT",
            "LF_ALERT_",
            "X_ARF",
            "BLOCK_REPORT",
            "UNBLOCK_REPORT",
            "LOGFLOOD_ALERT",
            "LF_DIST_ACTION",
        ],
        switches: &[],
        why: "block e-mails and report hooks: not implemented yet; Rampart logs every ban with its reason (journal) and `rampart why ADDR` explains it",
    },
    Family {
        keys: &["PT_"],
        switches: &[
            "PT_LIMIT",
            "PT_LOAD",
            "PT_FORKBOMB",
            "PT_SSHDKILL",
            "PT_USERKILL",
            "PT_DELETED",
        ],
        why: "process, user and load tracking: Rampart watches logs and the network, not processes",
    },
    Family {
        keys: &[
            "LF_DIRWATCH",
            "LF_INTEGRITY",
            "LF_EXPLOIT",
            "AT_",
            "LF_SCRIPT",
            "LF_QUEUE",
            "LF_MODSECIPDB",
        ],
        switches: &[
            "LF_DIRWATCH",
            "LF_DIRWATCH_FILE",
            "LF_INTEGRITY",
            "LF_EXPLOIT",
            "AT_ALERT",
            "LF_SCRIPT_ALERT",
            "LF_QUEUE_ALERT",
            "LF_MODSECIPDB_ALERT",
        ],
        why: "host checks (suspicious files, checksums, accounts, mail scripts, queues): outside a firewall's job; use AIDE, auditd or the panel's tools",
    },
    Family {
        keys: &["UID_"],
        switches: &["UID_INTERVAL"],
        why: "outbound UID tracking: not in Rampart",
    },
    Family {
        keys: &["UI"],
        switches: &["UI"],
        why: "the integrated web UI: not implemented yet (the CLI covers status, lists and `why`)",
    },
    Family {
        keys: &["CLUSTER_"],
        switches: &["CLUSTER_SENDTO", "CLUSTER_RECVFROM", "CLUSTER_MASTER"],
        why: "clustering: not implemented yet",
    },
    Family {
        keys: &["MESSENGER"],
        switches: &["MESSENGER"],
        why: "the page shown to blocked visitors: not implemented yet; `rampart why ADDR` gives the explanation and remedy to pass on",
    },
    Family {
        keys: &["RECAPTCHA_"],
        switches: &["RECAPTCHA_SITEKEY"],
        why: "self-unblock by captcha: not in Rampart",
    },
    Family {
        keys: &["ST_"],
        switches: &["ST_ENABLE"],
        why: "statistics graphs: not in Rampart (`rampart status` counts entries)",
    },
    Family {
        keys: &["LOGSCANNER"],
        switches: &["LOGSCANNER"],
        why: "the log digest e-mail: not in Rampart",
    },
    Family {
        keys: &["RT_"],
        switches: &[
            "RT_RELAY_ALERT",
            "RT_AUTHRELAY_ALERT",
            "RT_POPRELAY_ALERT",
            "RT_LOCALRELAY_ALERT",
            "RT_LOCALHOSTRELAY_ALERT",
            "RT_RELAY_BLOCK",
            "RT_AUTHRELAY_BLOCK",
            "RT_POPRELAY_BLOCK",
        ],
        why: "relay tracking (volumes of outgoing mail): not in Rampart",
    },
    Family {
        keys: &["CF_"],
        switches: &["CF_ENABLE"],
        why: "Cloudflare access rules: not in Rampart",
    },
    Family {
        keys: &["SMTP_", "SMTPAUTH_RESTRICT"],
        switches: &["SMTP_BLOCK", "SMTP_REDIRECT", "SMTPAUTH_RESTRICT"],
        why: "outbound SMTP restriction by user and AUTH advertising: not in Rampart",
    },
    Family {
        keys: &["UDPFLOOD"],
        switches: &["UDPFLOOD"],
        why: "outbound UDP limits per user: not in Rampart",
    },
    Family {
        keys: &["PORTKNOCKING"],
        switches: &["PORTKNOCKING"],
        why: "port knocking: not in Rampart",
    },
    Family {
        keys: &["DOCKER"],
        switches: &["DOCKER"],
        why: "Docker forwarding rules: Rampart's own table never touches Docker's",
    },
    Family {
        keys: &[
            "CC_DENY_PORTS",
            "CC_IGNORE",
            "CC_ALLOW_SMTPAUTH",
            "CC_MESSENGER",
            "CC_DROP_CIDR",
            "CC_ALLOW",
        ],
        switches: &[],
        why: "these country options: not in Rampart ([country] has deny, allow and allow_ports)",
    },
    Family {
        keys: &["SYSLOG_CHECK"],
        switches: &[],
        why: "the syslog heartbeat: not in Rampart (it follows the journal when no syslog file exists)",
    },
    Family {
        keys: &["RELAYHOSTS"],
        switches: &[],
        why: "POP-before-SMTP hosts: not in Rampart",
    },
    Family {
        keys: &["LF_GLOBAL", "GLOBAL_", "DYNDNS"],
        switches: &["LF_GLOBAL", "DYNDNS"],
        why: "global lists and dynamic DNS: not in Rampart (see To do)",
    },
    Family {
        keys: &["ICMP_IN_RATE", "ICMP_OUT_RATE", "ICMP_TIMESTAMPDROP"],
        switches: &[],
        why: "ICMP rates: Rampart accepts or refuses ping (icmp_in, icmp_out) without a rate",
    },
    Family {
        keys: &["ETH_DEVICE", "ETH6_DEVICE"],
        switches: &[],
        why: "per-interface rules: Rampart's rules apply to every interface",
    },
    Family {
        keys: &[
            "CT_STATES",
            "CT_PORTS",
            "CT_SKIP_TIME_WAIT",
            "CT_SUBNET_LIMIT",
        ],
        switches: &[],
        why: "these connection-tracking filters: Rampart counts every conntrack entry of a source",
    },
    Family {
        keys: &["PS_PORTS"],
        switches: &[],
        why: "choosing the ports port scans count: Rampart counts every closed port",
    },
    Family {
        keys: &["LF_NETBLOCK_IPV6"],
        switches: &[],
        why: "the netblock size: Rampart bans an IPv6 /48",
    },
];

/// CSF's own mechanics: nothing to convert (paths of programs, timing,
/// logging switches, downloads, lookups).
const MECHANICS: &[&str] = &[
    "LF_DAEMON",
    "LF_PARSE",
    "LF_FLUSH",
    "FASTSTART",
    "VERBOSE",
    "URLGET",
    "URLPROXY",
    "WAITLOCK",
    "LFDSTART",
    "AUTO_UPDATES",
    "SAFECHAINUPDATE",
    "USE_CONNTRACK",
    "LF_LOOKUPS",
    "CC_LOOKUPS",
    "CC6_LOOKUPS",
    "CC_INTERVAL",
    "CC_SRC",
    "LF_IPSET",
    "DEBUG",
    "SYSLOG",
    "RESTRICT_SYSLOG",
    "RESTRICT_UI",
    "DROP_",
    "CONNLIMIT_LOGGING",
    "PACKET_FILTER",
    "LF_CSF",
    "PORTS_",
    "STYLE_",
    "LF_APACHE_ERRPORT",
    "TESTING_INTERVAL",
    "LF_SPI",
    "IPV6_SPI",
    "IPV6_ICMP_STRICT",
    "USE_FTPHELPER",
    "DNS_STRICT",
    "LF_BOGON_SKIP",
    "DENY_TEMP_IP_LIMIT",
    "LF_TRIGGER_PERM",
    "SYNFLOOD_RATE",
    "SYNFLOOD_BURST",
    "LF_INTERVAL",
    "LF_DIST_INTERVAL",
    "PS_PERMANENT",
    "PS_BLOCK_TIME",
    "CT_INTERVAL",
    "CT_PERMANENT",
    "CT_BLOCK_TIME",
    "LF_DISTATTACK_UNIQ",
    "LF_PERMBLOCK_INTERVAL",
    "LF_PERMBLOCK_COUNT",
    "LF_NETBLOCK_INTERVAL",
    "LF_NETBLOCK_COUNT",
    "PS_LIMIT",
    "PS_DIVERSITY",
    "IGNORE_ALLOW",
    "MM_LICENSE_KEY",
    "LT_SKIPPERMBLOCK",
    "LF_DISTFTP_UNIQ",
    "LF_DISTFTP_PERM",
    "LF_DISTSMTP_UNIQ",
    "LF_DISTSMTP_PERM",
    "CC_ALLOW_PORTS_TCP",
    "CC_ALLOW_PORTS_UDP",
    "CC_ALLOW_FILTER",
    "CC_ALLOW_PORTS",
];

/// Port lists: (CSF key, Rampart key, IPv6 twin).
const PORTS: &[(&str, &str, &str)] = &[
    ("TCP_IN", "tcp_in", "TCP6_IN"),
    ("UDP_IN", "udp_in", "UDP6_IN"),
    ("TCP_OUT", "tcp_out", "TCP6_OUT"),
    ("UDP_OUT", "udp_out", "UDP6_OUT"),
];

/// CSF's app tags in deny comments → Rampart reason codes.
const APP_REASONS: &[(&str, &str)] = &[
    ("(sshd)", "sshd"),
    ("(ftpd)", "ftpd"),
    ("(smtpauth)", "smtpauth"),
    ("(eximsyntax)", "email_abuse"),
    ("(pop3d)", "pop3d"),
    ("(imapd)", "imapd"),
    ("(htpasswd)", "htpasswd"),
    ("(mod_security)", "mod_security"),
    ("(cpanel)", "cpanel"),
    ("(bind)", "dns"),
    ("(NETBLOCK)", "netblock"),
    ("*Port Scan*", "portscan"),
    ("(CT)", "ct_limit"),
];

/// Alerts of a feature: they matter only when one of its switches is on.
const FEATURE_ALERTS: &[(&str, &[&str])] = &[
    ("LF_PERMBLOCK_ALERT", &["LF_PERMBLOCK"]),
    ("LF_NETBLOCK_ALERT", &["LF_NETBLOCK"]),
    ("PS_EMAIL_ALERT", &["PS_INTERVAL"]),
    ("CT_EMAIL_ALERT", &["CT_LIMIT"]),
    ("LT_EMAIL_ALERT", &["LT_POP3D", "LT_IMAPD"]),
    ("LF_DISTFTP_ALERT", &["LF_DISTFTP"]),
    ("LF_DISTSMTP_ALERT", &["LF_DISTSMTP"]),
];

/// The conversion in progress.
struct Conv<'c> {
    conf: &'c Conf,
    out: ConfigOut,
    report: Report,
    done: HashSet<String>,
    logs: Vec<String>,
}

impl Conv<'_> {
    /// Sets a converted setting and reports it; a repeated origin with the
    /// same key and value is merged into one report line.
    fn conv(&mut self, csf_key: &str, table: &str, key: &str, value: Value) {
        self.done.insert(csf_key.to_string());
        let origin = self.conf.origin(csf_key);
        let shown = format!("{key} = {value}");
        let where_ = if table.is_empty() {
            String::new()
        } else {
            format!("[{table}] ")
        };
        match self
            .report
            .converted
            .iter_mut()
            .find(|n| n.origin == origin && n.text.contains(&shown))
        {
            Some(n) => n.text.push_str(&format!(", [{table}]")),
            None => self.report.converted(&origin, format!("{where_}{shown}")),
        }
        self.out.set(table, key, value, origin);
    }

    fn use_log(&mut self, key: &str) {
        self.done.insert(key.to_string());
        if let Some(v) = self.conf.get(key) {
            for p in v.split([',', ' ']).map(str::trim).filter(|p| !p.is_empty()) {
                if !self.logs.iter().any(|l| l == p) {
                    self.logs.push(p.to_string());
                }
            }
        }
    }

    fn ports(&mut self) {
        let c = self.conf;
        if c.get("TCP_IN").is_none() {
            return;
        }
        self.done.insert("DROP".into());
        let origin = "csf.conf (CSF's firewall is default-deny)".to_string();
        self.report.converted(&origin, "[firewall] strict = true");
        self.out
            .set("firewall", "strict", Value::Boolean(true), origin);
        for (k4, key, k6) in PORTS {
            self.done.insert(k6.to_string());
            let Some(v) = c.get(k4) else { continue };
            let v = v.replace(' ', "");
            if !rampart_core::config::valid_ports(&v) {
                self.report.none(
                    c.origin(k4),
                    "not a port list Rampart reads; left at Rampart's default",
                );
                continue;
            }
            self.conv(k4, "firewall", key, Value::String(v.clone()));
            if let Some(v6) = c.get(k6).map(|s| s.replace(' ', ""))
                && c.on("IPV6")
                && port_set(&v6) != port_set(&v)
            {
                self.report.different(
                    c.origin(k6),
                    format!(
                        "Rampart applies one port list to IPv4 and IPv6: IPv6 gets {k4}'s ports too"
                    ),
                );
            }
        }
        self.report.different(
            "csf.conf TCP_IN",
            "CSF is always default-deny; Rampart is ban-only unless `[firewall] strict = true`, set here to keep your port policy (the SSH port and the applying SSH client stay open)",
        );
        if !c.on("IPV6") {
            self.done.insert("IPV6".into());
            self.report.different(
                c.origin("IPV6"),
                "CSF did not filter IPv6; Rampart's port policy and lists cover IPv6 too",
            );
        } else {
            self.done.insert("IPV6".into());
        }
        for k in ["ICMP_IN", "ICMP_OUT"] {
            if let Some(n) = c.num(k) {
                self.conv(
                    k,
                    "firewall",
                    &k.to_ascii_lowercase(),
                    Value::Boolean(n > 0),
                );
            }
        }
        if c.get("DROP")
            .is_some_and(|d| !d.eq_ignore_ascii_case("DROP"))
        {
            self.report.different(
                c.origin("DROP"),
                "Rampart always drops (no REJECT or TARPIT)",
            );
        }
    }

    /// `_PERM`: 1 is permanent, N > 1 a temporary ban of N seconds.
    fn ban_of(&self, perm_key: &str) -> Option<Value> {
        match self.conf.num(perm_key)? {
            1 => Some(Value::String("permanent".into())),
            n if n > 1 => Some(Value::String(duration_text(n))),
            _ => None,
        }
    }

    fn triggers(&mut self) {
        let c = self.conf;
        let global = c.num("LF_TRIGGER").filter(|n| *n > 0);
        let window = c.num("LF_INTERVAL").filter(|n| *n > 0).map(duration_text);
        for (key, reasons, logs) in TRIGGERS {
            let Some(n) = c.num(key) else { continue };
            let perm = format!("{key}_PERM");
            self.done.insert(perm.clone());
            for r in *reasons {
                let t = format!("reasons.{r}");
                if n == 0 {
                    self.conv(key, &t, "enabled", Value::Boolean(false));
                    continue;
                }
                match global {
                    Some(g) => self.conv("LF_TRIGGER", &t, "threshold", Value::Integer(g as i64)),
                    None => self.conv(key, &t, "threshold", Value::Integer(n as i64)),
                }
                if let Some(w) = &window {
                    self.conv("LF_INTERVAL", &t, "window", Value::String(w.clone()));
                }
                let ban = if global.is_some() {
                    self.ban_of("LF_TRIGGER_PERM")
                } else {
                    self.ban_of(&perm)
                };
                if let Some(b) = ban {
                    let from = if global.is_some() {
                        "LF_TRIGGER_PERM"
                    } else {
                        &perm
                    };
                    self.conv(from, &t, "ban", b);
                }
            }
            if n > 0 {
                for l in *logs {
                    self.use_log(l);
                }
            } else {
                self.done.extend(logs.iter().map(|l| l.to_string()));
            }
        }
        if c.num("LF_SSHD_PERM") == Some(1) {
            self.report.different(
                "csf.conf LF_*_PERM = \"1\"",
                "every login-failure block was permanent in CSF and is kept so (`ban = \"permanent\"`); Rampart's default is 1h, escalating 4x per repeat and permanent at the 4th ban: remove the `ban` lines to use it",
            );
        }
        self.shared();
        self.no_trigger();
    }

    fn shared(&mut self) {
        let c = self.conf;
        for (key, reason, log, what) in SHARED {
            self.done.insert(key.to_string());
            self.done.insert(format!("{key}_PERM"));
            let Some(n) = c.num(key).filter(|n| *n > 0) else {
                self.done.insert(log.to_string());
                continue;
            };
            self.use_log(log);
            let t = format!("reasons.{reason}");
            let text = match self.out.get(&t, "threshold") {
                Some(v) if *v == Value::Integer(n as i64) => {
                    self.report.converted(
                        c.origin(key),
                        format!("{what} logins are counted under [{t}], same threshold"),
                    );
                    continue;
                }
                Some(v) => {
                    format!("Rampart counts {what} logins under `{reason}`, with its threshold {v}")
                }
                None => format!(
                    "Rampart counts {what} logins under `{reason}`, which is off here: enable [{t}] to watch them"
                ),
            };
            self.report.different(c.origin(key), text);
        }
    }

    fn no_trigger(&mut self) {
        let c = self.conf;
        for (key, why) in NO_TRIGGER {
            self.done.insert(format!("{key}_PERM"));
            if !c.on(key) {
                continue;
            }
            self.done.insert(key.to_string());
            self.report.none(c.origin(key), *why);
        }
    }

    fn escalation(&mut self) {
        let c = self.conf;
        if let Some(n) = c.num("LF_PERMBLOCK") {
            let count = if n > 0 {
                c.num("LF_PERMBLOCK_COUNT").unwrap_or(4)
            } else {
                0
            };
            let key = if n > 0 {
                "LF_PERMBLOCK_COUNT"
            } else {
                "LF_PERMBLOCK"
            };
            self.done.insert("LF_PERMBLOCK".into());
            self.conv(key, "ban", "permanent_after", Value::Integer(count as i64));
            if n > 0
                && let Some(i) = c.num("LF_PERMBLOCK_INTERVAL").filter(|i| *i > 0)
            {
                self.conv(
                    "LF_PERMBLOCK_INTERVAL",
                    "ban",
                    "history",
                    Value::String(duration_text(i)),
                );
            }
        }
        if !c.on("LF_NETBLOCK") {
            self.done
                .extend(["LF_NETBLOCK", "LF_NETBLOCK_CLASS", "LF_NETBLOCK_IPV6"].map(String::from));
        }
        if !c.on("LF_DISTATTACK") {
            self.done.insert("LF_DISTATTACK_UNIQ".into());
        }
        if c.on("LF_NETBLOCK") {
            self.done.insert("LF_NETBLOCK".into());
            let n = c.num("LF_NETBLOCK_COUNT").unwrap_or(4);
            self.conv(
                "LF_NETBLOCK_COUNT",
                "ban",
                "netblock_after",
                Value::Integer(n as i64),
            );
            let i = c.num("LF_NETBLOCK_INTERVAL").unwrap_or(86400);
            let history = self.out.get("ban", "history").cloned();
            match history {
                Some(Value::String(h)) if h != duration_text(i) => self.report.different(
                    c.origin("LF_NETBLOCK_INTERVAL"),
                    format!("Rampart has one history window for escalation and netblocks: [ban] history = \"{h}\" (LF_PERMBLOCK_INTERVAL)"),
                ),
                Some(_) => {}
                None => self.conv("LF_NETBLOCK_INTERVAL", "ban", "history", Value::String(duration_text(i))),
            }
            self.done.insert("LF_NETBLOCK_CLASS".into());
            if c.get("LF_NETBLOCK_CLASS").is_some_and(|k| k != "C") {
                self.report.different(
                    c.origin("LF_NETBLOCK_CLASS"),
                    "Rampart bans an IPv4 /24 (class C) only",
                );
            }
        }
        if c.on("LF_DISTATTACK") {
            self.done.insert("LF_DISTATTACK".into());
            let uniq = c.num("LF_DISTATTACK_UNIQ").unwrap_or(2).max(2);
            self.conv(
                "LF_DISTATTACK",
                "distributed",
                "enabled",
                Value::Boolean(true),
            );
            self.conv(
                "LF_DISTATTACK_UNIQ",
                "distributed",
                "min_addresses",
                Value::Integer(uniq as i64),
            );
            self.report.different(c.origin("LF_DISTATTACK"), "CSF used each service's trigger as the failure count; Rampart uses one, [distributed] threshold (default 10)");
        }
    }

    fn portscan(&mut self) {
        let c = self.conf;
        let Some(interval) = c.num("PS_INTERVAL") else {
            return;
        };
        if interval == 0 {
            self.done.extend(
                [
                    "PS_LIMIT",
                    "PS_PORTS",
                    "PS_DIVERSITY",
                    "PS_PERMANENT",
                    "PS_BLOCK_TIME",
                ]
                .map(String::from),
            );
            self.conv("PS_INTERVAL", "portscan", "enabled", Value::Boolean(false));
            self.report.different(c.origin("PS_INTERVAL"), "port-scan blocking is on by default in Rampart (from the kernel, not from log lines); kept off as in CSF");
            return;
        }
        self.conv("PS_INTERVAL", "portscan", "enabled", Value::Boolean(true));
        self.conv(
            "PS_INTERVAL",
            "portscan",
            "interval",
            Value::String(duration_text(interval)),
        );
        for (k, key) in [("PS_LIMIT", "limit"), ("PS_DIVERSITY", "diversity")] {
            if let Some(n) = c.num(k).filter(|n| *n > 0) {
                self.conv(k, "portscan", key, Value::Integer(n as i64));
            }
        }
        let ban = if c.on("PS_PERMANENT") {
            Some(("PS_PERMANENT", "permanent".to_string()))
        } else {
            c.num("PS_BLOCK_TIME")
                .filter(|n| *n > 0)
                .map(|n| ("PS_BLOCK_TIME", duration_text(n)))
        };
        if let Some((k, b)) = ban {
            self.conv(k, "reasons.portscan", "ban", Value::String(b));
        }
        self.done.insert("IPTABLES_LOG".into());
        self.report.different(c.origin("PS_INTERVAL"), "CSF counted in a tumbling window from kernel log lines; Rampart counts in a sliding window from the packets themselves (NFLOG), so IPTABLES_LOG is not needed");
    }

    fn limits(&mut self) {
        let c = self.conf;
        if !c.on("CT_LIMIT") {
            self.done.extend(
                [
                    "CT_STATES",
                    "CT_PORTS",
                    "CT_SKIP_TIME_WAIT",
                    "CT_SUBNET_LIMIT",
                ]
                .map(String::from),
            );
        }
        if let Some(n) = c.num("CT_LIMIT").filter(|n| *n > 0) {
            self.conv("CT_LIMIT", "limits", "ct_limit", Value::Integer(n as i64));
            if let Some(i) = c.num("CT_INTERVAL").filter(|n| *n > 0) {
                self.conv(
                    "CT_INTERVAL",
                    "limits",
                    "ct_interval",
                    Value::String(duration_text(i)),
                );
            }
            let ban = if c.on("CT_PERMANENT") {
                Some(("CT_PERMANENT", "permanent".to_string()))
            } else {
                c.num("CT_BLOCK_TIME")
                    .filter(|n| *n > 0)
                    .map(|n| ("CT_BLOCK_TIME", duration_text(n)))
            };
            if let Some((k, b)) = ban {
                self.conv(k, "reasons.ct_limit", "ban", Value::String(b));
            }
        }
        for (k, key, valid) in [
            ("CONNLIMIT", "conn", valid_connlimit as fn(&str) -> bool),
            ("PORTFLOOD", "portflood", valid_portflood),
        ] {
            let Some(v) = c.get(k).filter(|v| !v.trim().is_empty()) else {
                continue;
            };
            let items: Vec<String> = v
                .split(',')
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect();
            if let Some(bad) = items.iter().find(|i| !valid(i)) {
                self.report.none(
                    c.origin(k),
                    format!("{bad:?} is not in CSF's format; nothing converted"),
                );
                self.done.insert(k.into());
                continue;
            }
            let arr = items.into_iter().map(Value::String).collect();
            self.conv(k, "limits", key, Value::Array(arr));
        }
        if c.on("PORTFLOOD") || c.get("PORTFLOOD").is_some_and(|v| !v.is_empty()) {
            self.report.different(c.origin("PORTFLOOD"), "a source over the limit is banned (reason `portflood`, 30m) instead of being dropped until it stays quiet");
        }
        if c.on("SYNFLOOD") {
            let rate = c.get("SYNFLOOD_RATE").unwrap_or("100/s");
            let rate = rate.trim_end_matches("/s").trim();
            let burst = c.num("SYNFLOOD_BURST").unwrap_or(150);
            if rate.parse::<u32>().is_ok() {
                self.conv(
                    "SYNFLOOD",
                    "limits",
                    "synflood",
                    Value::String(format!("{rate}/{burst}")),
                );
                self.report.different(c.origin("SYNFLOOD"), "CSF's SYN limit was global; Rampart's is per source, and a source over it is banned (reason `synflood`)");
            } else {
                self.report.none(
                    c.origin("SYNFLOOD_RATE"),
                    "not a rate like \"100/s\"; SYNFLOOD not converted",
                );
            }
        }
        self.done
            .extend(["CT_LIMIT", "CONNLIMIT", "PORTFLOOD", "SYNFLOOD"].map(String::from));
    }

    fn country(&mut self) {
        let c = self.conf;
        let list = |k: &str| -> (Vec<String>, Vec<String>) {
            c.get(k)
                .unwrap_or("")
                .split(',')
                .map(|s| s.trim().to_ascii_uppercase())
                .filter(|s| !s.is_empty())
                .partition(|s| s.len() == 2 && s.bytes().all(|b| b.is_ascii_alphabetic()))
        };
        let (deny, deny_as) = list("CC_DENY");
        let (filter, filter_as) = list("CC_ALLOW_FILTER");
        let (ports_cc, ports_as) = list("CC_ALLOW_PORTS");
        let mut any = false;
        if !deny.is_empty() {
            self.conv(
                "CC_DENY",
                "country",
                "deny",
                Value::Array(deny.into_iter().map(Value::String).collect()),
            );
            any = true;
        }
        if !filter.is_empty() {
            self.conv(
                "CC_ALLOW_FILTER",
                "country",
                "allow",
                Value::Array(filter.into_iter().map(Value::String).collect()),
            );
            any = true;
        } else if !ports_cc.is_empty() {
            let ports = c.get("CC_ALLOW_PORTS_TCP").unwrap_or("").replace(' ', "");
            self.conv(
                "CC_ALLOW_PORTS",
                "country",
                "allow",
                Value::Array(ports_cc.into_iter().map(Value::String).collect()),
            );
            if rampart_core::config::valid_ports(&ports) && !ports.is_empty() {
                self.conv(
                    "CC_ALLOW_PORTS_TCP",
                    "country",
                    "allow_ports",
                    Value::String(ports),
                );
            }
            self.report.different(c.origin("CC_ALLOW_PORTS"), "on allow_ports, Rampart drops every other country itself: no need to remove those ports from TCP_IN");
            any = true;
        }
        for (k, asns) in [
            ("CC_DENY", deny_as),
            ("CC_ALLOW_FILTER", filter_as),
            ("CC_ALLOW_PORTS", ports_as),
        ] {
            if !asns.is_empty() {
                self.report.none(c.origin(k), format!("{}: Rampart blocks countries, not ASNs (add their networks to a blocklist file)", asns.join(", ")));
            }
        }
        if any {
            self.out.hint(
                "country",
                "database",
                Value::String("/usr/share/GeoIP/GeoLite2-Country.mmdb".into()),
                "set: Rampart reads a local .mmdb or DB-IP/IP2Location CSV",
            );
            self.report.todo("[country]", "set `database` to a country database (GeoLite2-Country.mmdb, or a DB-IP / IP2Location lite CSV): CSF downloaded its own, Rampart does not");
        }
    }

    fn testing(&mut self) {
        let c = self.conf;
        if c.on("TESTING") {
            self.report.different(c.origin("TESTING"), "CSF was in testing mode (rules flushed every few minutes, lfd not running); Rampart has none: preview with `rampart scan`, apply remote changes with `rampart apply --confirm 120`");
        }
        self.done.insert("TESTING".into());
        if c.num("DENY_IP_LIMIT").is_some() {
            self.done.insert("DENY_IP_LIMIT".into());
            self.report.different(c.origin("DENY_IP_LIMIT"), "Rampart never rotates deny entries out: they stay until they expire or are unblocked (\"do not delete\" is the rule, not the exception)");
        }
    }

    /// Everything not handled: off, CSF mechanics, or no equivalent
    /// grouped by feature.
    fn rest(&mut self) -> (usize, usize) {
        let c = self.conf;
        let is_on = |k: &str| c.get(k).is_some_and(|v| !v.is_empty() && v != "0");
        let (mut off, mut mech) = (0, 0);
        for (alert, parents) in FEATURE_ALERTS {
            if !parents.iter().any(|p| c.on(p)) && self.done.insert(alert.to_string()) {
                off += 1;
            }
        }
        let mut groups: Vec<(usize, Vec<&str>)> = Vec::new();
        for k in &c.order {
            if self.done.contains(k) {
                continue;
            }
            let fam = FAMILIES
                .iter()
                .position(|f| f.keys.iter().any(|p| k.starts_with(p)));
            let at = match fam {
                Some(i) => {
                    let f = &FAMILIES[i];
                    let switch = f.switches.is_empty() || f.switches.contains(&k.as_str());
                    if switch && is_on(k) {
                        i
                    } else {
                        // a sub-setting counts with its feature (listed, or off)
                        if !f.switches.iter().any(|s| is_on(s)) {
                            off += 1;
                        }
                        continue;
                    }
                }
                None if !is_on(k) => {
                    off += 1;
                    continue;
                }
                None if MECHANICS.iter().any(|m| k.starts_with(m))
                    || k.ends_with("_LOG")
                    || c.get(k).is_some_and(|v| v.starts_with('/')) =>
                {
                    mech += 1;
                    continue;
                }
                None => FAMILIES.len(),
            };
            match groups.iter_mut().find(|(f, _)| *f == at) {
                Some((_, ks)) => ks.push(k),
                None => groups.push((at, vec![k])),
            }
        }
        for (fam, keys) in groups {
            let why = FAMILIES
                .get(fam)
                .map_or("no equivalent in Rampart", |f| f.why);
            self.report
                .none(format!("csf.conf {}", keys.join(", ")), why);
        }
        (off, mech)
    }
}

fn port_set(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s
        .split(',')
        .map(|p| p.trim().replace('-', ":"))
        .filter(|p| !p.is_empty())
        .collect();
    v.sort();
    v
}

fn valid_connlimit(s: &str) -> bool {
    let f: Vec<&str> = s.split(';').collect();
    f.len() == 2 && f.iter().all(|x| x.parse::<u32>().is_ok())
}

fn valid_portflood(s: &str) -> bool {
    let f: Vec<&str> = s.split(';').collect();
    f.len() == 4
        && (f[1] == "tcp" || f[1] == "udp")
        && [f[0], f[2], f[3]].iter().all(|x| x.parse::<u32>().is_ok())
}

/// The lines of a list file (`rel`, relative to `dir` unless absolute),
/// `Include`s followed: (origin `file:line`, text).
fn list_lines(dir: &Path, rel: &str, depth: u8) -> Result<Vec<(String, String)>, ImportError> {
    let Some(text) = read_optional(&dir.join(rel))? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        match t.strip_prefix("Include ").map(str::trim) {
            Some(inc) if depth < 4 => out.extend(list_lines(dir, inc, depth + 1)?),
            Some(_) => {}
            None => out.push((format!("{rel}:{}", i + 1), t.to_string())),
        }
    }
    Ok(out)
}

/// Splits `target # comment - Wed Mar  4 10:15:47 2026` into the target,
/// the comment and csf's date stamp.
fn split_entry(line: &str) -> (&str, &str, Option<&str>) {
    let (target, comment) = match line.split_once('#') {
        Some((t, c)) => (t.trim(), c.trim()),
        None => (line.trim(), ""),
    };
    // csf appends " - <ctime>": the last " - " followed by a 24-character stamp
    if let Some(i) = comment.rfind(" - ") {
        let stamp = comment[i + 3..].trim();
        let w: Vec<&str> = stamp.split_whitespace().collect();
        if w.len() == 5
            && w[3].matches(':').count() == 2
            && w[4].len() == 4
            && w[4].bytes().all(|b| b.is_ascii_digit())
        {
            return (target, comment[..i].trim(), Some(stamp));
        }
    }
    (target, comment, None)
}

fn reason_of(comment: &str) -> &'static str {
    APP_REASONS
        .iter()
        .find(|(tag, _)| comment.contains(tag))
        .map_or("manual", |(_, r)| r)
}

/// csf.allow / csf.deny / csf.ignore → entries and advanced filters.
fn lists(
    dir: &Path,
    out: &mut ConfigOut,
    report: &mut Report,
) -> Result<Vec<ImportedEntry>, ImportError> {
    let mut entries = Vec::new();
    for (name, kind) in [
        ("csf.allow", Kind::Allow),
        ("csf.deny", Kind::Deny),
        ("csf.ignore", Kind::Ignore),
    ] {
        let (mut n, mut filters, mut keep) = (0, Vec::new(), 0);
        for (origin, line) in list_lines(dir, name, 0)? {
            let (target, comment, stamp) = split_entry(&line);
            if comment.to_ascii_lowercase().contains("do not delete") {
                keep += 1;
            }
            if let Some(net) = Net::parse(target) {
                let summary = if comment.is_empty() {
                    format!("Imported from CSF {name}")
                } else {
                    comment.to_string()
                };
                let origin = match stamp {
                    Some(s) => format!("{origin} (added {s})"),
                    None => origin,
                };
                entries.push(ImportedEntry {
                    kind,
                    target: net,
                    expires: None,
                    reason: reason_of(comment).into(),
                    summary,
                    evidence: Vec::new(),
                    origin,
                });
                n += 1;
            } else if kind != Kind::Ignore && (target.contains('|') || target.contains('=')) {
                match target.parse::<rampart_nft::AdvancedFilter>() {
                    Ok(_) => filters.push((origin, target.to_string())),
                    Err(e) => report.none(origin, e.to_string()),
                }
            } else {
                report.none(origin, format!("{target:?} is not an address or CIDR"));
            }
        }
        if n > 0 {
            report.converted(name, format!("{n} {kind} entries"));
        }
        if !filters.is_empty() {
            let key = if kind == Kind::Allow {
                "allow_filters"
            } else {
                "deny_filters"
            };
            let list = filters
                .iter()
                .map(|(_, f)| Value::String(f.clone()))
                .collect();
            let lines: Vec<&str> = filters.iter().map(|(o, _)| o.as_str()).collect();
            out.set(
                "firewall",
                key,
                Value::Array(list),
                format!("{name} advanced filters ({})", lines.join(", ")),
            );
            report.converted(
                name,
                format!("{} advanced filters -> [firewall] {key}", filters.len()),
            );
        }
        if keep > 0 {
            report.different(name, format!("{keep} entries marked \"do not delete\": every imported entry stays until unblocked"));
        }
        if kind == Kind::Allow && n > 0 {
            report.different(name, "allowed addresses are also never blocked by Rampart's detectors (CSF's IGNORE_ALLOW = 1)");
        }
    }
    Ok(entries)
}

/// csf.tempban / csf.tempallow: `epoch|ip|ports|dir|ttl|comment`.
fn temp_lists(
    var: &Path,
    now: Timestamp,
    report: &mut Report,
) -> Result<Vec<ImportedEntry>, ImportError> {
    let mut entries = Vec::new();
    for (name, kind) in [("csf.tempban", Kind::Deny), ("csf.tempallow", Kind::Allow)] {
        let Some(text) = read_optional(&var.join(name))? else {
            continue;
        };
        let (mut n, mut expired, mut ported) = (0, 0, 0);
        for (i, line) in text.lines().enumerate() {
            let f: Vec<&str> = line.splitn(6, '|').collect();
            let origin = format!("{name}:{}", i + 1);
            let [epoch, ip, ports, _dir, ttl, comment] = f.as_slice() else {
                if !line.trim().is_empty() {
                    report.none(origin, "not an `epoch|ip|ports|dir|ttl|comment` record");
                }
                continue;
            };
            let (Ok(epoch), Ok(ttl), Some(net)) =
                (epoch.parse::<i64>(), ttl.parse::<i64>(), Net::parse(ip))
            else {
                report.none(origin, "not an `epoch|ip|ports|dir|ttl|comment` record");
                continue;
            };
            let until = epoch.saturating_add(ttl);
            if until <= now {
                expired += 1;
                continue;
            }
            if !ports.is_empty() {
                ported += 1;
            }
            let comment = comment.trim().trim_start_matches("lfd - ");
            let summary = if comment.is_empty() {
                format!("Imported from CSF {name}")
            } else {
                comment.to_string()
            };
            entries.push(ImportedEntry {
                kind,
                target: net,
                expires: Some(until),
                reason: reason_of(comment).into(),
                summary,
                evidence: Vec::new(),
                origin,
            });
            n += 1;
        }
        if n > 0 {
            report.converted(
                name,
                format!("{n} temporary {kind} entries, with their remaining time"),
            );
        }
        if expired > 0 {
            report.different(name, format!("{expired} expired entries skipped"));
        }
        if ported > 0 {
            report.different(name, format!("{ported} entries were for some ports only; Rampart's entries cover the whole address"));
        }
    }
    Ok(entries)
}

/// csf.blocklists → `rampart blocklist add` commands (they download).
fn blocklists(dir: &Path, report: &mut Report) -> Result<(), ImportError> {
    let feeds = rampart_lists::catalogue::catalogue().unwrap_or_default();
    let bare = |u: &str| {
        u.trim()
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_ascii_lowercase()
    };
    for (origin, line) in list_lines(dir, "csf.blocklists", 0)? {
        let f: Vec<&str> = line.split('|').map(str::trim).collect();
        let [name, interval, max, url] = f.as_slice() else {
            report.none(origin, "not a `NAME|INTERVAL|MAX|URL` line");
            continue;
        };
        let cmd = match feeds.iter().find(|fd| bare(&fd.url) == bare(url)) {
            Some(fd) => format!("rampart blocklist add {}", fd.name),
            None => {
                let name: String = name
                    .to_ascii_lowercase()
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '-' {
                            c
                        } else {
                            '-'
                        }
                    })
                    .collect();
                let refresh = duration_text(interval.parse::<u64>().unwrap_or(86400).max(3600));
                format!("rampart blocklist add {name} --url {url} --refresh {refresh}")
            }
        };
        report.todo(&origin, format!("{name}: `{cmd}` (it downloads the list)"));
        if max.parse::<u64>().is_ok_and(|m| m > 0) {
            report.different(origin, format!("{name} MAX = {max}: Rampart loads whole lists (`--max-entries` refuses a larger list instead of truncating it)"));
        }
    }
    Ok(())
}

fn dyndns(dir: &Path, report: &mut Report) -> Result<(), ImportError> {
    for (origin, line) in list_lines(dir, "csf.dyndns", 0)? {
        let (host, _, _) = split_entry(&line);
        report.todo(origin, format!("{host}: Rampart does not re-resolve host names; allow its addresses (`rampart allow ADDR`) or their network"));
    }
    Ok(())
}

/// Splits a Perl list `"a",$1,"b","80,443","1"` at commas outside quotes.
fn perl_list(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut quote) = (Vec::new(), String::new(), None);
    for ch in s.chars() {
        match (quote, ch) {
            (None, '"' | '\'') => quote = Some(ch),
            (Some(q), c) if c == q => quote = None,
            (None, ',') => out.push(std::mem::take(&mut cur).trim().to_string()),
            (_, c) => cur.push(c),
        }
    }
    out.push(cur.trim().to_string());
    out
}

/// The `*_LOG` setting a custom rule tests (`$config{CUSTOM1_LOG}`,
/// `$globlogs{CUSTOM1_LOG}`).
fn log_key(t: &str) -> Option<String> {
    let p = t.find("_LOG}")?;
    let start = t[..p].rfind('{')? + 1;
    Some(t[start..p + 4].to_string())
}

/// regex.custom.pm: each `return (...)` of a custom rule becomes a to-do;
/// returns the log files those rules read.
fn custom_rules(dir: &Path, conf: &Conf, report: &mut Report) -> Result<Vec<String>, ImportError> {
    let Some(text) = read_optional(&dir.join("regex.custom.pm"))? else {
        return Ok(Vec::new());
    };
    let (mut log, mut regex, mut logs) = (None::<String>, None::<String>, Vec::new());
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('#') {
            continue;
        }
        if let Some(k) = log_key(t) {
            log = Some(k);
        }
        if let Some(p) = t.find("=~") {
            let r = t[p + 2..].trim();
            let r = r
                .strip_suffix(") {")
                .or_else(|| r.strip_suffix("){"))
                .unwrap_or(r);
            regex = Some(r.trim_end_matches(')').trim().to_string());
        }
        let Some(p) = t.find("return (") else {
            continue;
        };
        let args = perl_list(
            t[p + 8..]
                .trim_end_matches([';', ' '])
                .trim_end_matches(')'),
        );
        let get = |i: usize| args.get(i).map(String::as_str).unwrap_or("?");
        let ban = match get(5) {
            "1" => "permanent".to_string(),
            n => n
                .parse::<u64>()
                .map_or(n.to_string(), |s| format!("{} ban", duration_text(s))),
        };
        let log_key = log.clone().unwrap_or_else(|| "?".into());
        let log_path = conf.get(&log_key).unwrap_or("?").to_string();
        if log_path != "?" && !logs.contains(&log_path) {
            logs.push(log_path.clone());
        }
        report.todo(
            format!("regex.custom.pm:{}", i + 1),
            format!(
                "custom rule {:?} on {log_key} ({log_path}): {} -> trigger {}, ports {}, {ban}: write it as a [[rule]] with reason \"custom\" in /etc/rampart/rules.d/ (docs/rules.md) and test it with `rampart rules test`",
                get(2), regex.as_deref().unwrap_or("?"), get(3), get(4)
            ),
        );
    }
    Ok(logs)
}

/// Imports the CSF set-up in `dir` (`/etc/csf`), with temporary entries
/// from `var` (`/var/lib/csf`). `now` decides which temporary entries are
/// still in force.
pub fn import(dir: &Path, var: &Path, now: Timestamp) -> Result<Import, ImportError> {
    let conf_path = dir.join("csf.conf");
    if !conf_path.exists() {
        return Err(ImportError::NotFound {
            dir: dir.display().to_string(),
            what: "csf.conf",
        });
    }
    let conf = Conf::parse(&read(&conf_path)?);
    let header = [
        format!(
            "Rampart configuration imported from CSF ({}) by `rampart import csf`.",
            dir.display()
        ),
        "Each setting names its origin; the import report lists what was not converted."
            .to_string(),
    ];
    let mut cv = Conv {
        conf: &conf,
        out: ConfigOut::new(&header.iter().map(String::as_str).collect::<Vec<_>>()),
        report: Report::default(),
        done: HashSet::new(),
        logs: Vec::new(),
    };
    cv.testing();
    cv.ports();
    cv.triggers();
    cv.escalation();
    cv.portscan();
    cv.limits();
    cv.country();
    let custom_logs = custom_rules(dir, &conf, &mut cv.report)?;
    cv.logs.extend(custom_logs);
    sources(&mut cv);
    let (off, mech) = cv.rest();
    let Conv {
        mut out,
        mut report,
        ..
    } = cv;
    let mut entries = lists(dir, &mut out, &mut report)?;
    entries.extend(temp_lists(var, now, &mut report)?);
    blocklists(dir, &mut report)?;
    dyndns(dir, &mut report)?;
    report.different(
        "csf.conf",
        "Rampart also detects web traversal and probing, CMS login floods, malware and IDS alerts (reasons web_traversal, web_probe, cms_login, malware, ids), with the defaults in docs/defaults.md",
    );
    report.different("csf.conf", format!("{off} settings were off and {mech} were CSF's own mechanics (program paths, timing, logging, downloads): nothing to convert"));
    Ok(Import {
        tool: Tool::Csf,
        config: out,
        entries,
        report,
    })
}

fn sources(cv: &mut Conv<'_>) {
    if cv.logs.is_empty() {
        return;
    }
    let arr = cv.logs.iter().cloned().map(Value::String).collect();
    cv.out.set(
        "sources",
        "files",
        Value::Array(arr),
        "csf.conf *_LOG of the enabled triggers",
    );
    cv.report.converted(
        "csf.conf *_LOG",
        format!(
            "[sources] files = {} log files of the enabled triggers",
            cv.logs.len()
        ),
    );
    cv.report.different("[sources] files", "Rampart reads each line with every rule of the program that wrote it, whichever file it is in");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_lines_split_into_target_comment_and_stamp() {
        assert_eq!(
            split_entry("198.51.100.7 # lfd: (sshd) x - y - Wed Mar  4 10:15:47 2026"),
            (
                "198.51.100.7",
                "lfd: (sshd) x - y",
                Some("Wed Mar  4 10:15:47 2026")
            )
        );
        assert_eq!(
            split_entry("192.0.2.1 # office"),
            ("192.0.2.1", "office", None)
        );
        assert_eq!(split_entry("192.0.2.1"), ("192.0.2.1", "", None));
        assert_eq!(reason_of("lfd: (smtpauth) Failed SMTP AUTH"), "smtpauth");
        assert_eq!(reason_of("Manually denied"), "manual");
    }

    #[test]
    fn perl_lists_keep_quoted_commas() {
        assert_eq!(
            perl_list(r#""Failed app login from",$1,"applogin","5","80,443","1""#),
            [
                "Failed app login from",
                "$1",
                "applogin",
                "5",
                "80,443",
                "1"
            ]
        );
        assert_eq!(
            log_key("if ($globlogs{CUSTOM1_LOG}{$lgfile})").as_deref(),
            Some("CUSTOM1_LOG")
        );
    }

    #[test]
    fn csf_limit_formats() {
        assert!(valid_connlimit("22;5"));
        assert!(!valid_connlimit("22;five"));
        assert!(valid_portflood("80;tcp;20;5"));
        assert!(!valid_portflood("80;sctp;20;5"));
        let c = Conf::parse("# c\nTCP_IN = \"22,80\" \nLF_SSHD=\"5\"\nbad line\n");
        assert_eq!(c.get("TCP_IN"), Some("22,80"));
        assert_eq!(c.num("LF_SSHD"), Some(5));
        assert_eq!(c.order, ["TCP_IN", "LF_SSHD"]);
    }
}
