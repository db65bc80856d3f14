//! The store against a real SQLite file in a temporary directory.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rampart_core::addr::Net;
use rampart_store::{
    AddAction, EndReason, Error, Kind, ListFilter, NewEntry, Options, Origin, Permanence, Removal,
    SCHEMA_VERSION, Store,
};

const T0: i64 = 1_795_780_800;

fn net(s: &str) -> Net {
    Net::parse(s).expect("test net")
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test ip")
}

fn temp() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rampart.db");
    (dir, path)
}

fn deny(target: &str, created: i64, expires: Option<i64>) -> NewEntry {
    NewEntry::new(
        Kind::Deny,
        net(target),
        Origin::Manual,
        "manual",
        created,
        expires,
    )
}

fn detector(target: &str, created: i64, len: Option<i64>, level: u32) -> NewEntry {
    let mut e = NewEntry::new(
        Kind::Deny,
        net(target),
        Origin::Detector,
        "sshd",
        created,
        len.map(|l| created + l),
    );
    e.rule = Some("sshd.failed_auth".into());
    e.summary = format!("(sshd) Failed SSH login from {target}: 5 in the last 3600 secs");
    e.evidence = vec![format!("sshd[1]: Failed password for root from {target}")];
    e.level = Some(level);
    e
}

fn full(kind: Kind, target: &str, origin: Origin, expires: Option<i64>) -> NewEntry {
    NewEntry {
        kind,
        target: net(target),
        reason: "smtpauth".into(),
        rule: Some("exim.auth_failed".into()),
        summary: format!("(smtpauth) Failed SMTP AUTH login from {target}: 5 in the last 3600 secs"),
        evidence: vec![
            "2026-11-27 08:00:02 dovecot_login authenticator failed for (x) [198.51.100.7]: 535 \"quoted\"".into(),
            "ünïcode, tab\tand \\ backslash".into(),
            String::new(),
        ],
        country: Some("NL".into()),
        origin,
        comment: Some("ticket #4411; it's fine".into()),
        created: T0,
        expires,
        level: Some(3),
    }
}

#[test]
fn round_trips_every_field() {
    let (_dir, path) = temp();
    let mut store = Store::open(&path).expect("open");
    let cases = [
        full(
            Kind::Deny,
            "198.51.100.7",
            Origin::Detector,
            Some(T0 + 3600),
        ),
        full(Kind::Deny, "203.0.113.0/24", Origin::Blocklist, None),
        full(Kind::Allow, "2001:db8::1", Origin::Manual, None),
        full(
            Kind::Ignore,
            "2001:db8:1:2::/64",
            Origin::Cluster,
            Some(T0 + 60),
        ),
        full(Kind::Deny, "0.0.0.0/0", Origin::Country, Some(T0 + 1)),
        full(Kind::Deny, "::/0", Origin::Country, None),
    ];
    let mut ids = Vec::new();
    for c in &cases {
        let added = store.add(c).expect("add");
        assert_eq!(added.action, AddAction::Inserted);
        ids.push(added.id);
    }
    let check = |store: &Store| {
        for (c, id) in cases.iter().zip(&ids) {
            let e = store.get(*id).expect("get").expect("stored");
            assert_eq!(e.id, *id);
            assert_eq!(e.kind, c.kind);
            assert_eq!(e.target, c.target);
            assert_eq!(e.reason, c.reason);
            assert_eq!(e.rule, c.rule);
            assert_eq!(e.summary, c.summary);
            assert_eq!(e.evidence, c.evidence);
            assert_eq!(e.country, c.country);
            assert_eq!(e.origin, c.origin);
            assert_eq!(e.comment, c.comment);
            assert_eq!(e.created, c.created);
            assert_eq!(e.since, c.created);
            assert_eq!(e.expires, c.expires);
            assert_eq!(e.level, c.level);
            assert_eq!(e.is_permanent(), c.expires.is_none());
            let found = store.find(c.kind, c.target).expect("find").expect("found");
            assert_eq!(found, e);
        }
    };
    check(&store);
    let listed = store.list(&ListFilter::default(), T0).expect("list");
    assert_eq!(listed.len(), cases.len());

    // Persistence: close, reopen, same content.
    store.close().expect("close");
    let store = Store::open(&path).expect("reopen");
    assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
    check(&store);
    assert_eq!(
        store.list(&ListFilter::default(), T0).expect("list"),
        listed
    );

    // JSON for `why --json`: targets as text, kinds lowercase.
    let json = serde_json::to_value(&listed[1]).expect("json");
    assert_eq!(json["target"], "203.0.113.0/24");
    assert_eq!(json["kind"], "deny");
    assert_eq!(json["origin"], "blocklist");
    assert_eq!(json["expires"], serde_json::Value::Null);
}

