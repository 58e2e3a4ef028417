//! Why a connection could not be made, said in terms of moorctl's settings: a TLS handshake
//! fails for a handful of reasons (a certificate signed by another CA, issued for another
//! name, a member without TLS, a client certificate missing or refused), and each has one
//! flag that fixes it. rustls says what failed; this says what to change.

use std::error::Error as StdError;

use rustls::{AlertDescription, CertificateError, Error as TlsError};

use super::security::{Security, Transport};

/// What to change after the connect error `err`, when it is a TLS failure (or a TLS member
/// reached in plaintext) that moorctl can name.
pub(super) fn explain(err: &(dyn StdError + 'static), security: &Security) -> Option<String> {
    let tls = match &security.transport {
        Transport::Tls(tls) => tls,
        Transport::Plaintext => return None,
    };
    let ca = tls.ca_file.display();
    let name_flag = "--tls-server-name (or the context's server_name)";
    let cause = find_tls_error(err)?;
    Some(match &cause {
        TlsError::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => format!(
                "TLS: the member's certificate is not signed by the CA in {ca}; give the CA \
                 that signed the members' certificates with --ca-file (MOOR_CA_FILE) or the \
                 context's ca_file"
            ),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                let checked = match &tls.server_name {
                    Some(n) => format!("the name {n:?} given by {name_flag}"),
                    None => "the endpoint's host".to_string(),
                };
                format!(
                    "TLS: the member's certificate is not issued for {checked}; connect by a \
                     name the certificate lists, or give that name with {name_flag}"
                )
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => "TLS: the member's certificate \
                 has expired or is not valid yet; renew it on the member, or check this \
                 machine's clock"
                .to_string(),
            other => format!("TLS: the member's certificate was refused: {other:?}"),
        },
        TlsError::InvalidMessage(_) | TlsError::InappropriateMessage { .. } => {
            "TLS: the member did not answer in TLS: it may run without TLS (then, and only on \
             a trusted network, use --insecure-plaintext), or this is not a member's client \
             address"
                .to_string()
        }
        TlsError::AlertReceived(alert) => match alert {
            AlertDescription::CertificateRequired | AlertDescription::HandshakeFailure
                if tls.cert_file.is_none() =>
            {
                "TLS: the member asks for a client certificate: give --cert-file and \
                 --key-file (or the context's cert_file and key_file)"
                    .to_string()
            }
            AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::AccessDenied
            | AlertDescription::CertificateExpired => {
                let cert = tls
                    .cert_file
                    .as_ref()
                    .map_or("the client certificate".to_string(), |c| {
                        c.display().to_string()
                    });
                format!(
                    "TLS: the member refused {cert} ({alert:?}): it must be signed by a CA \
                     the member trusts and be valid now (--cert-file / --key-file)"
                )
            }
            other => format!("TLS: the member ended the handshake: {other:?}"),
        },
        other => format!("TLS handshake failed: {other}"),
    })
}

/// The rustls error in `err`'s chain, looking inside I/O errors too (tokio-rustls wraps
/// rustls' error in one, whose `source()` skips it; for an alert that arrives after the
/// handshake, only its text is left, which is read back).
fn find_tls_error(err: &(dyn StdError + 'static)) -> Option<TlsError> {
    let mut next: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = next {
        if let Some(t) = e.downcast_ref::<TlsError>() {
            return Some(t.clone());
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(t) = io.get_ref().and_then(|i| i.downcast_ref::<TlsError>()) {
                return Some(t.clone());
            }
            if let Some(alert) = alert_in_text(&io.to_string()) {
                return Some(TlsError::AlertReceived(alert));
            }
        }
        next = e.source();
    }
    None
}

/// The alert in rustls' text `received fatal alert: NAME`, for the alerts moorctl explains.
fn alert_in_text(text: &str) -> Option<AlertDescription> {
    use AlertDescription as A;
    let name = text.strip_prefix("received fatal alert: ")?;
    let known = [
        A::CertificateRequired,
        A::HandshakeFailure,
        A::BadCertificate,
        A::UnknownCA,
        A::CertificateUnknown,
        A::AccessDenied,
        A::CertificateExpired,
    ];
    known.into_iter().find(|a| format!("{a:?}") == name)
}

/// True when `err` holds a TLS handshake failure: the member never read the request (with
/// TLS 1.3 a refused client certificate shows only on the first request, after the
/// handshake looked done to this side).
pub(super) fn failed_handshake(err: &(dyn StdError + 'static)) -> bool {
    matches!(
        find_tls_error(err),
        Some(
            TlsError::InvalidCertificate(_)
                | TlsError::InvalidMessage(_)
                | TlsError::InappropriateMessage { .. }
                | TlsError::AlertReceived(
                    AlertDescription::CertificateRequired
                        | AlertDescription::HandshakeFailure
                        | AlertDescription::BadCertificate
                        | AlertDescription::UnknownCA
                        | AlertDescription::CertificateUnknown
                        | AlertDescription::AccessDenied
                        | AlertDescription::CertificateExpired
                )
        )
    )
}

/// `detail` (a failed attempt as shown) with what to change: the TLS failure named, or,
/// when a plaintext connection broke, that the member may want TLS.
pub(super) fn with_hint(
    detail: String,
    err: &(dyn StdError + 'static),
    security: &Security,
) -> String {
    if let Some(why) = explain(err, security) {
        return format!("{why} ({detail})");
    }
    match security.transport {
        Transport::Plaintext if err.source().is_some() => format!(
            "{detail}; if the member runs with TLS, drop --insecure-plaintext (and the \
             context's insecure_plaintext) and give --ca-file"
        ),
        _ => detail,
    }
}
