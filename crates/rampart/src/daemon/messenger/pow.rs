//! The proof of work behind "unblock me": no third-party captcha, just a
//! small computation the visitor's browser does.
//!
//! The server hands out a challenge `v1.ADDRESS.EXPIRY.NONCE.MAC` (MAC: an
//! HMAC-SHA256 under a key made at start, so challenges cannot be forged
//! and are bound to the requester's address and a short expiry). The
//! browser finds a number `n` such that SHA-256(`CHALLENGE:n`) starts with
//! `difficulty` zero bits (about 2^difficulty hashes) and posts it. The
//! server checks MAC, address, expiry and the hash, and accepts each
//! challenge once (the used ones are remembered until they expire, in a
//! bounded table).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rampart_core::time::Timestamp;
use ring::hmac;

/// How long a challenge may be answered.
pub const TTL_SECS: i64 = 300;
/// Used challenges remembered at most (a full table refuses new answers).
const MAX_USED: usize = 100_000;

/// Why an answer was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Not a challenge of ours (bad shape or MAC).
    #[error("forged or malformed challenge")]
    Forged,
    /// Issued to another address.
    #[error("challenge issued to another address")]
    OtherAddress,
    /// Too old.
    #[error("challenge expired")]
    Expired,
    /// The hash does not have enough zero bits.
    #[error("wrong proof of work")]
    Wrong,
    /// Already used.
    #[error("challenge already used")]
    Replayed,
    /// Too many answers outstanding.
    #[error("too busy")]
    Busy,
}

/// Issues and checks challenges.
pub struct Pow {
    key: hmac::Key,
    difficulty: u8,
    used: Mutex<HashMap<String, Timestamp>>,
}

impl Pow {
    /// With a fresh random key.
    pub fn new(difficulty: u8) -> Pow {
        let rng = ring::rand::SystemRandom::new();
        #[allow(clippy::expect_used)]
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng).expect("the system's random source");
        Pow {
            key,
            difficulty,
            used: Mutex::new(HashMap::new()),
        }
    }

    /// Leading zero bits required.
    pub fn difficulty(&self) -> u8 {
        self.difficulty
    }

    /// A challenge for `ip`, valid until `now + TTL_SECS`.
    pub fn issue(&self, ip: IpAddr, now: Timestamp) -> String {
        let mut nonce = [0u8; 12];
        let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce);
        let body = format!(
            "v1.{}.{}.{}",
            B64.encode(ip.to_string()),
            now + TTL_SECS,
            B64.encode(nonce)
        );
        let mac = hmac::sign(&self.key, body.as_bytes());
        format!("{body}.{}", B64.encode(mac.as_ref()))
    }

    /// Checks an answer and marks the challenge used.
    pub fn verify(
        &self,
        challenge: &str,
        answer: &str,
        ip: IpAddr,
        now: Timestamp,
    ) -> Result<(), Refused> {
        let (body, mac) = challenge.rsplit_once('.').ok_or(Refused::Forged)?;
        let mac = B64.decode(mac).map_err(|_| Refused::Forged)?;
        hmac::verify(&self.key, body.as_bytes(), &mac).map_err(|_| Refused::Forged)?;
        let mut parts = body.split('.');
        let (_, addr, expiry) = (parts.next(), parts.next(), parts.next());
        let addr = addr
            .and_then(|a| B64.decode(a).ok())
            .ok_or(Refused::Forged)?;
        if addr != ip.to_string().as_bytes() {
            return Err(Refused::OtherAddress);
        }
        let expiry: Timestamp = expiry.and_then(|e| e.parse().ok()).ok_or(Refused::Forged)?;
        if now > expiry {
            return Err(Refused::Expired);
        }
        if answer.len() > 20
            || !answer.bytes().all(|b| b.is_ascii_digit())
            || !solves(challenge, answer, self.difficulty)
        {
            return Err(Refused::Wrong);
        }
        self.mark_used(challenge, expiry, now)
    }

    fn mark_used(&self, challenge: &str, expiry: Timestamp, now: Timestamp) -> Result<(), Refused> {
        let mut used = self
            .used
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if used.len() >= MAX_USED {
            used.retain(|_, e| *e >= now);
            if used.len() >= MAX_USED {
                return Err(Refused::Busy);
            }
        }
        match used.insert(challenge.to_string(), expiry) {
            Some(_) => Err(Refused::Replayed),
            None => Ok(()),
        }
    }
}

/// Whether SHA-256(`challenge:answer`) starts with `bits` zero bits.
pub fn solves(challenge: &str, answer: &str, bits: u8) -> bool {
    let d = ring::digest::digest(
        &ring::digest::SHA256,
        format!("{challenge}:{answer}").as_bytes(),
    );
    leading_zero_bits(d.as_ref()) >= u32::from(bits)
}

fn leading_zero_bits(b: &[u8]) -> u32 {
    let mut n = 0;
    for byte in b {
        if *byte == 0 {
            n += 8;
        } else {
            return n + byte.leading_zeros();
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solve(c: &str, bits: u8) -> String {
        (0u64..)
            .map(|n| n.to_string())
            .find(|n| solves(c, n, bits))
            .unwrap_or_default()
    }

    #[test]
    fn an_answer_counts_once_for_its_address_before_expiry() {
        let pow = Pow::new(8);
        let ip: IpAddr = "198.51.100.7".parse().expect("ip");
        let c = pow.issue(ip, 1000);
        let n = solve(&c, 8);
        let other: IpAddr = "198.51.100.8".parse().expect("ip");
        assert_eq!(pow.verify(&c, &n, other, 1001), Err(Refused::OtherAddress));
        assert_eq!(
            pow.verify(&c, &n, ip, 1000 + TTL_SECS + 1),
            Err(Refused::Expired)
        );
        let wrong = (0u64..)
            .map(|n| n.to_string())
            .find(|n| !solves(&c, n, 8))
            .unwrap_or_default();
        assert_eq!(pow.verify(&c, &wrong, ip, 1001), Err(Refused::Wrong));
        assert_eq!(pow.verify(&c, &n, ip, 1001), Ok(()));
        assert_eq!(pow.verify(&c, &n, ip, 1002), Err(Refused::Replayed));
    }

    #[test]
    fn forged_challenges_are_refused() {
        let pow = Pow::new(8);
        let ip: IpAddr = "2001:db8::7".parse().expect("ip");
        let c = pow.issue(ip, 1000);
        let forged = c.replace(&(1000 + TTL_SECS).to_string(), "99999999");
        let n = solve(&forged, 8);
        assert_eq!(pow.verify(&forged, &n, ip, 1001), Err(Refused::Forged));
        let foreign = Pow::new(8).issue(ip, 1000);
        let n = solve(&foreign, 8);
        assert_eq!(pow.verify(&foreign, &n, ip, 1001), Err(Refused::Forged));
        assert_eq!(pow.verify("garbage", "1", ip, 1001), Err(Refused::Forged));
    }

    #[test]
    fn zero_bits_are_counted() {
        assert_eq!(leading_zero_bits(&[0, 0, 0x10]), 19);
        assert_eq!(leading_zero_bits(&[0x80]), 0);
    }
}
