//! What travels between nodes: a [`Decision`] (ban or unban, with its
//! origin node, reason, summary, expiry and a short evidence digest),
//! serialised as JSON and signed with the node's ed25519 key.
//!
//! On the wire a message is a JSON envelope `{"d": DECISION, "k": KEY,
//! "s": SIG}`: `d` is the decision's JSON *as a string* (the signed bytes,
//! never re-serialised before verification), `k` the signer's public key
//! and `s` the signature of `d`, both in standard base64. The expiry is
//! inside the signed text, so a replayed old decision is harmless.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use rampart_core::addr::Net;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

/// The format version in every decision.
pub const VERSION: u8 = 1;
/// Evidence lines carried (the digest), and their length.
const EVIDENCE_LINES: usize = 3;
const EVIDENCE_CHARS: usize = 240;

/// Ban or unban.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// Block the target.
    Ban,
    /// Lift it.
    Unban,
}

/// One node's decision about one address or network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// [`VERSION`].
    pub v: u8,
    /// Ban or unban.
    pub op: Op,
    /// The deciding node's name.
    pub node: String,
    /// The address or network (canonical text).
    pub target: String,
    /// The reason code (`sshd`, ...; `unblock` for unbans).
    pub reason: String,
    /// The rule that triggered.
    #[serde(default)]
    pub rule: String,
    /// The node's CSF-style summary.
    #[serde(default)]
    pub summary: String,
    /// A few evidence lines, shortened.
    #[serde(default)]
    pub evidence: Vec<String>,
    /// When it was decided, Unix milliseconds.
    pub decided_ms: i64,
    /// When the ban ends, Unix seconds; `None`: permanent (or an unban).
    pub expires: Option<i64>,
}

impl Decision {
    /// The target, when it parses.
    pub fn net(&self) -> Option<Net> {
        Net::parse(&self.target)
    }

    /// JetStream's de-duplication id: the same decision published twice
    /// (an outbox retry after a lost acknowledgement) is stored once.
    pub fn msg_id(&self) -> String {
        let op = match self.op {
            Op::Ban => "b",
            Op::Unban => "u",
        };
        format!("{}.{}.{}.{op}", self.node, self.target, self.decided_ms)
    }
}

/// The evidence digest: the first few lines, each shortened.
pub fn digest(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .take(EVIDENCE_LINES)
        .map(|l| l.chars().take(EVIDENCE_CHARS).collect())
        .collect()
}

/// The subject of a target: one per address or network, so the stream
/// (one message per subject) holds each target's latest decision.
/// `203.0.113.5/32` → `PREFIX.addr.203-0-113-5_32`.
pub fn subject(prefix: &str, target: Net) -> String {
    let a = target.addr.to_string().replace(['.', ':'], "-");
    format!("{prefix}.addr.{a}_{}", target.prefix)
}

/// The subjects' wildcard: every target's.
pub fn all_subjects(prefix: &str) -> String {
    format!("{prefix}.addr.>")
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    d: String,
    k: String,
    s: String,
}

/// Signs `d` with `key`: the message bytes.
pub fn seal(d: &Decision, key: &SigningKey) -> Vec<u8> {
    let text = serde_json::to_string(d).unwrap_or_default();
    let sig = key.sign(text.as_bytes());
    let env = Envelope {
        k: B64.encode(key.verifying_key().as_bytes()),
        s: B64.encode(sig.to_bytes()),
        d: text,
    };
    serde_json::to_vec(&env).unwrap_or_default()
}

/// Why a message was not believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// Not an envelope, or the decision does not parse.
    Malformed,
    /// Signed by a key not in `trusted_keys`.
    Untrusted,
    /// The signature does not match.
    BadSignature,
}

/// The public keys whose decisions are believed, each decompressed once
/// (a point decompression costs as much as a tenth of a verification).
#[derive(Debug, Clone, Default)]
pub struct Trusted(HashMap<[u8; 32], VerifyingKey>);

/// A message whose envelope parsed and whose signer is trusted, before
/// its signature is checked.
struct Sealed {
    text: String,
    sig: Signature,
    key: VerifyingKey,
}

impl Sealed {
    /// The decision inside, once the signature has been checked.
    fn decision(self) -> Result<Decision, Rejected> {
        let d: Decision = serde_json::from_str(&self.text).map_err(|_| Rejected::Malformed)?;
        if d.v != VERSION || d.net().is_none() {
            return Err(Rejected::Malformed);
        }
        Ok(d)
    }

