//! E-mail: lettre's blocking SMTP client (STARTTLS or implicit TLS with
//! rustls, authentication, a timeout on every read and write), or the
//! local `sendmail` binary (run with a deadline and killed past it).
//!
//! Each message has a plain-text and an HTML part and an
//! `X-Rampart-Kind` header for mail filters.

use super::channel::{Deliver, Failure, Outgoing};
use lettre::Transport as _;
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message, MultiPart};
use lettre::transport::smtp::SmtpTransport;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use rampart_core::config::alerts::{EmailConfig, MailTransport, SmtpServer, StartTls};
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `X-Rampart-Kind: temp_ban`.
#[derive(Debug, Clone)]
struct KindHeader(String);

impl Header for KindHeader {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("X-Rampart-Kind")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(KindHeader(s.to_string()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

enum Way {
    Smtp(Box<SmtpTransport>),
    Sendmail(String),
}

/// The e-mail channel.
pub struct Mailer {
    way: Way,
    name: String,
    from: Mailbox,
    to: Vec<Mailbox>,
    timeout: Duration,
}

impl Mailer {
    /// Builds the transport (reads `ca_file`); nothing is connected yet.
    pub fn new(cfg: &EmailConfig, timeout: Duration) -> anyhow::Result<Mailer> {
        use anyhow::Context as _;
        let from: Mailbox = cfg
            .from
            .parse()
            .with_context(|| format!("alerts.email.from {:?}", cfg.from))?;
        let to = cfg
            .to
            .iter()
            .map(|t| t.parse().with_context(|| format!("alerts.email.to {t:?}")))
            .collect::<anyhow::Result<Vec<Mailbox>>>()?;
        let (way, name) = match &cfg.transport {
            MailTransport::Smtp(s) => {
                let scheme = if s.implicit_tls { "smtps" } else { "smtp" };
                let t = smtp(s, cfg.starttls, cfg.ca_file.as_deref(), timeout)?;
                (
                    Way::Smtp(Box::new(t)),
                    format!("email {scheme}://{}:{}", s.host, s.port),
                )
            }
            MailTransport::Sendmail(p) => (Way::Sendmail(p.clone()), format!("email sendmail {p}")),
        };
        Ok(Mailer {
            way,
            name,
            from,
            to,
            timeout,
        })
    }

    fn message(&self, msg: &Outgoing) -> Result<Message, Failure> {
        let r = &msg.rendered;
        let mut b = Message::builder()
            .from(self.from.clone())
            .subject(r.subject.clone())
            .message_id(None)
            .header(KindHeader(msg.kind.name().to_string()));
        for t in &self.to {
            b = b.to(t.clone());
        }
        b.multipart(MultiPart::alternative_plain_html(
            r.text.clone(),
            r.html.clone(),
        ))
        .map_err(|e| Failure::Permanent(format!("cannot build the message: {e}")))
    }
}

fn smtp(
    s: &SmtpServer,
    starttls: StartTls,
    ca_file: Option<&str>,
    timeout: Duration,
) -> anyhow::Result<SmtpTransport> {
    use anyhow::Context as _;
    let mut params = TlsParameters::builder(s.host.clone());
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).with_context(|| format!("alerts.email.ca_file {path}"))?;
        let cert =
            Certificate::from_pem(&pem).with_context(|| format!("alerts.email.ca_file {path}"))?;
        params = params.add_root_certificate(cert);
    }
    let params = params
        .build_rustls()
        .context("TLS set-up for alerts.email")?;
    let tls = match (s.implicit_tls, starttls) {
        (true, _) => Tls::Wrapper(params),
        (false, StartTls::Required) => Tls::Required(params),
        (false, StartTls::Opportunistic) => Tls::Opportunistic(params),
        (false, StartTls::Never) => Tls::None,
    };
    let mut b = SmtpTransport::builder_dangerous(s.host.as_str())
        .port(s.port)
        .tls(tls)
        .timeout(Some(timeout));
    if let Some(user) = &s.user {
        b = b.credentials(Credentials::new(
            user.clone(),
            s.password.clone().unwrap_or_default(),
        ));
    }
    Ok(b.build())
}

impl Deliver for Mailer {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn deliver(&mut self, msg: &Outgoing) -> Result<(), Failure> {
        let m = self.message(msg)?;
        match &self.way {
            Way::Smtp(t) => t.send(&m).map(|_| ()).map_err(|e| {
                let text = if timed_out(&e) {
                    format!("timed out after {}s ({e})", self.timeout.as_secs())
                } else {
                    e.to_string()
                };
                if e.is_permanent() {
                    Failure::Permanent(text)
                } else {
                    Failure::Transient(text)
                }
            }),
            Way::Sendmail(path) => {
                sendmail(path, &self.from, &self.to, &m.formatted(), self.timeout)
            }
        }
    }
}

/// Whether a socket read or write ran into its timeout (Linux reports
/// EAGAIN for a timed-out blocking socket).
fn timed_out(e: &lettre::transport::smtp::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            );
        }
        source = err.source();
    }
    false
}

/// `sendmail -i -f FROM -- TO...` with the message on standard input,
/// killed when it takes longer than `timeout`. Exit status 75 (EX_TEMPFAIL)
/// is worth a retry; other failures are not.
fn sendmail(
    path: &str,
    from: &Mailbox,
    to: &[Mailbox],
    msg: &[u8],
    timeout: Duration,
) -> Result<(), Failure> {
    let mut child = Command::new(path)
        .arg("-i")
        .arg("-f")
        .arg(&from.email)
        .arg("--")
        .args(to.iter().map(|t| t.email.to_string()))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Failure::Transient(format!("cannot run {path}: {e}")))?;
    // written from a helper thread: a sendmail that reads nothing must not
    // hold this one past the deadline
    let stdin = child.stdin.take();
    let body = msg.to_vec();
    let writer = std::thread::spawn(move || {
        if let Some(mut s) = stdin {
            let _ = s.write_all(&body);
        }
    });
    let t0 = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if t0.elapsed() < timeout => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = writer.join();
                return Err(Failure::Transient(format!(
                    "{path} did not finish within {}s",
                    timeout.as_secs()
                )));
            }
        }
    };
    let _ = writer.join();
    match status.code() {
        Some(0) => Ok(()),
        Some(75) => Err(Failure::Transient(format!(
            "{path}: temporary failure (exit 75)"
        ))),
        other => Err(Failure::Permanent(format!(
            "{path} failed ({})",
            other.map_or_else(|| "killed".to_string(), |c| format!("exit {c}"))
        ))),
    }
}
