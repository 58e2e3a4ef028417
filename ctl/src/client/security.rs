//! [`Security`]: how every call is protected: the transport (TLS, or plaintext only when
//! asked for) and the bearer token sent with every request.
//!
//! The token is secret: [`Token`] has no `Display`, its `Debug` shows no part of it, and the
//! errors made while reading one never quote it. It reaches the wire in one place only, the
//! request built by [`Client::call_from`](super::Client::call_from), as a sensitive
//! `authorization` header.

use std::fmt;
use std::path::PathBuf;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use super::status::flatten;

/// Longest token accepted: far above any token a member issues, far below an HTTP/2 header
/// limit.
const MAX_TOKEN_BYTES: usize = 4096;

/// A bearer token. Its text is never shown: not by `Debug`, not in any error.
#[derive(Clone)]
pub struct Token {
    header: MetadataValue<Ascii>,
}

/// Why a text is not a usable token (never quoting it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    Empty,
    TooLong(usize),
    /// A character that cannot be sent in a header (control, space, non-ASCII), at this
    /// position (counted from 1).
    BadCharacter(usize),
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::Empty => f.write_str("the token is empty"),
            TokenError::TooLong(n) => write!(
                f,
                "the token is {n} bytes long, more than the {MAX_TOKEN_BYTES} a token can be"
            ),
            TokenError::BadCharacter(at) => write!(
                f,
                "the token has a space, control or non-ASCII character at position {at}; a \
                 token is one line of printable ASCII"
            ),
        }
    }
}

impl std::error::Error for TokenError {}

impl Token {
    /// A token from `text`, surrounding whitespace (a file's final newline) removed.
    pub fn new(text: &str) -> Result<Token, TokenError> {
        let t = text.trim();
        if t.is_empty() {
            return Err(TokenError::Empty);
        }
        if t.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLong(t.len()));
        }
        if let Some(at) = t.chars().position(|c| !c.is_ascii_graphic()) {
            return Err(TokenError::BadCharacter(at + 1));
        }
        let mut header = MetadataValue::try_from(format!("Bearer {t}"))
            .map_err(|_| TokenError::BadCharacter(1))?;
        // Kept out of any debug output of the request, and of HPACK's compression table.
        header.set_sensitive(true);
        Ok(Token { header })
    }

    /// The `authorization` header value: `Bearer <token>`.
    pub(super) fn header(&self) -> &MetadataValue<Ascii> {
        &self.header
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<hidden>)")
    }
}

/// TLS settings: the CA that signs the members' certificates, an optional client
/// certificate, an optional name to check the members' certificates against.
#[derive(Clone)]
pub struct Tls {
    config: ClientTlsConfig,
    /// Where the CA came from, for messages.
    pub ca_file: PathBuf,
    /// Where the client certificate came from, for messages.
    pub cert_file: Option<PathBuf>,
    /// The name checked instead of each endpoint's host.
    pub server_name: Option<String>,
}

impl Tls {
    /// TLS that trusts the CA certificates in `ca_pem` (read from `ca_file`), presents the
    /// client certificate `identity` (certificate and key PEM, read from `cert_file`) if
    /// any, and checks the members' certificates against `server_name` instead of each
    /// endpoint's host, if given. Fails when the PEM is not usable.
    pub fn new(
        ca_file: PathBuf,
        ca_pem: &[u8],
        identity: Option<(PathBuf, Vec<u8>, Vec<u8>)>,
        server_name: Option<String>,
    ) -> Result<Tls, String> {
        check_ca(ca_pem)?;
        let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca_pem));
        let mut cert_file = None;
        if let Some((file, cert, key)) = identity {
            config = config.identity(Identity::from_pem(cert, key));
            cert_file = Some(file);
        }
        if let Some(name) = &server_name {
            config = config.domain_name(name.clone());
        }
        // Build the TLS client once now, so a bad certificate or key is reported before
        // anything is sent (tonic parses them only when it makes a connection).
        Endpoint::from_static("https://localhost")
            .tls_config(config.clone())
            .map_err(|e| flatten(&e))?;
        Ok(Tls {
            config,
            ca_file,
            cert_file,
            server_name,
        })
    }

    pub(super) fn config(&self) -> &ClientTlsConfig {
        &self.config
    }
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the config: tonic's `Identity` prints the private key.
        f.debug_struct("Tls")
            .field("ca_file", &self.ca_file)
            .field("cert_file", &self.cert_file)
            .field("server_name", &self.server_name)
            .finish()
    }
}

/// Checks that `pem` holds at least one usable CA certificate (tonic skips what it cannot
/// parse, which would leave nothing to trust and fail every handshake later, less clearly).
fn check_ca(pem: &[u8]) -> Result<(), String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("not PEM: {e}"))?;
    if certs.is_empty() {
        return Err("no certificate in it (expected PEM: -----BEGIN CERTIFICATE-----)".into());
    }
    let (valid, _) = RootCertStore::empty().add_parsable_certificates(certs);
    if valid == 0 {
        return Err("none of its certificates can be used as a CA".into());
    }
    Ok(())
}

/// How the connections are made.
#[derive(Debug, Clone)]
pub enum Transport {
    /// Clear text, only with `--insecure-plaintext`: anyone on the path reads and changes
    /// every request, the token included.
    Plaintext,
    Tls(Box<Tls>),
}

/// The transport and the credentials of every call.
#[derive(Debug, Clone)]
pub struct Security {
    pub transport: Transport,
    pub token: Option<Token>,
}

impl Security {
    /// Plaintext without credentials (a member started without TLS and authentication, in
    /// tests and development).
    pub fn plaintext() -> Security {
        Security {
            transport: Transport::Plaintext,
            token: None,
        }
    }

    /// The URI scheme of the transport.
    pub(super) fn scheme(&self) -> &'static str {
        match self.transport {
            Transport::Plaintext => "http",
            Transport::Tls(_) => "https",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "mt_abc123.s3cr3t-VALUE";

    #[test]
    fn a_token_is_never_shown() {
        let t = Token::new(&format!("{SECRET}\n")).unwrap();
        assert_eq!(t.header().to_str().unwrap(), format!("Bearer {SECRET}"));
        assert!(t.header().is_sensitive());
        let s = Security {
            transport: Transport::Plaintext,
            token: Some(t),
        };
        let debug = format!("{s:?} {s:#?}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
        assert!(debug.contains("Token(<hidden>)"), "{debug}");
    }

    #[test]
    fn bad_tokens_are_refused_without_quoting_them() {
        assert_eq!(Token::new(" \n").unwrap_err(), TokenError::Empty);
        let e = Token::new("ab s3cr3t").unwrap_err();
        assert_eq!(e, TokenError::BadCharacter(3));
        assert!(!e.to_string().contains("s3cr3t"), "{e}");
        let e = Token::new("s3cr3t\u{e9}").unwrap_err();
        assert!(!e.to_string().contains("s3cr3t"), "{e}");
        let long = "x".repeat(MAX_TOKEN_BYTES + 1);
        assert!(matches!(Token::new(&long), Err(TokenError::TooLong(_))));
    }

    #[test]
    fn unusable_pem_is_refused_before_any_call() {
        let e = Tls::new("ca.pem".into(), b"not a certificate", None, None).unwrap_err();
        assert!(!e.is_empty());
    }
}
