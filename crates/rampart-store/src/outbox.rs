//! The fleet's outbox: signed decisions waiting for NATS, in publication
//! order. The daemon's fleet sink writes here only while NATS is
//! unreachable (or refuses a publication), so a restart loses nothing it
//! decided meanwhile; it is bounded (the oldest go first, counted) because
//! a node cut off for days must not fill its disk.

use crate::error::Result;
use crate::store::Store;
use rusqlite::{TransactionBehavior, params};

/// One queued publication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    /// Its place in the queue.
    pub id: i64,
    /// The NATS subject.
    pub subject: String,
    /// JetStream's de-duplication id.
    pub msg_id: String,
    /// The signed decision.
    pub payload: Vec<u8>,
}

impl Store {
    /// Appends `items` (subject, message id, payload), then drops the
    /// oldest beyond `max`; returns how many were dropped.
    pub fn outbox_push(
        &mut self,
        items: &[(String, String, Vec<u8>)],
        max: u64,
        now: i64,
    ) -> Result<u64> {
        let ctx = &self.ctx;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(ctx.err("starting a write"))?;
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT INTO fleet_outbox (subject, msg_id, payload, created) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(ctx.err("queueing fleet decisions"))?;
            for (subject, msg_id, payload) in items {
                st.execute(params![subject, msg_id, payload, now])
                    .map_err(ctx.err("queueing fleet decisions"))?;
            }
        }
        let dropped = tx
            .execute(
                "DELETE FROM fleet_outbox WHERE id <= (SELECT MAX(id) FROM fleet_outbox) - ?1",
                params![max as i64],
            )
            .map_err(ctx.err("bounding the fleet outbox"))?;
        tx.commit().map_err(ctx.err("committing fleet decisions"))?;
        Ok(dropped as u64)
    }

    /// The oldest `limit` queued publications.
    pub fn outbox_peek(&self, limit: usize) -> Result<Vec<Queued>> {
        let ctx = &self.ctx;
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT id, subject, msg_id, payload FROM fleet_outbox ORDER BY id LIMIT ?1",
            )
            .map_err(ctx.err("reading the fleet outbox"))?;
        let rows = st
            .query_map(params![limit as i64], |r| {
                Ok(Queued {
                    id: r.get(0)?,
                    subject: r.get(1)?,
                    msg_id: r.get(2)?,
                    payload: r.get(3)?,
                })
            })
            .map_err(ctx.err("reading the fleet outbox"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(ctx.err("reading the fleet outbox"))
    }

    /// Removes publications up to and including `id` (they were acknowledged).
    pub fn outbox_remove_through(&mut self, id: i64) -> Result<()> {
        let ctx = &self.ctx;
        self.conn
            .execute("DELETE FROM fleet_outbox WHERE id <= ?1", params![id])
            .map_err(ctx.err("trimming the fleet outbox"))?;
        Ok(())
    }

    /// How many publications are queued.
    pub fn outbox_len(&self) -> Result<u64> {
        let ctx = &self.ctx;
        self.conn
            .query_row("SELECT COUNT(*) FROM fleet_outbox", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as u64)
            .map_err(ctx.err("counting the fleet outbox"))
    }
}

#[cfg(test)]
mod tests {
    use crate::Store;

    #[test]
    fn bounded_in_order_and_durable() {
        let dir = std::env::temp_dir().join(format!("rampart-outbox-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.db");
        let item = |i: u32| (format!("s.{i}"), format!("m{i}"), vec![i as u8]);
        {
            let mut s = Store::open(&path).unwrap();
            let batch: Vec<_> = (0..5).map(item).collect();
            assert_eq!(s.outbox_push(&batch, 3, 0).unwrap(), 2, "the two oldest go");
        }
        let mut s = Store::open(&path).unwrap();
        assert_eq!(s.outbox_len().unwrap(), 3, "kept across a reopen");
        let q = s.outbox_peek(2).unwrap();
        assert_eq!(
            q.iter().map(|q| q.msg_id.as_str()).collect::<Vec<_>>(),
            ["m2", "m3"]
        );
        s.outbox_remove_through(q[1].id).unwrap();
        assert_eq!(s.outbox_peek(10).unwrap()[0].payload, vec![4]);
        let _ = std::fs::remove_dir_all(dir);
    }
}