#[test]
fn targets_are_normalised() {
    let (_dir, path) = temp();
    let mut store = Store::open(&path).expect("open");
    // Host bits set, IPv4-mapped IPv6, upper-case IPv6.
    let raw = Net {
        addr: ip("198.51.100.99"),
        prefix: 24,
    };
    let a = store
        .add(&NewEntry::new(
            Kind::Deny,
            raw,
            Origin::Manual,
            "manual",
            T0,
            None,
        ))
        .expect("add");
    let e = store.get(a.id).expect("get").expect("entry");
    assert_eq!(e.target.to_string(), "198.51.100.0/24");
    let mapped = Net {
        addr: ip("::ffff:192.0.2.5"),
        prefix: 128,
    };
    let b = store
        .add(&NewEntry::new(
            Kind::Deny,
            mapped,
            Origin::Manual,
            "manual",
            T0,
            None,
        ))
        .expect("add");
    assert_eq!(
        store
            .get(b.id)
            .expect("get")
            .expect("entry")
            .target
            .to_string(),
        "192.0.2.5"
    );
    // The same host written as IPv4 is the same entry.
    let again = store.add(&deny("192.0.2.5", T0 + 5, None)).expect("add");
    assert_eq!(again.id, b.id);
    assert!(matches!(again.action, AddAction::Kept { .. }));
    let mapped_net = Net {
        addr: ip("::ffff:192.0.2.0"),
        prefix: 120,
    };
    let c = store
        .add(&NewEntry::new(
            Kind::Deny,
            mapped_net,
            Origin::Manual,
            "manual",
            T0,
            None,
        ))
        .expect("add");
    assert_eq!(
        store
            .get(c.id)
            .expect("get")
            .expect("entry")
            .target
            .to_string(),
        "192.0.2.0/24"
    );
    let d = store
        .add(&deny("2001:DB8:0:0:0:0:0:A", T0, None))
        .expect("add");
    assert_eq!(
        store
            .get(d.id)
            .expect("get")
            .expect("entry")
            .target
            .to_string(),
        "2001:db8::a"
    );
}