    fn verify(&self) -> Result<(), Rejected> {
        self.key
            .verify(self.text.as_bytes(), &self.sig)
            .map_err(|_| Rejected::BadSignature)
    }
}

impl Trusted {
    /// From base64 keys; the bad ones are returned for an error message.
    pub fn new(keys: &[String]) -> Result<Trusted, String> {
        let mut map = HashMap::new();
        for k in keys {
            let raw = public_key(k).ok_or_else(|| format!("not an ed25519 public key: {k:?}"))?;
            map.insert(raw.to_bytes(), raw);
        }
        Ok(Trusted(map))
    }

    /// Verifies messages, in order: each one's decision, if a trusted key
    /// signed it. The signatures of trusted signers are checked together
    /// (ed25519 batch verification, about half the cost of one by one from
    /// eight messages on); when the batch fails, each is checked alone to
    /// find the bad ones.
    pub fn open_all<'m>(
        &self,
        msgs: impl IntoIterator<Item = &'m [u8]>,
    ) -> Vec<Result<Decision, Rejected>> {
        let unsealed: Vec<Result<Sealed, Rejected>> =
            msgs.into_iter().map(|m| self.unseal(m)).collect();
        let sealed: Vec<&Sealed> = unsealed.iter().filter_map(|s| s.as_ref().ok()).collect();
        let all_good = sealed.len() > 1 && verify_together(&sealed);
        unsealed
            .into_iter()
            .map(|s| {
                let s = s?;
                if !all_good {
                    s.verify()?;
                }
                s.decision()
            })
            .collect()
    }

    /// The envelope parsed, its signer looked up; the signature not checked.
    fn unseal(&self, msg: &[u8]) -> Result<Sealed, Rejected> {
        let env: Envelope = serde_json::from_slice(msg).map_err(|_| Rejected::Malformed)?;
        let raw = raw_key(&env.k).ok_or(Rejected::Malformed)?;
        let key = *self.0.get(&raw).ok_or(Rejected::Untrusted)?;
        let sig = B64
            .decode(&env.s)
            .ok()
            .and_then(|b| Signature::from_slice(&b).ok())
            .ok_or(Rejected::Malformed)?;
        Ok(Sealed {
            text: env.d,
            sig,
            key,
        })
    }
}

/// One batch verification of every message in `sealed`.
fn verify_together(sealed: &[&Sealed]) -> bool {
    let texts: Vec<&[u8]> = sealed.iter().map(|s| s.text.as_bytes()).collect();
    let sigs: Vec<Signature> = sealed.iter().map(|s| s.sig).collect();
    let keys: Vec<VerifyingKey> = sealed.iter().map(|s| s.key).collect();
    ed25519_dalek::verify_batch(&texts, &sigs, &keys).is_ok()
}

fn raw_key(b64: &str) -> Option<[u8; 32]> {
    B64.decode(b64.trim()).ok()?.try_into().ok()
}

fn public_key(b64: &str) -> Option<VerifyingKey> {
    VerifyingKey::from_bytes(&raw_key(b64)?).ok()
}

/// A key's public half, as `trusted_keys` lists it.
pub fn public_b64(key: &SigningKey) -> String {
    B64.encode(key.verifying_key().as_bytes())
}

/// Key-file trouble.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or writing it.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// Not a key.
    #[error(
        "{0}: not a Rampart fleet key (expected the base64 seed `rampart fleet keygen` writes)"
    )]
    Malformed(String),
    /// Readable by others.
    #[error("{0}: readable by group or others (mode {1:o}); chmod 600 it")]
    Exposed(String, u32),
}

