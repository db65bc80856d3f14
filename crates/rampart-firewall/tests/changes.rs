//! Changes against a real SQLite store and the dry-run recorder (no root):
//! the cases at the level of the model.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rampart_core::addr::Net;
use rampart_core::config::Config;
use rampart_firewall::{
    Change, Error, Expiry, Kernel, Layout, MAX_TIMEOUT_SECS, Mirror, Segment, apply_change, plan,
    report, segments,
};
use rampart_nft::SetList;
use rampart_store::{AddAction, Kind, NewEntry, Origin, Removal, Store};

const NOW: i64 = 1_795_780_800;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    kernel: Kernel,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("rampart.db")).unwrap();
    let layout = Layout::load(&Config::default(), dir.path()).unwrap();
    Fixture {
        store,
        kernel: Kernel::recorder(layout),
        _dir: dir,
    }
}

fn net(s: &str) -> Net {
    Net::parse(s).unwrap()
}

fn entry(kind: Kind, target: &str, secs: Option<i64>) -> Change {
    Change::Add(NewEntry::new(
        kind,
        net(target),
        Origin::Manual,
        "manual",
        NOW,
        secs.map(|s| NOW + s),
    ))
}

fn kernel_set(f: &mut Fixture, list: &SetList) -> Vec<String> {
    f.kernel
        .read(list, NOW)
        .unwrap()
        .unwrap_or_default()
        .iter()
        .map(|s| match s.expiry {
            Expiry::Never => s.range().to_string(),
            Expiry::At(t) => format!("{} +{}", s.range(), t - NOW),
        })
        .collect()
}

#[test]
fn a_wider_deny_over_a_denied_address_splits_into_segments() {
    let mut f = fixture();
    apply_change(
        &mut f.store,
        &mut f.kernel,
        &entry(Kind::Deny, "10.9.9.131", Some(3600)),
        NOW,
    )
    .unwrap();
    apply_change(
        &mut f.store,
        &mut f.kernel,
        &entry(Kind::Deny, "10.9.9.128/25", Some(300)),
        NOW,
    )
    .unwrap();
    assert_eq!(
        kernel_set(&mut f, &SetList::Deny),
        [
            "10.9.9.128-10.9.9.130 +300",
            "10.9.9.131 +3600",
            "10.9.9.132-10.9.9.255 +300"
        ]
    );
    assert_eq!(f.store.active(NOW).unwrap().len(), 2);
}

#[test]
fn a_change_after_flush_rebuilds_everything_allow_first() {
    let mut f = fixture();
    apply_change(
        &mut f.store,
        &mut f.kernel,
        &entry(Kind::Allow, "192.0.2.10", None),
        NOW,
    )
    .unwrap();
    apply_change(&mut f.store, &mut f.kernel, &Change::Flush, NOW).unwrap();
    assert!(
        f.kernel.read(&SetList::Allow, NOW).unwrap().is_none(),
        "no table"
    );
    let out = apply_change(
        &mut f.store,
        &mut f.kernel,
        &entry(Kind::Deny, "198.51.100.7", None),
        NOW,
    )
    .unwrap();
    assert!(out.plan.load_ruleset);
    assert_eq!(
        out.plan.lists[0].list,
        SetList::Allow,
        "allow is loaded first"
    );
    assert_eq!(kernel_set(&mut f, &SetList::Allow), ["192.0.2.10"]);
    assert_eq!(kernel_set(&mut f, &SetList::Deny), ["198.51.100.7"]);
    assert!(report(&mut f.store, &mut f.kernel, NOW).unwrap().agrees());
}

#[test]
fn a_duration_beyond_the_kernel_limit_writes_nothing() {
    let mut f = fixture();
    let too_long = i64::try_from(MAX_TIMEOUT_SECS).unwrap() + 1;
    let r = apply_change(
        &mut f.store,
        &mut f.kernel,
        &entry(Kind::Deny, "198.51.100.7", Some(too_long)),
        NOW,
    );
    assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
    assert!(f.store.active(NOW).unwrap().is_empty());
    let at_limit = i64::try_from(MAX_TIMEOUT_SECS).unwrap();
    apply_change(
        &mut f.store,
        &mut f.kernel,
        &entry(Kind::Deny, "198.51.100.7", Some(at_limit)),
        NOW,
    )
    .unwrap();
}

#[test]
fn a_dry_run_changes_nothing_and_shows_the_operations() {
    let mut f = fixture();
    apply_change(
        &mut f.store,
        &mut f.kernel,
        &entry(Kind::Deny, "10.9.9.131", Some(3600)),
        NOW,
    )
    .unwrap();
    let out = plan(
        &mut f.store,
        &mut f.kernel,
        &entry(Kind::Deny, "10.9.9.128/25", Some(300)),
        NOW,
    )
    .unwrap();
    let text = out.plan.to_nft_text(None);
    assert_eq!(
        text,
        "add element inet rampart deny4 { 10.9.9.128-10.9.9.130 timeout 300s, 10.9.9.132-10.9.9.255 timeout 300s }\n"
    );
    assert_eq!(
        f.store.active(NOW).unwrap().len(),
        1,
        "the store is unchanged"
    );
    assert_eq!(kernel_set(&mut f, &SetList::Deny), ["10.9.9.131 +3600"]);
}

#[test]
fn a_shorter_deny_keeps_the_longer_one_and_says_so() {
    let mut f = fixture();
    apply_change(
        &mut f.store,
        &mut f.kernel,
        &entry(Kind::Deny, "198.51.100.7", Some(3600)),
        NOW,
    )
    .unwrap();
    let out = apply_change(
        &mut f.store,
        &mut f.kernel,
        &entry(Kind::Deny, "198.51.100.7", Some(300)),
        NOW,
    )
    .unwrap();
    let (action, e) = out.added.unwrap();
    assert!(matches!(action, AddAction::Kept { .. }));
    assert_eq!(e.expires, Some(NOW + 3600));
    assert_eq!(out.plan.counts(), (0, 0), "nothing to send");
}