#[test]
fn add_extends_or_keeps_never_duplicates() {
    let (_dir, path) = temp();
    let mut store = Store::open(&path).expect("open");
    let first = store
        .add(&detector("198.51.100.7", T0, Some(3600), 1))
        .expect("first ban");
    assert_eq!(first.action, AddAction::Inserted);

    // A longer detector ban at a higher level: escalated in place.
    let second = store
        .add(&detector("198.51.100.7", T0 + 600, Some(4 * 3600), 2))
        .expect("escalation");
    assert_eq!(second.id, first.id);
    assert!(
        matches!(second.action, AddAction::Replaced { ref previous } if previous.level == Some(1))
    );
    let e = store.get(first.id).expect("get").expect("entry");
    assert_eq!(e.since, T0, "continuously blocked since the first ban");
    assert_eq!(e.created, T0 + 600);
    assert_eq!(e.expires, Some(T0 + 600 + 4 * 3600));
    assert_eq!(e.level, Some(2));
    let hist = store.history_for(ip("198.51.100.7")).expect("history");
    assert_eq!(hist.len(), 1);
    assert_eq!(hist[0].end, EndReason::Escalated);
    assert_eq!(hist[0].ended, T0 + 600);
    assert_eq!(hist[0].successor, Some(first.id));
    assert_eq!(hist[0].entry.expires, Some(T0 + 3600));

    // A shorter deny does not shorten it.
    let shorter = store
        .add(&deny("198.51.100.7", T0 + 700, Some(T0 + 800)))
        .expect("shorter");
    assert!(matches!(shorter.action, AddAction::Kept { .. }));
    assert_eq!(
        store.get(first.id).expect("get").expect("entry").expires,
        Some(T0 + 600 + 4 * 3600)
    );

    // A permanent manual deny replaces the temporary ban.
    let mut perm = deny("198.51.100.7", T0 + 900, None);
    perm.comment = Some("repeat offender".into());
    let p = store.add(&perm).expect("permanent");
    assert_eq!(p.id, first.id);
    assert!(matches!(p.action, AddAction::Replaced { .. }));
    let e = store.get(first.id).expect("get").expect("entry");
    assert_eq!((e.expires, e.origin), (None, Origin::Manual));
    assert_eq!(
        store.history_for(ip("198.51.100.7")).expect("history")[0].end,
        EndReason::Replaced
    );

    // A temporary ban never demotes a permanent one; neither does another permanent one.
    for later in [
        detector("198.51.100.7", T0 + 1000, Some(3600), 3),
        deny("198.51.100.7", T0 + 1000, None),
    ] {
        let k = store.add(&later).expect("kept");
        assert!(
            matches!(k.action, AddAction::Kept { ref existing } if existing.comment.as_deref() == Some("repeat offender"))
        );
    }

    // Allow and deny of one target are separate entries.
    let allow = store
        .add(&NewEntry::new(
            Kind::Allow,
            net("198.51.100.7"),
            Origin::Manual,
            "manual",
            T0,
            None,
        ))
        .expect("allow");
    assert_ne!(allow.id, first.id);
    assert_eq!(
        store
            .list(&ListFilter::default(), T0 + 2000)
            .expect("list")
            .len(),
        2
    );

    // An expired-but-unswept entry ends as expired and a new one starts.
    let t = store
        .add(&deny("203.0.113.9", T0, Some(T0 + 60)))
        .expect("temp");
    let fresh = store
        .add(&deny("203.0.113.9", T0 + 120, Some(T0 + 180)))
        .expect("after expiry");
    assert_eq!(fresh.action, AddAction::Inserted);
    assert_ne!(fresh.id, t.id, "ids are never reused");
    let h = store.history_for(ip("203.0.113.9")).expect("history");
    assert_eq!(h.len(), 1);
    assert_eq!((h[0].end, h[0].ended), (EndReason::Expired, T0 + 60));
    assert_eq!(
        store.get(fresh.id).expect("get").expect("e").since,
        T0 + 120
    );
}

#[test]
fn invalid_entries_are_refused() {
    let (_dir, path) = temp();
    let mut store = Store::open(&path).expect("open");
    let err = store
        .add(&deny("198.51.100.7", T0, Some(T0)))
        .expect_err("zero-length ban");
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    // add_many is all or nothing.
    let batch = [
        deny("198.51.100.1", T0, None),
        deny("198.51.100.2", T0, Some(T0 - 1)),
    ];
    assert!(store.add_many(&batch).is_err());
    assert!(
        store
            .list(&ListFilter::default(), T0)
            .expect("list")
            .is_empty()
    );
}

#[test]
fn expiry_moves_entries_to_history() {
    let (_dir, path) = temp();
    let mut store = Store::open(&path).expect("open");
    store
        .add(&deny("198.51.100.1", T0, Some(T0 + 60)))
        .expect("a");
    store
        .add(&deny("198.51.100.2", T0, Some(T0 + 120)))
        .expect("b");
    store
        .add(&deny("2001:db8::/48", T0, Some(T0 + 60)))
        .expect("c");
    store.add(&deny("198.51.100.3", T0, None)).expect("d");

    // In force until the expiry second; listing hides expired entries even before the sweep.
    assert_eq!(
        store
            .list(&ListFilter::default(), T0 + 59)
            .expect("list")
            .len(),
        4
    );
    assert_eq!(
        store
            .list(&ListFilter::default(), T0 + 60)
            .expect("list")
            .len(),
        2
    );
    let counts = store.counts(T0 + 60).expect("counts");
    assert_eq!(counts.expired_pending, 2);
    assert_eq!((counts.deny.temporary, counts.deny.permanent), (1, 1));

    let gone = store.expire(T0 + 90).expect("expire");
    let mut names: Vec<String> = gone.iter().map(|e| e.target.to_string()).collect();
    names.sort();
    assert_eq!(names, ["198.51.100.1", "2001:db8::/48"]);
    assert!(store.expire(T0 + 90).expect("again").is_empty());
    let h = store.history_for(ip("2001:db8::5")).expect("history");
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].end, EndReason::Expired);
    assert_eq!(h[0].ended, T0 + 60, "ended at its expiry, not at the sweep");
    assert_eq!(h[0].entry.target.to_string(), "2001:db8::/48");

    let active = store.active(T0 + 100).expect("active");
    assert_eq!(active.len(), 2);
    let b = active
        .iter()
        .find(|a| a.target == net("198.51.100.2"))
        .expect("b active");
    assert_eq!(b.remaining, Some(20));
    let d = active
        .iter()
        .find(|a| a.target == net("198.51.100.3"))
        .expect("d active");
    assert_eq!(d.remaining, None);
    let counts = store.counts(T0 + 100).expect("counts");
    assert_eq!(counts.history, 2);
    assert_eq!(counts.expired_pending, 0);
}

