//! `[api]`: the daemon's HTTP side for administrators — the API under
//! `/api/v1`, Prometheus metrics at `/metrics` and the console at `/`.
//!
//! It listens on loopback by default (reach it over an SSH tunnel). Any
//! other address carries passwords and tokens over the network, so it is
//! refused unless TLS is configured (`tls_cert` and `tls_key`): a
//! configuration error, not a warning. Only the shape of values is checked
//! here (the core reads no files); the daemon loads the certificate at
//! start.

use super::{Ctx, Val, join};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// `[api]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    /// Whether the daemon serves the API, metrics and console.
    pub enabled: bool,
    /// Where it listens (default `127.0.0.1:9767`).
    pub listen: SocketAddr,
    /// PEM certificate chain (TLS); required with `tls_key` for any
    /// non-loopback `listen`.
    pub tls_cert: Option<String>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<String>,
    /// A bearer token `/metrics` requires (Prometheus' `authorization`
    /// credentials). Without it `/metrics` is open on loopback and, off
    /// loopback, takes any API token with the read scope.
    pub metrics_token: Option<String>,
    /// How long a console session lasts without activity.
    pub session_idle_secs: u64,
}

/// The default address: loopback only.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9767);

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            enabled: true,
            listen: DEFAULT_LISTEN,
            tls_cert: None,
            tls_key: None,
            metrics_token: None,
            session_idle_secs: 8 * 3600,
        }
    }
}

impl ApiConfig {
    /// Whether TLS is configured.
    pub fn tls(&self) -> bool {
        self.tls_cert.is_some() && self.tls_key.is_some()
    }

    /// Whether only this host can reach the listener.
    pub fn loopback(&self) -> bool {
        self.listen.ip().is_loopback()
    }
}

/// Known keys of `[api]`.
pub(super) const API: &[&str] = &[
    "enabled",
    "listen",
    "tls_cert",
    "tls_key",
    "metrics_token",
    "session_idle",
];

/// Parses `[api]` (`v` is its table) into `a`.
pub(super) fn parse(cx: &mut Ctx<'_>, v: &Val<'_>, a: &mut ApiConfig) {
    let Some(t) = cx.table("api", v) else { return };
    let mut listen_at = v.span().start;
    for (k, v2) in t.iter() {
        let ks = k.get_ref().as_ref();
        let full = join("api", ks);
        let opt = |cx: &mut Ctx<'_>| cx.string(&full, v2).map(str::to_string);
        match ks {
            "enabled" => a.enabled = cx.boolean(&full, v2).unwrap_or(a.enabled),
            "listen" => {
                listen_at = v2.span().start;
                if let Some(s) = cx.string(&full, v2) {
                    match s.parse::<SocketAddr>() {
                        Ok(addr) => a.listen = addr,
                        Err(_) => {
                            let shown = cx.shown(v2);
                            cx.err(v2.span().start, &full, format!("bad value {shown}: expected an address and port, like \"127.0.0.1:9767\" or \"[::1]:9767\" (\"0.0.0.0:9767\" for every address, with TLS)"));
                        }
                    }
                }
            }
            "tls_cert" => a.tls_cert = opt(cx),
            "tls_key" => a.tls_key = opt(cx),
            "metrics_token" => {
                a.metrics_token = opt(cx);
                if a.metrics_token.as_ref().is_some_and(|t| t.len() < 16) {
                    cx.err(v2.span().start, &full, "bad value: a token of at least 16 characters is expected (e.g. `openssl rand -hex 24`)".into());
                }
            }
            "session_idle" => {
                if let Some(Some(n)) = cx.duration(&full, v2, false) {
                    a.session_idle_secs = n;
                }
            }
            _ => cx.unknown(k.span().start, "api", ks, API),
        }
    }
    check_tls(cx, v.span().start, listen_at, a);
}

/// TLS goes in pairs, and is required off loopback.
fn check_tls(cx: &mut Ctx<'_>, at: usize, listen_at: usize, a: &ApiConfig) {
    match (&a.tls_cert, &a.tls_key) {
        (Some(_), None) => cx.err(
            at,
            "api.tls_key",
            "missing: tls_cert needs tls_key (the certificate's private key, PEM)".into(),
        ),
        (None, Some(_)) => cx.err(
            at,
            "api.tls_cert",
            "missing: tls_key needs tls_cert (the certificate chain, PEM)".into(),
        ),
        _ => {}
    }
    if a.enabled && !a.loopback() && !a.tls() {
        cx.err(
            listen_at,
            "api.listen",
            format!("{} is reachable from the network: set tls_cert and tls_key (PEM files) to serve it over TLS, or listen on 127.0.0.1 and use an SSH tunnel", a.listen),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<ApiConfig, Vec<String>> {
        crate::config::parse(
            "rampart.toml",
            text,
            &[],
            &[],
            &crate::config::FixedZonesOnly,
        )
        .map(|c| c.api)
        .map_err(|ds| ds.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn defaults_listen_on_loopback() {
        let a = p("").unwrap();
        assert!(a.enabled && a.loopback() && !a.tls());
        assert_eq!(a.listen.to_string(), "127.0.0.1:9767");
    }

    #[test]
    fn a_network_address_needs_tls() {
        let e = p("[api]\nlisten = \"0.0.0.0:9767\"\n").unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("rampart.toml:2: api.listen: 0.0.0.0:9767 is reachable"),
            "{e:?}"
        );
        let ok = p(
            "[api]\nlisten = \"[::]:443\"\ntls_cert = \"/etc/c.pem\"\ntls_key = \"/etc/k.pem\"\n",
        )
        .unwrap();
        assert!(ok.tls() && !ok.loopback());
        // switched off, the address does not matter
        assert!(p("[api]\nenabled = false\nlisten = \"0.0.0.0:1\"\n").is_ok());
    }

    #[test]
    fn bad_values_are_reported_with_what_is_accepted() {
        let e = p("[api]\nlisten = \"localhost\"\ntls_cert = \"/c\"\nmetrics_token = \"short\"\nlisen = 1\n")
            .unwrap_err();
        let all = e.join("\n");
        assert!(
            all.contains("api.listen: bad value \"localhost\": expected an address and port"),
            "{all}"
        );
        assert!(all.contains("api.tls_key: missing"), "{all}");
        assert!(all.contains("api.metrics_token: bad value"), "{all}");
        assert!(
            all.contains("api.lisen: unknown key; did you mean `listen`?"),
            "{all}"
        );
    }
}
