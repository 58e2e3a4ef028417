//! A CI system as the tests need one: signed webhook deliveries over HTTP/1.1 (TLS with the
//! cluster CA and no client certificate, as GitHub or GitLab connect), written by hand so a
//! test controls every byte: the headers, a body that does not match its signature, a
//! declared length that is never sent.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::security::Security;

/// How long a delivery may take, end to end.
const TIMEOUT: Duration = Duration::from_secs(30);

/// `sha256=<hex>` of `body` with `secret`: GitHub's `X-Hub-Signature-256`.
pub fn github_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

/// A GitHub push payload for `clone_url`, `git_ref` and `after`.
pub fn github_push(clone_url: &str, git_ref: &str, after: &str) -> Vec<u8> {
    serde_json::json!({
        "ref": git_ref,
        "before": "0000000000000000000000000000000000000000",
        "after": after,
        "repository": { "full_name": "acme/blueprints", "clone_url": clone_url },
        "pusher": { "name": "ci" },
    })
    .to_string()
    .into_bytes()
}

/// The headers of a GitHub `event` delivery `id` of `body`, signed with `secret`.
pub fn github_headers(event: &str, id: &str, secret: &str, body: &[u8]) -> Vec<(String, String)> {
    vec![
        ("Content-Type".into(), "application/json".into()),
        ("X-GitHub-Event".into(), event.into()),
        ("X-GitHub-Delivery".into(), id.into()),
        ("X-Hub-Signature-256".into(), github_signature(secret, body)),
        ("User-Agent".into(), "GitHub-Hookshot/test".into()),
    ]
}

/// The answer to a delivery.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// The status line and headers.
    pub head: String,
    pub body: String,
}

impl Answer {
    /// The body as JSON (null when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// Posts to member `addr` (`host:port`) over HTTP/1.1.
pub struct HookClient {
    addr: String,
    tls: Option<tokio_rustls::TlsConnector>,
}

/// A connection to a member (TCP, or TLS over TCP).
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

impl HookClient {
    pub fn new(addr: &str, security: &Security) -> Result<HookClient> {
        let tls = match security.bundle() {
            None => None,
            Some(b) => {
                let roots = moor_tls::files::roots(&b.ca)?;
                let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()?
                .with_root_certificates(roots)
                .with_no_client_auth();
                let mut config = config;
                config.alpn_protocols = vec![b"http/1.1".to_vec()];
                Some(tokio_rustls::TlsConnector::from(Arc::new(config)))
            }
        };
        Ok(HookClient {
            addr: addr.to_string(),
            tls,
        })
    }

    async fn open(&self) -> Result<Box<dyn Stream>> {
        let tcp = TcpStream::connect(&self.addr)
            .await
            .with_context(|| format!("connect {}", self.addr))?;
        tcp.set_nodelay(true)?;
        match &self.tls {
            None => Ok(Box::new(tcp)),
            Some(tls) => {
                let host = self
                    .addr
                    .rsplit_once(':')
                    .map(|(h, _)| h)
                    .unwrap_or(&self.addr);
                let name = rustls::pki_types::ServerName::try_from(host.to_string())?;
                Ok(Box::new(tls.connect(name, tcp).await?))
            }
        }
    }