#[test]
fn unblock_removes_exact_target_and_reports_the_rest() {
    let (_dir, path) = temp();
    let mut store = Store::open(&path).expect("open");
    store
        .add(&detector("198.51.100.7", T0, Some(3600), 1))
        .expect("host ban");
    store
        .add(&deny("198.51.100.0/24", T0, None))
        .expect("net ban");
    store
        .add(&deny("198.51.100.9", T0, None))
        .expect("other host");
    store
        .add(&deny("198.51.0.0/16", T0, Some(T0 + 10)))
        .expect("wider, expires");
    store
        .add(&NewEntry::new(
            Kind::Allow,
            net("198.51.100.7"),
            Origin::Manual,
            "manual",
            T0,
            None,
        ))
        .expect("allow");

    let who = Removal::by("root via cli", Some("customer called".into()));
    let u = store
        .unblock(net("198.51.100.7"), &who, T0 + 100)
        .expect("unblock");
    assert_eq!(u.removed.len(), 1);
    assert_eq!(u.removed[0].origin, Origin::Detector);
    let covering: Vec<String> = u.covering.iter().map(|e| e.target.to_string()).collect();
    assert_eq!(
        covering,
        ["198.51.100.0/24"],
        "the expired /16 is not in force"
    );
    assert!(u.inside.is_empty());
    // The allow entry stays; the address is still covered by the /24.
    assert!(
        store
            .find(Kind::Allow, net("198.51.100.7"))
            .expect("find")
            .is_some()
    );
    let h = store.history_for(ip("198.51.100.7")).expect("history");
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].end, EndReason::Unblocked);
    assert_eq!(h[0].by.as_deref(), Some("root via cli"));
    assert_eq!(h[0].comment.as_deref(), Some("customer called"));
    assert_eq!(h[0].ended, T0 + 100);

    // Unblocking the /24 removes it and reports the host inside it.
    let u = store
        .unblock(net("198.51.100.0/24"), &who, T0 + 200)
        .expect("unblock net");
    assert_eq!(u.removed.len(), 1);
    let inside: Vec<String> = u.inside.iter().map(|e| e.target.to_string()).collect();
    assert_eq!(inside, ["198.51.100.9"]);

    // Nothing to unblock.
    let u = store.unblock(net("203.0.113.1"), &who, T0).expect("noop");
    assert!(u.removed.is_empty() && u.covering.is_empty() && u.inside.is_empty());
    // A permanent deny goes the same way.
    let u = store
        .unblock(net("198.51.100.9"), &who, T0 + 300)
        .expect("perm");
    assert_eq!(u.removed.len(), 1);
    assert!(u.removed[0].is_permanent());
}

