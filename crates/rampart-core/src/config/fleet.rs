//! `[fleet]`: sharing bans across servers through NATS JetStream (see
//! `docs/fleet.md`). Validated here like every other section: file, line
//! and key on each error, all errors at once. Only the shape of values is
//! checked here (the core reads no files): whether the key file or the
//! credentials exist is the daemon's business at start.

use super::{Ctx, Val, join};

/// `[fleet]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetConfig {
    /// NATS server URLs (`nats://host:4222`, `tls://host:4222`).
    pub servers: Vec<String>,
    /// This node's name, as peers' `why` shows it.
    pub node: String,
    /// This node's ed25519 signing key file (`rampart fleet keygen`).
    pub key: String,
    /// Public keys (base64) whose decisions are applied.
    pub trusted_keys: Vec<String>,
    /// NATS user (with `password`).
    pub user: Option<String>,
    /// NATS password.
    pub password: Option<String>,
    /// NATS token.
    pub token: Option<String>,
    /// A file holding an NKey seed (`SU…`).
    pub nkey: Option<String>,
    /// A `.creds` file (user JWT and NKey seed).
    pub creds: Option<String>,
    /// A CA certificate file to verify the servers with.
    pub tls_ca: Option<String>,
    /// A client certificate file (with `tls_key`).
    pub tls_cert: Option<String>,
    /// The client certificate's key file.
    pub tls_key: Option<String>,
    /// The JetStream stream holding the decisions.
    pub stream: String,
    /// The subjects' prefix.
    pub subject_prefix: String,
    /// The stream's replicas (created by the first node that finds none).
    pub replicas: u8,
    /// How long the stream keeps a decision that nothing replaced (0: forever).
    pub retention_secs: u64,
    /// Outgoing decisions kept while NATS is unreachable (persisted).
    pub queue_max: u32,
    /// How long a starting daemon waits for the catch-up before it reports
    /// ready anyway.
    pub catchup_timeout_secs: u64,
    /// What is published and what is accepted.
    pub share: SharePolicy,
}

/// `[fleet.share]`: what this node publishes and accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharePolicy {
    /// Reasons published (`"*"`: all).
    pub publish: Vec<String>,
    /// Reasons accepted from peers (`"*"`: all).
    pub accept: Vec<String>,
    /// Peers' bans shorter than this are not applied (permanent ones always are).
    pub min_ban_secs: u64,
    /// Distinct nodes that must report an address before it is banned here.
    pub quorum: u32,
    /// The reasons the quorum applies to (empty: all).
    pub quorum_reasons: Vec<String>,
}

impl SharePolicy {
    /// Whether `reason` is in `list` (`"*"` matches all).
    pub fn lists(list: &[String], reason: &str) -> bool {
        list.iter().any(|r| r == "*" || r == reason)
    }

    /// How many distinct nodes must report `reason` (1: no quorum).
    pub fn quorum_for(&self, reason: &str) -> u32 {
        if self.quorum_reasons.is_empty() || Self::lists(&self.quorum_reasons, reason) {
            self.quorum.max(1)
        } else {
            1
        }
    }
}

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            servers: Vec::new(),
            node: String::new(),
            key: String::new(),
            trusted_keys: Vec::new(),
            user: None,
            password: None,
            token: None,
            nkey: None,
            creds: None,
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
            stream: "RAMPART_FLEET".into(),
            subject_prefix: "rampart.fleet".into(),
            replicas: 1,
            retention_secs: 30 * 86400,
            queue_max: 100_000,
            catchup_timeout_secs: 10,
            share: SharePolicy {
                publish: vec!["*".into()],
                accept: vec!["*".into()],
                min_ban_secs: 0,
                quorum: 1,
                quorum_reasons: Vec::new(),
            },
        }
    }
}

/// Known keys of `[fleet]`.
pub(super) const FLEET: &[&str] = &[
    "servers",
    "node",
    "key",
    "trusted_keys",
    "user",
    "password",
    "token",
    "nkey",
    "creds",
    "tls_ca",
    "tls_cert",
    "tls_key",
    "stream",
    "subject_prefix",
    "replicas",
    "retention",
    "queue_max",
    "catchup_timeout",
    "share",
];
const SHARE: &[&str] = &["publish", "accept", "min_ban", "quorum", "quorum_reasons"];