    /// POSTs `body` to `path` with `headers` (Content-Length is added).
    pub async fn post(
        &self,
        path: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Answer> {
        tokio::time::timeout(TIMEOUT, async {
            let mut s = self.open().await?;
            s.write_all(&head(path, headers, body.len() as u64)).await?;
            s.write_all(body).await?;
            s.flush().await?;
            read_answer(&mut s).await
        })
        .await
        .context("the delivery timed out")?
    }

    /// GETs `path` (e.g. `/metrics`).
    pub async fn get(&self, path: &str) -> Result<Answer> {
        self.get_with(path, &[]).await
    }

    /// GETs `path` with `headers`.
    pub async fn get_with(&self, path: &str, headers: &[(String, String)]) -> Result<Answer> {
        tokio::time::timeout(TIMEOUT, async {
            let mut s = self.open().await?;
            let mut head = format!("GET {path} HTTP/1.1\r\nHost: moor\r\nConnection: close\r\n");
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            s.write_all(head.as_bytes()).await?;
            s.flush().await?;
            read_answer(&mut s).await
        })
        .await
        .context("no answer")?
    }

    /// GETs `path` with `headers` and reads until `needle` has arrived (a stream that never
    /// ends, such as server-sent events); the head and what was read.
    pub async fn get_until(
        &self,
        path: &str,
        headers: &[(String, String)],
        needle: &str,
        timeout: Duration,
    ) -> Result<Answer> {
        tokio::time::timeout(timeout, async {
            let mut s = self.open().await?;
            let mut head = format!("GET {path} HTTP/1.1\r\nHost: moor\r\n");
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            s.write_all(head.as_bytes()).await?;
            s.flush().await?;
            let mut raw = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = s.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                raw.extend_from_slice(&buf[..n]);
                if String::from_utf8_lossy(&raw).contains(needle) {
                    break;
                }
            }
            let text = String::from_utf8_lossy(&raw).to_string();
            let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
            let status = head
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            Ok(Answer {
                status,
                head: head.to_string(),
                body: body.to_string(),
            })
        })
        .await
        .context("the stream did not say what was expected in time")?
    }

    /// Opens a GET of `path` and returns the connection once the head has arrived, for
    /// tests that hold many streams open.
    pub async fn open_stream(
        &self,
        path: &str,
        headers: &[(String, String)],
    ) -> Result<(u16, Box<dyn Stream>)> {
        let mut s = self.open().await?;
        let mut head = format!("GET {path} HTTP/1.1\r\nHost: moor\r\n");
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).await?;
        s.flush().await?;
        let mut raw = Vec::new();
        let mut byte = [0u8; 1];
        while !raw.ends_with(b"\r\n\r\n") {
            if s.read(&mut byte).await? == 0 {
                break;
            }
            raw.push(byte[0]);
        }
        let status = String::from_utf8_lossy(&raw)
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Ok((status, Box::new(s)))
    }

    /// POSTs to `path` declaring a body of `declared` bytes but sending only the headers:
    /// the answer must come without the body (a cap checked before reading).
    pub async fn post_declared(
        &self,
        path: &str,
        headers: &[(String, String)],
        declared: u64,
    ) -> Result<Answer> {
        tokio::time::timeout(TIMEOUT, async {
            let mut s = self.open().await?;
            s.write_all(&head(path, headers, declared)).await?;
            s.flush().await?;
            read_answer(&mut s).await
        })
        .await
        .context("no answer without the body")?
    }
}

fn head(path: &str, headers: &[(String, String)], len: u64) -> Vec<u8> {
    let mut h = format!(
        "POST {path} HTTP/1.1\r\nHost: moor\r\nConnection: close\r\nContent-Length: {len}\r\n"
    );
    for (k, v) in headers {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str("\r\n");
    h.into_bytes()
}

async fn read_answer(s: &mut Box<dyn Stream>) -> Result<Answer> {
    let mut raw = Vec::new();
    // The server closes after the answer (Connection: close); a TLS close without
    // close_notify still leaves the whole answer read.
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(_) if !raw.is_empty() => break,
            Err(e) => return Err(e.into()),
        }
        if answer_complete(&raw) {
            break;
        }
    }
    let text = String::from_utf8_lossy(&raw).to_string();
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        bail!("not an HTTP answer: {text:?}");
    };
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no status in {head:?}"))?;
    Ok(Answer {
        status,
        head: head.to_string(),
        body: body.to_string(),
    })
}

/// True once the headers and Content-Length bytes of body have arrived.
fn answer_complete(raw: &[u8]) -> bool {
    let text = String::from_utf8_lossy(raw);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())
                .flatten()
        })
        .is_some_and(|n| body.len() >= n)
}
