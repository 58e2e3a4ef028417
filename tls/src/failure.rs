//! Why a TLS connection failed, read out of whatever error a call returned (a tonic `Status`,
//! a transport error, an `io::Error`), so a caller can say it in words an operator acts on
//! ("the site's certificate is not from our CA", "the site refused our certificate") and know
//! whether the server can have seen a request at all.
//!
//! Where the rustls error is still a value in the chain it is matched as one. A refusal by the
//! server arrives as a TLS alert on the first read; by then hyper and h2 have turned the
//! rustls error into text, so that case is read from rustls's own wording
//! (`received fatal alert: <Alert>`).

use std::error::Error;
use std::fmt;

/// A TLS failure, from the dialling side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsFailure {
    /// The server's certificate does not chain to a CA this process trusts (unknown issuer).
    UnknownServerCa,
    /// The server's certificate does not name the host it was dialled at.
    NameMismatch { detail: String },
    /// The server's certificate has expired or is not valid yet.
    ServerCertificateExpired,
    /// Another problem with the server's certificate.
    BadServerCertificate { detail: String },
    /// The server refused this process's certificate in the handshake: `alert` is the alert
    /// it sent (`UnknownCA`: another CA; `CertificateRequired`: none was sent;
    /// `BadCertificate`, `CertificateExpired`, `AccessDenied`, ...).
    CertificateRefused { alert: String },
    /// Any other TLS error, possibly after the handshake.
    Other { detail: String },
}

impl TlsFailure {
    /// True when the connection failed in the TLS handshake, so the server cannot have
    /// processed anything sent on it: a TLS server hands no application data to its
    /// application before the handshake completes, and these failures end the handshake.
    pub fn in_handshake(&self) -> bool {
        !matches!(self, TlsFailure::Other { .. })
    }
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsFailure::UnknownServerCa => write!(
                f,
                "the server's certificate is not signed by the CA this process trusts (unknown issuer): check both sides use the same CA bundle"
            ),
            TlsFailure::NameMismatch { detail } => write!(
                f,
                "the server's certificate does not name the host it was dialled at ({detail}): reissue it for that name or dial the name it carries"
            ),
            TlsFailure::ServerCertificateExpired => write!(
                f,
                "the server's certificate has expired or is not valid yet"
            ),
            TlsFailure::BadServerCertificate { detail } => {
                write!(f, "the server's certificate cannot be used: {detail}")
            }
            TlsFailure::CertificateRefused { alert } => {
                let why = match alert.as_str() {
                    "UnknownCA" => "it is not signed by the server's CA",
                    "CertificateRequired" => "none was presented",
                    "CertificateExpired" => "it has expired",
                    "BadCertificate" | "UnsupportedCertificate" => {
                        "it is not usable as a client certificate"
                    }
                    "CertificateRevoked" => "it was revoked",
                    _ => "see the alert",
                };
                write!(
                    f,
                    "the server refused this process's certificate in the handshake ({why}; alert {alert})"
                )
            }
            TlsFailure::Other { detail } => write!(f, "TLS error: {detail}"),
        }
    }
}

/// Alerts a server sends when it refuses the client's certificate during the handshake.
const REFUSAL_ALERTS: &[&str] = &[
    "BadCertificate",
    "UnsupportedCertificate",
    "CertificateRevoked",
    "CertificateExpired",
    "CertificateUnknown",
    "UnknownCA",
    "AccessDenied",
    "CertificateRequired",
];

fn from_rustls(e: &rustls::Error) -> TlsFailure {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => TlsFailure::UnknownServerCa,
            C::NotValidForName | C::NotValidForNameContext { .. } => TlsFailure::NameMismatch {
                detail: e.to_string(),
            },
            C::Expired
            | C::ExpiredContext { .. }
            | C::NotValidYet
            | C::NotValidYetContext { .. } => TlsFailure::ServerCertificateExpired,
            _ => TlsFailure::BadServerCertificate {
                detail: e.to_string(),
            },
        },
        rustls::Error::AlertReceived(alert) => from_alert(&format!("{alert:?}"), e.to_string()),
        _ => TlsFailure::Other {
            detail: e.to_string(),
        },
    }
}

fn from_alert(alert: &str, detail: String) -> TlsFailure {
    if REFUSAL_ALERTS.contains(&alert) {
        TlsFailure::CertificateRefused {
            alert: alert.to_string(),
        }
    } else {
        TlsFailure::Other { detail }
    }
}

/// rustls's wording, for errors that only survive as text (see the module docs).
fn from_text(text: &str) -> Option<TlsFailure> {
    if let Some(rest) = text.split("received fatal alert: ").nth(1) {
        let alert: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        return Some(from_alert(&alert, text.to_string()));
    }
    if text.contains("invalid peer certificate: ") {
        return Some(if text.contains("UnknownIssuer") {
            TlsFailure::UnknownServerCa
        } else if text.contains("not valid for name") || text.contains("NotValidForName") {
            TlsFailure::NameMismatch {
                detail: text.to_string(),
            }
        } else if text.contains("xpired") || text.contains("NotValidYet") {
            TlsFailure::ServerCertificateExpired
        } else {
            TlsFailure::BadServerCertificate {
                detail: text.to_string(),
            }
        });
    }
    None
}

/// The TLS failure somewhere in `err`'s chain of causes, if there is one.
pub fn tls_failure(err: &(dyn Error + 'static)) -> Option<TlsFailure> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return Some(from_rustls(r));
        }
        // `io::Error::source` skips the error it wraps: look inside it.
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            if let Some(found) = tls_failure(inner) {
                return Some(found);
            }
        }
        if e.source().is_none() {
            // A status without a cause came over the wire from the server: its words are the
            // server's, not our TLS stack's.
            if e.is::<tonic::Status>() {
                return None;
            }
            return from_text(&e.to_string());
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rustls_values_and_text() {
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert_eq!(tls_failure(&io), Some(TlsFailure::UnknownServerCa));

        let text = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "received fatal alert: CertificateRequired",
        );
        let f = tls_failure(&text).unwrap();
        assert_eq!(
            f,
            TlsFailure::CertificateRefused {
                alert: "CertificateRequired".into()
            }
        );
        assert!(f.in_handshake());
        assert!(f.to_string().contains("none was presented"), "{f}");

        let other = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "received fatal alert: DecodeError",
        );
        assert!(!tls_failure(&other).unwrap().in_handshake());

        let plain = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(tls_failure(&plain), None);

        let from_server = tonic::Status::permission_denied("received fatal alert: UnknownCA");
        assert_eq!(tls_failure(&from_server), None);
    }
}