/// Whether `s` is a NATS subject token / stream name: letters, digits, `-`, `_`.
fn name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `s` looks like an ed25519 public key in standard base64.
fn key_ok(s: &str) -> bool {
    s.len() == 44
        && s.ends_with('=')
        && s[..43]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// Parses `[fleet]` (`v` is its table).
pub(super) fn parse(cx: &mut Ctx<'_>, v: &Val<'_>) -> Option<FleetConfig> {
    let t = cx.table("fleet", v)?;
    let mut f = FleetConfig::default();
    let mut seen = Vec::new();
    for (k, v2) in t.iter() {
        let ks = k.get_ref().as_ref();
        let full = join("fleet", ks);
        seen.push(ks.to_string());
        let opt = |cx: &mut Ctx<'_>| cx.string(&full, v2).map(str::to_string);
        match ks {
            "servers" => f.servers = servers(cx, &full, v2),
            "node" | "stream" => {
                if let Some(s) = cx.string(&full, v2) {
                    if name_ok(s) {
                        *if ks == "node" {
                            &mut f.node
                        } else {
                            &mut f.stream
                        } = s.to_string();
                    } else {
                        let shown = cx.shown(v2);
                        cx.err(
                            v2.span().start,
                            &full,
                            format!(
                                "bad value {shown}: expected 1 to 64 letters, digits, '-' or '_'"
                            ),
                        );
                    }
                }
            }
            "key" => f.key = opt(cx).unwrap_or_default(),
            "trusted_keys" => f.trusted_keys = trusted(cx, &full, v2),
            "user" => f.user = opt(cx),
            "password" => f.password = opt(cx),
            "token" => f.token = opt(cx),
            "nkey" => f.nkey = opt(cx),
            "creds" => f.creds = opt(cx),
            "tls_ca" => f.tls_ca = opt(cx),
            "tls_cert" => f.tls_cert = opt(cx),
            "tls_key" => f.tls_key = opt(cx),
            "subject_prefix" => {
                if let Some(s) = cx.string(&full, v2) {
                    if s.split('.').all(name_ok) {
                        f.subject_prefix = s.to_string();
                    } else {
                        let shown = cx.shown(v2);
                        cx.err(v2.span().start, &full, format!("bad value {shown}: expected dot-separated tokens of letters, digits, '-' or '_' (no wildcards)"));
                    }
                }
            }
            "replicas" => f.replicas = cx.int(&full, v2, 1, 5).map_or(f.replicas, |n| n as u8),
            "queue_max" => {
                f.queue_max = cx
                    .int(&full, v2, 100, 10_000_000)
                    .map_or(f.queue_max, |n| n as u32)
            }
            "retention" => {
                if let Some(d) = cx.duration(&full, v2, true) {
                    f.retention_secs = d.unwrap_or(0);
                }
            }
            "catchup_timeout" => {
                if let Some(Some(n)) = cx.duration(&full, v2, false) {
                    f.catchup_timeout_secs = n;
                }
            }
            "share" => share(cx, v2, &mut f.share),
            _ => cx.unknown(k.span().start, "fleet", ks, FLEET),
        }
    }
    required(cx, v, &f, &seen);
    Some(f)
}

fn servers(cx: &mut Ctx<'_>, key: &str, v: &Val<'_>) -> Vec<String> {
    let list = cx.strings(key, v);
    for s in &list {
        let ok = ["nats://", "tls://"]
            .iter()
            .any(|p| s.strip_prefix(p).is_some_and(|rest| !rest.is_empty()));
        if !ok {
            cx.err(v.span().start, key, format!("bad value {s:?}: expected a server URL like \"nats://127.0.0.1:4222\" or \"tls://nats.example.net:4222\""));
        }
    }
    list
}

fn trusted(cx: &mut Ctx<'_>, key: &str, v: &Val<'_>) -> Vec<String> {
    let list = cx.strings(key, v);
    for s in &list {
        if !key_ok(s) {
            cx.err(v.span().start, key, format!("bad value {s:?}: expected an ed25519 public key as `rampart fleet keygen` prints it (44 characters of base64)"));
        }
    }
    list
}

fn share(cx: &mut Ctx<'_>, v: &Val<'_>, s: &mut SharePolicy) {
    let Some(t) = cx.table("fleet.share", v) else {
        return;
    };
    for (k, v2) in t.iter() {
        let ks = k.get_ref().as_ref();
        let full = join("fleet.share", ks);
        match ks {
            "publish" => s.publish = cx.strings(&full, v2),
            "accept" => s.accept = cx.strings(&full, v2),
            "quorum_reasons" => s.quorum_reasons = cx.strings(&full, v2),
            "quorum" => s.quorum = cx.int(&full, v2, 1, 1000).map_or(s.quorum, |n| n as u32),
            "min_ban" => {
                if let Some(Some(n)) = cx.duration(&full, v2, false) {
                    s.min_ban_secs = n;
                }
            }
            _ => cx.unknown(k.span().start, "fleet.share", ks, SHARE),
        }
    }
}

/// What must be there, and what goes together.
fn required(cx: &mut Ctx<'_>, v: &Val<'_>, f: &FleetConfig, seen: &[String]) {
    let at = v.span().start;
    let has = |k: &str| seen.iter().any(|s| s == k);
    for (k, missing) in [
        ("servers", f.servers.is_empty()),
        ("node", f.node.is_empty()),
        ("key", f.key.is_empty()),
    ] {
        if missing && !(has(k) && k != "servers") {
            cx.err(at, &join("fleet", k), "missing: required in [fleet]".into());
        }
    }
    if f.trusted_keys.is_empty() && !has("trusted_keys") {
        cx.err(at, "fleet.trusted_keys", "missing: list the public keys of the nodes whose decisions are applied (this node's own key may be among them)".into());
    }
    let auth = [&f.user, &f.token, &f.nkey, &f.creds]
        .iter()
        .filter(|o| o.is_some())
        .count();
    if auth > 1 {
        cx.err(
            at,
            "fleet",
            "choose one way to authenticate: user (with password), token, nkey or creds".into(),
        );
    }
    if f.password.is_some() != f.user.is_some() {
        cx.err(at, "fleet.password", "user and password go together".into());
    }
    if f.tls_cert.is_some() != f.tls_key.is_some() {
        cx.err(
            at,
            "fleet.tls_cert",
            "tls_cert and tls_key go together".into(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    const KEY: &str = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

    fn p(text: &str) -> Result<Option<FleetConfig>, Vec<String>> {
        parse(
            "rampart.toml",
            text,
            &["sshd"],
            &[],
            &crate::config::FixedZonesOnly,
        )
        .map(|c| c.fleet)
        .map_err(|d| d.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn a_full_section() {
        let f = p(&format!(
            r#"
[fleet]
servers = ["nats://127.0.0.1:4222", "tls://nats.example.net:4222"]
node = "web1"
key = "/var/lib/rampart/fleet.key"
trusted_keys = ["{KEY}"]
creds = "/etc/rampart/fleet.creds"
tls_ca = "/etc/rampart/ca.pem"
retention = "7d"
[fleet.share]
publish = ["sshd", "smtpauth"]
accept = ["*"]
min_ban = "10m"
quorum = 2
quorum_reasons = ["portscan"]
"#
        ))
        .unwrap()
        .unwrap();
        assert_eq!(f.node, "web1");
        assert_eq!(f.servers.len(), 2);
        assert_eq!(f.retention_secs, 7 * 86400);
        assert_eq!(f.share.min_ban_secs, 600);
        assert_eq!(f.share.quorum_for("portscan"), 2);
        assert_eq!(f.share.quorum_for("sshd"), 1);
        assert!(SharePolicy::lists(&f.share.accept, "anything"));
        assert!(!SharePolicy::lists(&f.share.publish, "portscan"));
    }

    #[test]
    fn absent_is_off() {
        assert_eq!(p("").unwrap(), None);
    }

    #[test]
    fn errors_name_line_and_key() {
        let e = p(r#"
[fleet]
servers = ["http://x"]
node = "web 1"
key = "/k"
trusted_keys = ["nope"]
token = "t"
user = "u"
replicas = 9
[fleet.share]
quorom = 2
"#)
        .unwrap_err();
        let all = e.join("\n");
        for want in [
            "rampart.toml:3: fleet.servers: bad value \"http://x\"",
            "rampart.toml:4: fleet.node: bad value",
            "rampart.toml:6: fleet.trusted_keys: bad value \"nope\"",
            "fleet: choose one way to authenticate",
            "fleet.password: user and password go together",
            "rampart.toml:9: fleet.replicas",
            "rampart.toml:11: fleet.share.quorom: unknown key; did you mean `quorum`?",
        ] {
            assert!(all.contains(want), "{want:?} not in:\n{all}");
        }
    }

    #[test]
    fn required_keys() {
        let all = p("[fleet]\n").unwrap_err().join("\n");
        for k in [
            "fleet.servers",
            "fleet.node",
            "fleet.key",
            "fleet.trusted_keys",
        ] {
            assert!(all.contains(&format!("{k}: missing")), "{k}: {all}");
        }
    }
}