#[test]
fn covering_finds_every_network_containing_an_address() {
    let (_dir, path) = temp();
    let mut store = Store::open(&path).expect("open");
    store.add(&deny("198.51.100.0/24", T0, None)).expect("net");
    store
        .add(&deny("198.51.100.7", T0, Some(T0 + 60)))
        .expect("host");
    store
        .add(&NewEntry::new(
            Kind::Allow,
            net("198.51.0.0/16"),
            Origin::Manual,
            "manual",
            T0,
            None,
        ))
        .expect("allow");
    store
        .add(&NewEntry::new(
            Kind::Ignore,
            net("198.51.100.7"),
            Origin::Manual,
            "manual",
            T0,
            None,
        ))
        .expect("ignore");
    store
        .add(&deny("198.51.101.0/24", T0, None))
        .expect("neighbour");
    store
        .add(&deny("2001:db8:1:2::/64", T0, None))
        .expect("v6 net");
    store.add(&deny("::/0", T0, None)).expect("all v6");

    let got = |a: &str, now: i64| -> Vec<(Kind, String)> {
        store
            .covering(ip(a), now)
            .expect("covering")
            .into_iter()
            .map(|e| (e.kind, e.target.to_string()))
            .collect()
    };
    assert_eq!(
        got("198.51.100.7", T0),
        [
            (Kind::Deny, "198.51.100.7".to_string()),
            (Kind::Ignore, "198.51.100.7".to_string()),
            (Kind::Deny, "198.51.100.0/24".to_string()),
            (Kind::Allow, "198.51.0.0/16".to_string()),
        ]
    );
    // The host ban expired: the /24 still covers.
    assert_eq!(got("198.51.100.7", T0 + 60).len(), 3);
    assert_eq!(
        got("198.51.100.200", T0),
        [
            (Kind::Deny, "198.51.100.0/24".to_string()),
            (Kind::Allow, "198.51.0.0/16".to_string()),
        ]
    );
    // An IPv4-mapped address is its IPv4 address; IPv4 is never under ::/0.
    assert_eq!(got("::ffff:198.51.100.200", T0).len(), 2);
    assert!(got("203.0.113.1", T0).is_empty());
    assert_eq!(
        got("2001:db8:1:2::99", T0),
        [
            (Kind::Deny, "2001:db8:1:2::/64".to_string()),
            (Kind::Deny, "::/0".to_string()),
        ]
    );
    assert_eq!(
        got("2001:db8:1:3::1", T0),
        [(Kind::Deny, "::/0".to_string())]
    );
}

#[test]
fn list_filters() {
    let (_dir, path) = temp();
    let mut store = Store::open(&path).expect("open");
    store
        .add(&deny("198.51.100.1", T0, Some(T0 + 60)))
        .expect("a");
    store.add(&deny("198.51.100.2", T0, None)).expect("b");
    store
        .add(&detector("198.51.100.3", T0, Some(60), 1))
        .expect("c");
    store
        .add(&NewEntry::new(
            Kind::Allow,
            net("192.0.2.1"),
            Origin::Manual,
            "manual",
            T0,
            Some(T0 + 60),
        ))
        .expect("allow");
    let n = |f: ListFilter| store.list(&f, T0).expect("list").len();
    assert_eq!(n(ListFilter::default()), 4);
    let deny_only = ListFilter {
        kind: Some(Kind::Deny),
        ..Default::default()
    };
    assert_eq!(n(deny_only), 3);
    assert_eq!(
        n(ListFilter {
            permanence: Permanence::Temporary,
            ..deny_only
        }),
        2
    );
    assert_eq!(
        n(ListFilter {
            permanence: Permanence::Permanent,
            ..Default::default()
        }),
        1
    );
    assert_eq!(
        n(ListFilter {
            origin: Some(Origin::Detector),
            ..Default::default()
        }),
        1
    );
    assert_eq!(
        n(ListFilter {
            kind: Some(Kind::Ignore),
            ..Default::default()
        }),
        0
    );
}

#[test]
fn remove_and_flush_keep_history() {
    let (_dir, path) = temp();
    let mut store = Store::open(&path).expect("open");
    store
        .add(&NewEntry::new(
            Kind::Ignore,
            net("192.0.2.0/24"),
            Origin::Manual,
            "manual",
            T0,
            None,
        ))
        .expect("ignore");
    store.add(&deny("198.51.100.1", T0, None)).expect("a");
    store.add(&deny("198.51.100.2", T0, None)).expect("b");
    let who = Removal::by("admin", None);
    let gone = store
        .remove(Kind::Ignore, net("192.0.2.0/24"), &who, T0 + 5)
        .expect("remove");
    assert_eq!(gone.map(|e| e.kind), Some(Kind::Ignore));
    assert!(
        store
            .remove(Kind::Ignore, net("192.0.2.0/24"), &who, T0 + 5)
            .expect("again")
            .is_none()
    );
    let h = store.history_for(ip("192.0.2.77")).expect("history");
    assert_eq!((h[0].end, h[0].ended), (EndReason::Removed, T0 + 5));

    assert_eq!(
        store.flush(Some(Kind::Allow), &who, T0 + 6).expect("flush"),
        0
    );
    assert_eq!(
        store.flush(Some(Kind::Deny), &who, T0 + 6).expect("flush"),
        2
    );
    assert!(
        store
            .list(&ListFilter::default(), T0 + 6)
            .expect("list")
            .is_empty()
    );
    let h = store.history_for(ip("198.51.100.2")).expect("history");
    assert_eq!(h[0].end, EndReason::Flushed);
    assert_eq!(store.counts(T0 + 6).expect("counts").history, 3);
    assert_eq!(store.prune_history(T0 + 6).expect("prune"), 1);
    assert_eq!(store.prune_history(T0 + 7).expect("prune"), 2);
}

