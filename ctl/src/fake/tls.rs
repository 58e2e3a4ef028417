//! Certificates for the fake member's TLS, made fresh by each test: a CA, a member
//! certificate for `localhost` and 127.0.0.1, a client certificate; and the PEM files
//! moorctl reads.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

/// A CA and what it signed, as PEM.
pub struct TestPki {
    pub ca: String,
    pub server_cert: String,
    pub server_key: String,
    pub client_cert: String,
    pub client_key: String,
}

fn ca(name: &str) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    (params.self_signed(&key).unwrap(), key)
}

fn leaf(names: &[&str], ca: &rcgen::Certificate, ca_key: &KeyPair) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let cert = CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, ca, ca_key)
        .unwrap();
    (cert.pem(), key.serialize_pem())
}

impl TestPki {
    /// A fresh CA named `name`, with a member certificate and a client certificate.
    pub fn new(name: &str) -> TestPki {
        let (ca_cert, ca_key) = ca(name);
        let (server_cert, server_key) = leaf(&["localhost", "127.0.0.1"], &ca_cert, &ca_key);
        let (client_cert, client_key) = leaf(&["moorctl-test"], &ca_cert, &ca_key);
        TestPki {
            ca: ca_cert.pem(),
            server_cert,
            server_key,
            client_cert,
            client_key,
        }
    }

    /// The member's TLS; with `require_client_cert`, it asks for a client certificate
    /// signed by this CA.
    pub fn server(&self, require_client_cert: bool) -> ServerTlsConfig {
        let tls = ServerTlsConfig::new()
            .identity(Identity::from_pem(&self.server_cert, &self.server_key));
        if require_client_cert {
            tls.client_ca_root(Certificate::from_pem(&self.ca))
        } else {
            tls
        }
    }
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}
