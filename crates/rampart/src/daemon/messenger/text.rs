//! Protocol messages on the mail and FTP ports: a phone's mail app never
//! shows a web page, but it shows the server's error text. One line the
//! protocol defines as a refusal, naming the reason, the reference and the
//! page, then the connection closes:
//!
//! - SMTP (25, 587; 465 over TLS): `554 5.7.1 …`
//! - POP3 (110; 995): `-ERR …`
//! - IMAP (143; 993): `* BYE …`
//! - FTP (21; 990): `421 …`
//!
//! The port the client asked for is the connection's original destination
//! before the kernel's redirect (`SO_ORIGINAL_DST`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rampart_core::config::messenger::{TextPort, TextProto};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::Shared;
use super::i18n::{fill, text};

const CONNECTION_TIME: Duration = Duration::from_secs(10);

/// Accepts connections until the runtime ends.
pub async fn serve(listener: TcpListener, sh: Arc<Shared>) {
    loop {
        let (stream, peer, slot) = sh.next_admitted(&listener).await;
        let sh = Arc::clone(&sh);
        tokio::spawn(async move {
            let _ = tokio::time::timeout(CONNECTION_TIME, answer(stream, peer, sh)).await;
            drop(slot);
        });
    }
}

/// One connection: find what was asked for and who asks, say it, close.
async fn answer(stream: TcpStream, peer: SocketAddr, sh: Arc<Shared>) {
    let Some(dst) = original_destination(&stream) else {
        return;
    };
    let Some(port) = sh.cfg.text_port_for(dst.port()) else {
        return;
    };
    let s = Arc::clone(&sh);
    let view = tokio::task::spawn_blocking(move || s.view(peer.ip()))
        .await
        .ok()
        .flatten();
    let Some(b) = view.as_ref().and_then(|v| v.headline()) else {
        return;
    };
    let (_, t) = sh.catalogue.pick(None);
    let url = sh
        .cfg
        .page_url
        .clone()
        .unwrap_or_else(|| default_url(dst.ip()));
    let address = peer.ip().to_string();
    let body = fill(
        text(t, "text_blocked"),
        &[
            ("address", &address),
            ("reason", &b.title),
            ("reference", &b.reference),
            ("url", &url),
        ],
    );
    let line = reply(port, &body);
    sh.stats.texts.fetch_add(1, Ordering::Relaxed);
    if !port.tls {
        return say(stream, &line).await;
    }
    if let Some(acceptor) = &sh.tls
        && let Ok(s) = acceptor.accept(stream).await
    {
        say(s, &line).await;
    }
}

async fn say<S: AsyncWrite + Unpin>(mut s: S, line: &str) {
    let _ = s.write_all(line.as_bytes()).await;
    let _ = s.shutdown().await;
}

/// The protocol's refusal line (control characters in `body` dropped).
pub fn reply(port: TextPort, body: &str) -> String {
    let body: String = body.chars().filter(|c| !c.is_control()).collect();
    match port.proto {
        TextProto::Smtp => format!("554 5.7.1 {body}\r\n"),
        TextProto::Pop3 => format!("-ERR {body}\r\n"),
        TextProto::Imap => format!("* BYE {body}\r\n"),
        TextProto::Ftp => format!("421 {body}\r\n"),
    }
}

fn default_url(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => format!("http://{a}/"),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => format!("http://{v4}/"),
            None => format!("http://[{a}]/"),
        },
    }
}

/// Where the client connected to before the kernel's redirect.
fn original_destination(s: &TcpStream) -> Option<SocketAddr> {
    use rustix::net::sockopt;
    match s.local_addr().ok()? {
        SocketAddr::V6(l) if l.ip().to_ipv4_mapped().is_none() => {
            sockopt::ipv6_original_dst(s).ok().map(SocketAddr::V6)
        }
        _ => sockopt::ip_original_dst(s).ok().map(SocketAddr::V4),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_protocol_refuses_in_its_own_words() {
        let p = |port| TextPort::known(port).expect("known");
        assert_eq!(reply(p(25), "blocked"), "554 5.7.1 blocked\r\n");
        assert_eq!(reply(p(995), "blocked"), "-ERR blocked\r\n");
        assert_eq!(reply(p(143), "blocked"), "* BYE blocked\r\n");
        assert_eq!(reply(p(21), "a\r\nb"), "421 ab\r\n");
        assert_eq!(
            default_url("2001:db8::1".parse().expect("ip")),
            "http://[2001:db8::1]/"
        );
    }
}