#[test]
fn bans_in_window_survive_restarts() {
    let (_dir, path) = temp();
    let target = "198.51.100.7";
    {
        let mut store = Store::open(&path).expect("open");
        // Ban 1 (expired), ban 2 (escalated in place by ban 3).
        store.add(&detector(target, T0, Some(3600), 1)).expect("1");
        store.expire(T0 + 3600).expect("expire");
        store
            .add(&detector(target, T0 + 4000, Some(4 * 3600), 2))
            .expect("2");
        store
            .add(&detector(target, T0 + 5000, Some(16 * 3600), 3))
            .expect("3");
        // An unblocked ban does not count, nor does a manual deny or another target.
        store
            .add(&detector("198.51.100.8", T0, Some(3600), 1))
            .expect("other");
        store
            .add(&detector("203.0.113.1", T0, Some(3600), 1))
            .expect("to unblock");
        store
            .unblock(net("203.0.113.1"), &Removal::default(), T0 + 10)
            .expect("unblock");
        store.add(&deny("192.0.2.1", T0, None)).expect("manual");
    }
    let store = Store::open(&path).expect("reopen");
    assert_eq!(store.bans_in_window(net(target), T0).expect("count"), 3);
    assert_eq!(store.bans_in_window(net(target), T0 + 1).expect("count"), 2);
    assert_eq!(
        store.bans_in_window(net(target), T0 + 4500).expect("count"),
        1
    );
    assert_eq!(
        store.bans_in_window(net(target), T0 + 6000).expect("count"),
        0
    );
    assert_eq!(
        store.bans_in_window(net("203.0.113.1"), T0).expect("count"),
        0
    );
    assert_eq!(
        store.bans_in_window(net("192.0.2.1"), T0).expect("count"),
        0
    );
    assert_eq!(
        store
            .bans_in_window(net("198.51.100.8"), T0)
            .expect("count"),
        1
    );
    let counts = store.counts(T0 + 5000).expect("counts");
    // 198.51.100.8's ban expired at T0 + 3600 (not yet swept).
    assert_eq!(counts.deny.temporary, 1);
    assert_eq!(counts.deny.permanent, 1);
    assert_eq!(counts.expired_pending, 1);
    assert_eq!(
        counts.deny_by_origin,
        [(Origin::Detector, 1), (Origin::Manual, 1)]
    );
}

/// With WAL, a reader is neither blocked by an open write transaction nor
/// sees it before it commits; two `Store`s on one file see each other's
/// commits.
#[test]
fn concurrent_connections_with_wal() {
    let (_dir, path) = temp();
    let mut a = Store::open(&path).expect("open a");
    let b = Store::open(&path).expect("open b");
    a.add(&deny("198.51.100.1", T0, None)).expect("add");
    assert_eq!(b.list(&ListFilter::default(), T0).expect("b list").len(), 1);

    let mut writer = rusqlite::Connection::open(&path).expect("raw");
    let mode: String = writer
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("mode");
    assert_eq!(mode, "wal");
    let tx = writer
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .expect("write lock");
    tx.execute("DELETE FROM entries", [])
        .expect("uncommitted delete");
    let started = Instant::now();
    assert_eq!(
        b.list(&ListFilter::default(), T0).expect("b reads").len(),
        1
    );
    assert_eq!(
        a.covering(ip("198.51.100.1"), T0).expect("a reads").len(),
        1
    );
    assert!(started.elapsed() < Duration::from_secs(1), "readers waited");
    tx.rollback().expect("rollback");

    // A long read on b does not stop a's writes.
    let reader = rusqlite::Connection::open(&path).expect("raw reader");
    reader.execute_batch("BEGIN").expect("begin");
    let n: i64 = reader
        .query_row("SELECT count(*) FROM entries", [], |r| r.get(0))
        .expect("snapshot");
    assert_eq!(n, 1);
    a.add(&deny("198.51.100.2", T0, None))
        .expect("write during a read");
    let n: i64 = reader
        .query_row("SELECT count(*) FROM entries", [], |r| r.get(0))
        .expect("snapshot");
    assert_eq!(n, 1, "the reader keeps its snapshot");
    reader.execute_batch("COMMIT").expect("end read");
    assert_eq!(b.list(&ListFilter::default(), T0).expect("b list").len(), 2);
}

