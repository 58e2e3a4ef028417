//! Who a certificate names. The rules, one place:
//!
//! - A member's certificate carries the DNS name `member-<id>.moor` (see [`member_dns_name`]):
//!   peers dial each other with that server name, and a member's peer listener reads the id
//!   of the caller from it. Other names on the same certificate (host names, IPs) serve
//!   clients on the client listener.
//! - A user's (or CI system's) client certificate names the user in its subject's Common Name
//!   and its roles in the subject's Organization entries, as Kubernetes does.

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// The DNS name a member's certificate carries, and the server name peers dial it with.
pub fn member_dns_name(id: u64) -> String {
    format!("member-{id}.moor")
}

/// The member ids a certificate names (`member-<id>.moor` DNS names); empty for a
/// certificate that is not a member's, or that cannot be parsed.
pub fn member_id_of(cert_der: &[u8]) -> Vec<u64> {
    let Ok((_, cert)) = X509Certificate::from_der(cert_der) else {
        return Vec::new();
    };
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(d) => d
                .strip_prefix("member-")
                .and_then(|rest| rest.strip_suffix(".moor"))
                .and_then(|id| id.parse::<u64>().ok()),
            _ => None,
        })
        .collect()
}

/// The subject of a client certificate: its Common Name and Organization entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSubject {
    pub common_name: String,
    pub organizations: Vec<String>,
}

/// The subject of a certificate; None when it cannot be parsed or has no Common Name.
pub fn subject_of(cert_der: &[u8]) -> Option<CertSubject> {
    let (_, cert) = X509Certificate::from_der(cert_der).ok()?;
    let subject = cert.subject();
    let common_name = subject
        .iter_common_name()
        .find_map(|a| a.as_str().ok())?
        .to_string();
    let organizations = subject
        .iter_organization()
        .filter_map(|a| a.as_str().ok().map(str::to_string))
        .collect();
    Some(CertSubject {
        common_name,
        organizations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dev::DevCa;

    #[test]
    fn reads_member_ids_and_subjects() {
        let ca = DevCa::new().unwrap();
        let m = ca
            .member(7, &["localhost".into(), "127.0.0.1".into()])
            .unwrap();
        assert_eq!(member_id_of(m.cert_der()), vec![7]);
        let s = subject_of(m.cert_der()).unwrap();
        assert_eq!(s.common_name, "member-7");
        assert!(s.organizations.is_empty());

        let u = ca.client("alice", &["operator"]).unwrap();
        assert!(member_id_of(u.cert_der()).is_empty());
        let s = subject_of(u.cert_der()).unwrap();
        assert_eq!(s.common_name, "alice");
        assert_eq!(s.organizations, vec!["operator".to_string()]);

        assert!(member_id_of(b"garbage").is_empty());
        assert!(subject_of(b"garbage").is_none());
    }
}
