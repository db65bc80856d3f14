//! Aggregates for the console's overview: the deny entries in force in
//! brief (no evidence), and the deny decisions of a period counted per
//! time bucket and reason.
//!
//! A *decision* is one deny record: an entry in force or a history record
//! (expired, unblocked, replaced, ...), dated by its `created` time. A ban
//! that was later extended counts twice, once per decision, which is what
//! a timeline of "bans made" should show.

use crate::error::Result;
use crate::store::Store;
use rampart_core::addr::Net;
use rampart_core::time::Timestamp;
use rusqlite::params;

/// A deny entry in force, without its evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenyBrief {
    /// The address or network denied.
    pub target: Net,
    /// Its reason code.
    pub reason: String,
    /// The rule that triggered it (detector bans).
    pub rule: Option<String>,
    /// Its country, when known.
    pub country: Option<String>,
}

/// Deny decisions made in one time bucket for one reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketCount {
    /// The bucket's number: 0 is the one starting at `since`.
    pub bucket: u32,
    /// The reason code.
    pub reason: String,
    /// How many decisions.
    pub count: u64,
}

impl Store {
    /// The deny entries in force at `now`, in id order (entries whose
    /// target no longer parses are skipped).
    pub fn deny_brief(&self, now: Timestamp) -> Result<Vec<DenyBrief>> {
        let err = self.ctx.err("reading the deny entries");
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT target, reason, rule, country FROM entries \
                 WHERE kind = 'deny' AND (expires IS NULL OR expires > ?1) ORDER BY id",
            )
            .map_err(&err)?;
        let rows = stmt
            .query_map([now], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })
            .map_err(&err)?;
        let mut out = Vec::new();
        for row in rows {
            let (target, reason, rule, country) = row.map_err(&err)?;
            if let Some(target) = Net::parse(&target) {
                out.push(DenyBrief {
                    target,
                    reason,
                    rule,
                    country,
                });
            }
        }
        Ok(out)
    }

    /// Deny decisions made from `since` on, counted per bucket of
    /// `bucket_secs` (> 0) and reason, in bucket then reason order.
    pub fn deny_timeline(&self, since: Timestamp, bucket_secs: i64) -> Result<Vec<BucketCount>> {
        let err = self.ctx.err("counting the deny decisions");
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT (created - ?1) / ?2 AS b, reason, count(*) FROM ( \
                   SELECT created, reason FROM entries WHERE kind = 'deny' AND created >= ?1 \
                   UNION ALL \
                   SELECT created, reason FROM history WHERE kind = 'deny' AND created >= ?1 \
                 ) GROUP BY b, reason ORDER BY b, reason",
            )
            .map_err(&err)?;
        let rows = stmt
            .query_map(params![since, bucket_secs.max(1)], |r| {
                Ok(BucketCount {
                    bucket: u32::try_from(r.get::<_, i64>(0)?).unwrap_or(u32::MAX),
                    reason: r.get(1)?,
                    count: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                })
            })
            .map_err(&err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Kind, NewEntry, Origin, Removal, Store};
    use rampart_core::addr::Net;

    fn deny(store: &mut Store, target: &str, reason: &str, at: i64) {
        let net = Net::parse(target).unwrap();
        let e = NewEntry::new(
            Kind::Deny,
            net,
            Origin::Detector,
            reason,
            at,
            Some(at + 3600),
        );
        store.add(&e).unwrap();
    }

    #[test]
    fn the_timeline_counts_entries_and_history_per_bucket_and_reason() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path().join("s.db")).unwrap();
        deny(&mut s, "198.51.100.1", "sshd", 1000);
        deny(&mut s, "198.51.100.2", "sshd", 1100);
        deny(&mut s, "198.51.100.3", "smtp", 4700);
        deny(&mut s, "198.51.100.4", "sshd", 10);
        let net = Net::parse("198.51.100.2").unwrap();
        s.unblock(net, &Removal::by("test", None), 1200).unwrap();
        let t = s.deny_timeline(900, 3600).unwrap();
        let got: Vec<(u32, &str, u64)> = t
            .iter()
            .map(|b| (b.bucket, b.reason.as_str(), b.count))
            .collect();
        assert_eq!(got, vec![(0, "sshd", 2), (1, "smtp", 1)]);
        let now = s.deny_brief(1300).unwrap();
        let targets: Vec<String> = now.iter().map(|d| d.target.to_string()).collect();
        assert_eq!(targets, ["198.51.100.1", "198.51.100.3", "198.51.100.4"]);
        assert_eq!(now[1].reason, "smtp");
    }
}