#[test]
fn remove_and_unblock_take_entries_out_of_every_list_named() {
    let mut f = fixture();
    for c in [
        entry(Kind::Allow, "192.0.2.10", None),
        entry(Kind::Ignore, "192.0.2.10", None),
        entry(Kind::Deny, "198.51.100.0/24", None),
        entry(Kind::Deny, "198.51.100.7", Some(60)),
        entry(Kind::Deny, "198.51.100.0/16", None),
    ] {
        apply_change(&mut f.store, &mut f.kernel, &c, NOW).unwrap();
    }
    let out = apply_change(
        &mut f.store,
        &mut f.kernel,
        &Change::Remove {
            kinds: vec![Kind::Allow, Kind::Ignore],
            target: net("192.0.2.10"),
            removal: Removal::default(),
        },
        NOW,
    )
    .unwrap();
    assert_eq!(out.removed.len(), 2);
    assert!(kernel_set(&mut f, &SetList::Allow).is_empty());
    let out = apply_change(
        &mut f.store,
        &mut f.kernel,
        &Change::Unblock {
            target: net("198.51.100.0/24"),
            removal: Removal::default(),
        },
        NOW,
    )
    .unwrap();
    let removed: Vec<String> = out.removed.iter().map(|e| e.target.to_string()).collect();
    assert_eq!(removed, ["198.51.100.0/24", "198.51.100.7"]);
    assert_eq!(out.still_blocking.len(), 1, "the /16 still covers it");
    assert_eq!(kernel_set(&mut f, &SetList::Deny), ["198.51.0.0/16"]);
}

#[test]
fn the_mirror_bans_kernel_first_and_resyncs_after_another_writer() {
    let mut f = fixture();
    let mut m = Mirror::load(&mut f.store, &mut f.kernel, NOW).unwrap();
    m.ban(
        &mut f.kernel,
        &[(net("198.51.100.131"), Some(NOW + 3600))],
        NOW,
    )
    .unwrap();
    assert_eq!(kernel_set(&mut f, &SetList::Deny), ["198.51.100.131 +3600"]);
    assert_eq!(m.pending(), 1);
    // another process (a second connection) writes to the store directly
    let mut other = Store::open(f.store.path()).unwrap();
    other
        .add(&NewEntry::new(
            Kind::Deny,
            net("198.51.100.128/25"),
            Origin::Manual,
            "manual",
            NOW,
            Some(NOW + 300),
        ))
        .unwrap();
    assert!(m.is_stale(&f.store).unwrap());
    m.resync(&mut f.store, &mut f.kernel, NOW).unwrap();
    assert!(!m.is_stale(&f.store).unwrap());
    assert_eq!(
        kernel_set(&mut f, &SetList::Deny),
        [
            "198.51.100.128-198.51.100.130 +300",
            "198.51.100.131 +3600",
            "198.51.100.132-198.51.100.255 +300"
        ],
        "the pending ban stays while the store's entry is added"
    );
    // an overlapping detector ban: no collision
    m.ban(
        &mut f.kernel,
        &[(net("198.51.100.0/24"), Some(NOW + 60))],
        NOW,
    )
    .unwrap();
    assert_eq!(
        kernel_set(&mut f, &SetList::Deny)[0],
        "198.51.100.0/25 +60",
        "the new ban fills only what is not covered longer"
    );
    assert_eq!(kernel_set(&mut f, &SetList::Deny).len(), 4);
    let seg = Segment::of_net(net("198.51.100.0/24"), Expiry::At(NOW + 60));
    assert!(seg.contains("198.51.100.1".parse().unwrap()));
}

/// Batches of bans (distinct hosts, neighbours with equal and different
/// expiries, repeats, networks over earlier hosts, IPv4 and IPv6): after
/// each batch the kernel holds exactly the union a full recomputation
/// gives, whether the mirror took its insert-only path or recomputed.
#[test]
fn the_mirror_kernel_matches_a_full_recomputation_after_every_batch() {
    let mut f = fixture();
    let mut m = Mirror::load(&mut f.store, &mut f.kernel, NOW).unwrap();
    let mut all: Vec<Segment> = Vec::new();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..300 {
        let n = 1 + (next() % 8) as usize;
        let batch: Vec<(Net, Option<i64>)> = (0..n)
            .map(|_| {
                let r = next();
                let host = (r >> 8) % 64;
                let target = match r % 4 {
                    0 => format!("198.51.100.{host}"),
                    1 => format!("2001:db8:0:{host:x}::/64"),
                    2 => format!("198.51.100.{}/30", host & !3),
                    _ => format!("203.0.113.{}", (r >> 16) % 256),
                };
                let expiry = (r >> 24) % 3 == 0;
                (
                    net(&target),
                    (!expiry).then_some(NOW + 60 * (1 + (r >> 32) as i64 % 3)),
                )
            })
            .collect();
        m.ban(&mut f.kernel, &batch, NOW).unwrap();
        all.extend(
            batch
                .iter()
                .map(|&(n, e)| Segment::of_net(n, Expiry::from_option(e))),
        );
        let want: Vec<Segment> = segments(&all, NOW);
        let got = f
            .kernel
            .read(&SetList::Deny, NOW)
            .unwrap()
            .unwrap_or_default();
        assert_eq!(got, want);
    }
}