#[test]
fn a_locked_database_is_a_typed_error() {
    let (_dir, path) = temp();
    drop(Store::open(&path).expect("create"));
    let mut store = Store::open_with(
        &path,
        Options {
            busy_timeout: Duration::from_millis(200),
        },
    )
    .expect("open");
    let mut holder = rusqlite::Connection::open(&path).expect("raw");
    let tx = holder
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .expect("lock");
    let started = Instant::now();
    let err = store
        .add(&deny("198.51.100.1", T0, None))
        .expect_err("locked");
    let waited = started.elapsed();
    assert!(err.is_locked(), "{err:?}");
    assert!(waited >= Duration::from_millis(150), "waited {waited:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("rampart.db") && msg.contains("locked"),
        "{msg}"
    );
    // Reads still work while the lock is held.
    assert!(
        store
            .list(&ListFilter::default(), T0)
            .expect("read")
            .is_empty()
    );
    tx.rollback().expect("release");
    store
        .add(&deny("198.51.100.1", T0, None))
        .expect("after release");
}

#[test]
fn garbage_file_is_a_typed_error() {
    let (_dir, path) = temp();
    std::fs::write(
        &path,
        b"this is not an sqlite database, just a text file\n".repeat(100),
    )
    .expect("write");
    let err = Store::open(&path).expect_err("garbage");
    assert!(err.is_corrupt(), "{err:?}");
    assert!(err.to_string().contains("rampart.db"), "{err}");
}

#[test]
fn damaged_pages_are_a_typed_error_never_a_panic() {
    let (_dir, path) = temp();
    {
        let mut store = Store::open(&path).expect("open");
        let batch: Vec<NewEntry> = (0..3000u32)
            .map(|i| {
                let mut e = detector(
                    &format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255),
                    T0,
                    Some(3600),
                    1,
                );
                e.evidence = vec!["x".repeat(200)];
                e
            })
            .collect();
        store.add_many(&batch).expect("batch");
        store.close().expect("close");
    }
    let mut bytes = std::fs::read(&path).expect("read");
    let page = 4096;
    assert!(bytes.len() > 20 * page, "{} bytes", bytes.len());
    // Keep the header page; smash the pages after it.
    for b in &mut bytes[page..page * 20] {
        *b = 0xa5;
    }
    std::fs::write(&path, &bytes).expect("write");
    let result = Store::open(&path).and_then(|s| {
        s.list(&ListFilter::default(), T0)?;
        s.covering(ip("10.0.1.1"), T0)?;
        s.quick_check()
    });
    eprintln!("damaged database: {result:?}");
    match result {
        Err(e) => assert!(e.is_corrupt() || matches!(e, Error::BadRow { .. }), "{e:?}"),
        Ok(problems) => assert!(!problems.is_empty(), "damage went unnoticed"),
    }
}

#[test]
fn foreign_and_newer_databases_are_refused() {
    let (_dir, path) = temp();
    {
        let other = rusqlite::Connection::open(&path).expect("raw");
        other
            .execute_batch("CREATE TABLE photos (id INTEGER PRIMARY KEY)")
            .expect("schema");
    }
    let err = Store::open(&path).expect_err("foreign");
    assert!(matches!(err, Error::Foreign { .. }), "{err:?}");

    let (_dir2, path2) = temp();
    drop(Store::open(&path2).expect("create"));
    {
        let raw = rusqlite::Connection::open(&path2).expect("raw");
        raw.pragma_update(None, "user_version", SCHEMA_VERSION + 7)
            .expect("bump");
    }
    let err = Store::open(&path2).expect_err("too new");
    assert!(
        matches!(err, Error::TooNew { found, .. } if found == SCHEMA_VERSION + 7),
        "{err:?}"
    );
}

#[test]
fn open_errors_name_the_path() {
    let (dir, _) = temp();
    let path = dir.path().join("missing-dir").join("rampart.db");
    let err = Store::open(&path).expect_err("no directory");
    assert!(matches!(err, Error::Open { .. }), "{err:?}");
    assert!(err.to_string().contains("missing-dir"), "{err}");
}