/// Reads a key file (a base64 seed), refusing one others can read.
pub fn load_key(path: &Path) -> Result<SigningKey, KeyError> {
    let shown = path.display().to_string();
    let io = |source| KeyError::Io {
        path: shown.clone(),
        source,
    };
    let mode = std::fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::Exposed(shown, mode));
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    let seed: [u8; 32] = B64
        .decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| KeyError::Malformed(shown.clone()))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Writes a new key (mode 0600; an existing file is kept unless
/// `replace`); returns it.
pub fn keygen(path: &Path, replace: bool) -> Result<SigningKey, KeyError> {
    let shown = path.display().to_string();
    let io = |source| KeyError::Io {
        path: shown.clone(),
        source,
    };
    let mut seed = [0u8; 32];
    std::io::Read::read_exact(
        &mut std::fs::File::open("/dev/urandom").map_err(io)?,
        &mut seed,
    )
    .map_err(io)?;
    let key = SigningKey::from_bytes(&seed);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).mode(0o600);
    if replace {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    let mut f = opts.open(path).map_err(io)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(io)?;
    writeln!(f, "{}", B64.encode(seed)).map_err(io)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    fn decision() -> Decision {
        Decision {
            v: VERSION,
            op: Op::Ban,
            node: "web2".into(),
            target: "203.0.113.5".into(),
            reason: "smtpauth".into(),
            rule: "smtpauth.dovecot".into(),
            summary: "(smtpauth) Failed SMTP AUTH login from 203.0.113.5: 5 in the last 3600 secs"
                .into(),
            evidence: vec!["x".into()],
            decided_ms: 1_700_000_000_000,
            expires: Some(1_700_003_600),
        }
    }

    impl Trusted {
        fn open(&self, msg: &[u8]) -> Result<Decision, Rejected> {
            self.open_all([msg]).remove(0)
        }
    }

    #[test]
    fn only_trusted_keys_with_valid_signatures_are_believed() {
        let good = key(1);
        let trusted = Trusted::new(&[public_b64(&good)]).unwrap();
        let msg = seal(&decision(), &good);
        assert_eq!(trusted.open(&msg), Ok(decision()));
        assert_eq!(
            trusted.open(&seal(&decision(), &key(2))),
            Err(Rejected::Untrusted)
        );
        // the decision altered after signing (a longer ban, another target)
        let text = String::from_utf8(msg)
            .unwrap()
            .replace("203.0.113.5", "203.0.113.6");
        assert_eq!(trusted.open(text.as_bytes()), Err(Rejected::BadSignature));
        assert_eq!(trusted.open(b"{}"), Err(Rejected::Malformed));
    }

    #[test]
    fn a_batch_is_opened_in_order_and_a_bad_signature_in_it_is_found() {
        let good = key(1);
        let trusted = Trusted::new(&[public_b64(&good)]).unwrap();
        let at = |n: u8| {
            let mut d = decision();
            d.target = format!("203.0.113.{n}");
            d
        };
        let sealed: Vec<Vec<u8>> = (1..=9).map(|n| seal(&at(n), &good)).collect();
        let all: Vec<&[u8]> = sealed.iter().map(|m| &m[..]).collect();
        let want: Vec<_> = (1..=9).map(|n| Ok(at(n))).collect();
        assert_eq!(trusted.open_all(all.iter().copied()), want);

        let tampered = String::from_utf8(sealed[4].clone())
            .unwrap()
            .replace("203.0.113.5", "203.0.113.50");
        let stranger = seal(&at(6), &key(2));
        let mut mixed = all.clone();
        mixed[4] = tampered.as_bytes();
        mixed[5] = &stranger;
        mixed[6] = b"not json";
        let got = trusted.open_all(mixed.iter().copied());
        assert_eq!(got[4], Err(Rejected::BadSignature));
        assert_eq!(got[5], Err(Rejected::Untrusted));
        assert_eq!(got[6], Err(Rejected::Malformed));
        for i in [0, 1, 2, 3, 7, 8] {
            assert_eq!(got[i], want[i], "message {i}");
        }
    }

    #[test]
    fn subjects_are_one_per_target_and_valid() {
        let s = subject("rampart.fleet", Net::parse("2001:db8::1").unwrap());
        assert_eq!(s, "rampart.fleet.addr.2001-db8--1_128");
        let s = subject("p", Net::parse("198.51.100.0/24").unwrap());
        assert_eq!(s, "p.addr.198-51-100-0_24");
    }

    #[test]
    fn keygen_writes_a_private_file_that_loads() {
        let dir = std::env::temp_dir().join(format!("rampart-key-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("sub/fleet.key");
        let k = keygen(&path, false).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(load_key(&path).unwrap().to_bytes(), k.to_bytes());
        assert!(keygen(&path, false).is_err(), "an existing key is kept");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(load_key(&path), Err(KeyError::Exposed(..))));
        let _ = std::fs::remove_dir_all(dir);
    }
}
