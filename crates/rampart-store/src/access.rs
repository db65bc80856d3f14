//! Who may use the daemon's HTTP side: API tokens and console users.
//!
//! The store keeps only what verifies a secret, never the secret: a
//! token's SHA-256 (tokens are 256 random bits, so a fast hash is enough
//! and makes lookup by hash possible) and a console password's argon2id
//! PHC string (people choose passwords, so the hash must be slow). The
//! hashing itself is the caller's (the daemon's web module); the store is
//! storage only.

use crate::error::{Error, Result};
use crate::store::Store;
use rusqlite::{OptionalExtension, params};

/// What an API token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Read state: status, lists, why, rules, metrics.
    Read,
    /// Read, and change lists (deny, allow, ignore, unblock).
    Write,
}

impl Scope {
    /// `read` or `write`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
        }
    }

    /// Parses `read` or `write`.
    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            _ => None,
        }
    }
}

/// An API token as the store lists it (without any secret).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenInfo {
    /// Its label.
    pub name: String,
    /// What it may do.
    pub scope: Scope,
    /// When it was created (Unix seconds).
    pub created: i64,
}

/// A console user as the store lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UserInfo {
    /// The login name.
    pub name: String,
    /// When it was created (Unix seconds).
    pub created: i64,
}

fn scope_of(s: String) -> rusqlite::Result<Scope> {
    Scope::parse(&s).ok_or(rusqlite::Error::InvalidQuery)
}

impl Store {
    /// Adds a token by the hash of its secret; `false` when the name is taken.
    pub fn token_add(&mut self, name: &str, scope: Scope, hash: &str, now: i64) -> Result<bool> {
        let n = self
            .conn
            .execute(
                "INSERT INTO api_tokens (name, scope, hash, created) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                params![name, scope.as_str(), hash, now],
            )
            .map_err(self.ctx.err("adding an API token"))?;
        Ok(n == 1)
    }

    /// Every token, by name.
    pub fn tokens(&self) -> Result<Vec<TokenInfo>> {
        let ctx = &self.ctx;
        let mut st = self
            .conn
            .prepare_cached("SELECT name, scope, created FROM api_tokens ORDER BY name")
            .map_err(ctx.err("listing API tokens"))?;
        let rows = st
            .query_map([], |r| {
                Ok(TokenInfo {
                    name: r.get(0)?,
                    scope: scope_of(r.get(1)?)?,
                    created: r.get(2)?,
                })
            })
            .map_err(ctx.err("listing API tokens"))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(ctx.err("listing API tokens"))
    }

    /// The token whose secret hashes to `hash`, if any.
    pub fn token_by_hash(&self, hash: &str) -> Result<Option<TokenInfo>> {
        self.conn
            .query_row(
                "SELECT name, scope, created FROM api_tokens WHERE hash = ?1",
                params![hash],
                |r| {
                    Ok(TokenInfo {
                        name: r.get(0)?,
                        scope: scope_of(r.get(1)?)?,
                        created: r.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(self.ctx.err("looking up an API token"))
    }

    /// Removes a token; `false` when there was none by that name.
    pub fn token_remove(&mut self, name: &str) -> Result<bool> {
        let n = self
            .conn
            .execute("DELETE FROM api_tokens WHERE name = ?1", params![name])
            .map_err(self.ctx.err("removing an API token"))?;
        Ok(n == 1)
    }

    /// Adds a console user, or sets the password of an existing one;
    /// `true` when the user is new.
    pub fn user_set(&mut self, name: &str, phc: &str, now: i64) -> Result<bool> {
        if name.is_empty() || phc.is_empty() {
            return Err(Error::Invalid {
                target: name.to_string(),
                what: "a console user needs a name and a password hash".into(),
            });
        }
        let existed = self.user_password(name)?.is_some();
        self.conn
            .execute(
                "INSERT INTO console_users (name, password, created) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET password = excluded.password",
                params![name, phc, now],
            )
            .map_err(self.ctx.err("saving a console user"))?;
        Ok(!existed)
    }

    /// A user's argon2 PHC string, if the user exists.
    pub fn user_password(&self, name: &str) -> Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT password FROM console_users WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.ctx.err("looking up a console user"))
    }

    /// Every console user, by name.
    pub fn users(&self) -> Result<Vec<UserInfo>> {
        let ctx = &self.ctx;
        let mut st = self
            .conn
            .prepare_cached("SELECT name, created FROM console_users ORDER BY name")
            .map_err(ctx.err("listing console users"))?;
        let rows = st
            .query_map([], |r| {
                Ok(UserInfo {
                    name: r.get(0)?,
                    created: r.get(1)?,
                })
            })
            .map_err(ctx.err("listing console users"))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(ctx.err("listing console users"))
    }

    /// Removes a console user; `false` when there was none by that name.
    pub fn user_remove(&mut self, name: &str) -> Result<bool> {
        let n = self
            .conn
            .execute("DELETE FROM console_users WHERE name = ?1", params![name])
            .map_err(self.ctx.err("removing a console user"))?;
        Ok(n == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_users_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path().join("r.db")).unwrap();
        assert!(s.token_add("grafana", Scope::Read, "aa", 10).unwrap());
        assert!(
            !s.token_add("grafana", Scope::Write, "bb", 11).unwrap(),
            "names are unique"
        );
        let t = s.token_by_hash("aa").unwrap().unwrap();
        assert_eq!(
            (t.name.as_str(), t.scope, t.created),
            ("grafana", Scope::Read, 10)
        );
        assert!(s.token_by_hash("bb").unwrap().is_none());
        assert_eq!(s.tokens().unwrap().len(), 1);
        assert!(s.token_remove("grafana").unwrap());
        assert!(!s.token_remove("grafana").unwrap());

        assert!(s.user_set("admin", "$argon2id$x", 5).unwrap());
        assert!(
            !s.user_set("admin", "$argon2id$y", 6).unwrap(),
            "a new password, same user"
        );
        assert_eq!(
            s.user_password("admin").unwrap().as_deref(),
            Some("$argon2id$y")
        );
        assert_eq!(s.users().unwrap()[0].created, 5);
        assert!(s.user_set("", "x", 1).is_err());
        assert!(s.user_remove("admin").unwrap());
        assert!(s.user_password("admin").unwrap().is_none());
    }
}