#[test]
fn the_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, path) = temp();
    drop(Store::open(&path).expect("open"));
    let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

fn hundred_thousand(path: &Path) -> (Duration, usize) {
    let mut store = Store::open(path).expect("open");
    let batch: Vec<NewEntry> = (0..100_000u32)
        .map(|i| {
            let target = if i % 2 == 0 {
                format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255)
            } else {
                format!("2001:db8:{:x}:{:x}::/64", i >> 16, i & 0xffff)
            };
            let mut e = detector(&target, T0, Some(3600), 1);
            e.country = Some("NL".into());
            e
        })
        .collect();
    let started = Instant::now();
    let added = store.add_many(&batch).expect("add_many");
    let took = started.elapsed();
    assert!(added.iter().all(|a| a.action == AddAction::Inserted));
    (took, store.active(T0).expect("active").len())
}

#[test]
fn hundred_thousand_inserts_in_one_transaction() {
    let (_dir, path) = temp();
    let (took, n) = hundred_thousand(&path);
    eprintln!("add_many: 100000 entries in one transaction in {took:?}");
    assert_eq!(n, 100_000);
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    eprintln!("database file after the batch: {} KiB", size / 1024);
    // What `rampart deny` costs against a full store: open, add one, close.
    let started = Instant::now();
    let mut store = Store::open(&path).expect("reopen");
    store
        .add(&deny("203.0.113.77", T0, None))
        .expect("one more");
    store.close().expect("close");
    eprintln!(
        "open + add + close on a 100000-entry store: {:?}",
        started.elapsed()
    );
    let store = Store::open(&path).expect("reopen");
    let started = Instant::now();
    let covering = store.covering(ip("10.0.1.2"), T0).expect("covering");
    let covering_took = started.elapsed();
    assert_eq!(covering.len(), 1);
    let started = Instant::now();
    let active = store.active(T0).expect("active");
    eprintln!(
        "covering lookup among 100001: {covering_took:?}; active(): {} entries in {:?}",
        active.len(),
        started.elapsed()
    );
    assert!(took < Duration::from_secs(60), "add_many took {took:?}");
}

/// Two processes' worth of writers (two connections on two threads) wait
/// for each other's locks instead of failing.
#[test]
fn concurrent_writers_wait_for_each_other() {
    let (_dir, path) = temp();
    drop(Store::open(&path).expect("create"));
    let writers: Vec<_> = (0..2u32)
        .map(|w| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut store = Store::open(&path).expect("open");
                for i in 0..200u32 {
                    store
                        .add(&deny(&format!("10.{w}.{}.{}", i >> 8, i & 255), T0, None))
                        .expect("add while the other writes");
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    let store = Store::open(&path).expect("open");
    assert_eq!(
        store.list(&ListFilter::default(), T0).expect("list").len(),
        400
    );
}

#[test]
fn transaction_commits_or_rolls_back_everything_and_data_version_sees_others() {
    let (_d, path) = temp();
    let mut a = Store::open(&path).expect("open");
    let b = Store::open(&path).expect("open");
    let v0 = b.data_version().expect("version");
    // an error inside: nothing of it stays
    let r: Result<(), Error> = a.transaction(|s| {
        s.add(&deny("198.51.100.7", T0, None))?;
        s.unblock(net("198.51.100.7"), &Removal::default(), T0)?;
        s.add(&deny("198.51.100.8", T0, None))?;
        Err(Error::Invalid {
            target: "198.51.100.8".into(),
            what: "the kernel said no".into(),
        })
    });
    assert!(r.is_err());
    assert!(
        a.find(Kind::Deny, net("198.51.100.8"))
            .expect("find")
            .is_none()
    );
    assert!(
        a.history_for(ip("198.51.100.7"))
            .expect("history")
            .is_empty()
    );
    assert_eq!(b.data_version().expect("version"), v0, "nothing committed");
    // success: all of it, seen by the other connection
    let n = a
        .transaction(|s| -> Result<usize, Error> {
            s.add(&deny("198.51.100.7", T0, None))?;
            s.add(&deny("2001:db8::/64", T0, Some(T0 + 60)))?;
            Ok(s.active(T0)?.len())
        })
        .expect("commit");
    assert_eq!(n, 2, "the transaction sees its own writes");
    assert_ne!(b.data_version().expect("version"), v0);
    assert_eq!(b.active(T0).expect("active").len(), 2);
}
