//! PEM files into rustls values; every error names the file and what was wrong with it.

use std::path::Path;

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A TLS file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot read {what} {path}: {reason}")]
    Read {
        what: &'static str,
        path: String,
        reason: String,
    },
    #[error("{what} {path} holds no PEM {expected}: check the file is the {what} and PEM-encoded")]
    Empty {
        what: &'static str,
        path: String,
        expected: &'static str,
    },
    #[error("{what} {path}: {reason}")]
    Invalid {
        what: &'static str,
        path: String,
        reason: String,
    },
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, FileError> {
    std::fs::read(path).map_err(|e| FileError::Read {
        what,
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// Every certificate in a PEM file (a leaf first, then its chain).
pub fn certs(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, FileError> {
    let pem = read(what, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| FileError::Invalid {
            what,
            path: path.display().to_string(),
            reason: format!("not a valid PEM certificate: {e}"),
        })?;
    if certs.is_empty() {
        return Err(FileError::Empty {
            what,
            path: path.display().to_string(),
            expected: "CERTIFICATE block",
        });
    }
    Ok(certs)
}

/// The private key in a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn key(path: &Path) -> Result<PrivateKeyDer<'static>, FileError> {
    let what = "private key";
    let pem = read(what, path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => FileError::Empty {
            what,
            path: path.display().to_string(),
            expected: "PRIVATE KEY block",
        },
        e => FileError::Invalid {
            what,
            path: path.display().to_string(),
            reason: format!("not a valid PEM private key: {e}"),
        },
    })
}

/// The CA certificates in a PEM file, as a root store.
pub fn roots(path: &Path) -> Result<RootCertStore, FileError> {
    let what = "CA bundle";
    let mut store = RootCertStore::empty();
    for cert in certs(what, path)? {
        store.add(cert).map_err(|e| FileError::Invalid {
            what,
            path: path.display().to_string(),
            reason: format!("not a usable CA certificate: {e}"),
        })?;
    }
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let e = certs("certificate", &missing).unwrap_err().to_string();
        assert!(e.contains("nope.pem") && e.contains("certificate"), "{e}");

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "hello\n").unwrap();
        let e = certs("certificate", &empty).unwrap_err().to_string();
        assert!(e.contains("empty.pem") && e.contains("no PEM"), "{e}");
        let e = key(&empty).unwrap_err().to_string();
        assert!(e.contains("empty.pem") && e.contains("PRIVATE KEY"), "{e}");
        let e = roots(&empty).unwrap_err().to_string();
        assert!(e.contains("empty.pem"), "{e}");
    }
}
