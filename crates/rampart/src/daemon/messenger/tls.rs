//! Certificates for the page's HTTPS and the mail/FTP TLS ports, chosen by
//! the name the client asks for (SNI).
//!
//! Sources: `[messenger] certificates` (cert + key PEM files) and
//! `certificate_dirs`, each read in the layouts hosting servers have —
//! Let's Encrypt's `live/NAME/fullchain.pem` + `privkey.pem`, and cPanel's
//! `NAME/combined` (key, certificate and chain in one PEM file, as in
//! `/var/cpanel/ssl/apache_tls/`). A client that names no host, or one no
//! certificate is valid for, gets its handshake closed: a browser then
//! shows its own connection error, never a certificate warning page of
//! ours.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use rampart_core::config::MessengerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// The loaded certificates.
#[derive(Debug)]
pub struct SniResolver {
    certs: Vec<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = ServerName::try_from(hello.server_name()?).ok()?;
        self.certs.iter().find(|c| valid_for(c, &name)).cloned()
    }
}

fn valid_for(c: &CertifiedKey, name: &ServerName<'_>) -> bool {
    c.end_entity_cert()
        .ok()
        .and_then(|der| webpki::EndEntityCert::try_from(der).ok())
        .is_some_and(|ee| ee.verify_is_valid_for_subject_name(name).is_ok())
}

impl SniResolver {
    /// Loads every configured certificate; a file that cannot be read or
    /// parsed is an error (the daemon says which at start).
    pub fn load(cfg: &MessengerConfig) -> Result<SniResolver> {
        let mut certs = Vec::new();
        for c in &cfg.certificates {
            certs.push(pair(Path::new(&c.cert), Path::new(&c.key))?);
        }
        for d in &cfg.certificate_dirs {
            certs.extend(from_dir(Path::new(d))?);
        }
        Ok(SniResolver { certs })
    }

    /// How many certificates were loaded.
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// Whether none was.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// The server configuration using it.
    pub fn server_config(self: Arc<Self>) -> Result<Arc<rustls::ServerConfig>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(self);
        Ok(Arc::new(cfg))
    }
}

/// A certificate chain file and its key file.
fn pair(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("cannot read the certificate {}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read the key {}", key.display()))?;
    certified(chain, &key, cert)
}

/// A cPanel `combined` file: key and chain in one.
fn combined(path: &Path) -> Result<Arc<CertifiedKey>> {
    let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{}: bad certificate", path.display()))?;
    let key = PrivateKeyDer::from_pem_slice(&pem)
        .with_context(|| format!("{}: no private key", path.display()))?;
    certified(chain, &key, path)
}

fn certified(
    chain: Vec<CertificateDer<'static>>,
    key: &PrivateKeyDer<'_>,
    from: &Path,
) -> Result<Arc<CertifiedKey>> {
    if chain.is_empty() {
        bail!("{}: no certificate", from.display());
    }
    let signer = rustls::crypto::ring::sign::any_supported_type(key)
        .with_context(|| format!("{}: unsupported key", from.display()))?;
    Ok(Arc::new(CertifiedKey::new(chain, signer)))
}

/// Every `*/fullchain.pem` + `*/privkey.pem` or `*/combined` of `dir`.
fn from_dir(dir: &Path) -> Result<Vec<Arc<CertifiedKey>>> {
    let mut subdirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the certificate directory {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    subdirs.sort();
    let mut out = Vec::new();
    for d in subdirs {
        let (full, key, comb) = (
            d.join("fullchain.pem"),
            d.join("privkey.pem"),
            d.join("combined"),
        );
        if full.is_file() && key.is_file() {
            out.push(pair(&full, &key)?);
        } else if comb.is_file() {
            out.push(combined(&comb)?);
        }
    }
    Ok(out)
}
