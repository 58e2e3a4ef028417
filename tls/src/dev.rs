//! A development CA and the certificates a local cluster needs, made with rcgen. For
//! `moord --dev`, the README demo and the tests; production installs bring their own PKI.
//!
//! Everything one CA signs is made in one process (rcgen signs with the CA's parameters in
//! memory), so [`write_bundle`] writes a whole set at once.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

use crate::identity::member_dns_name;

/// A certificate and its key, PEM-encoded.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    der: Vec<u8>,
}

impl Issued {
    /// The certificate, DER-encoded.
    pub fn cert_der(&self) -> &[u8] {
        &self.der
    }

    /// Writes `<dir>/<name>.pem` and `<dir>/<name>.key` (the key mode 0600).
    pub fn write(&self, dir: &Path, name: &str) -> std::io::Result<(PathBuf, PathBuf)> {
        let cert = dir.join(format!("{name}.pem"));
        let key = dir.join(format!("{name}.key"));
        write_private(&key, self.key_pem.as_bytes())?;
        std::fs::write(&cert, &self.cert_pem)?;
        Ok((cert, key))
    }
}

/// A CA that lives in memory and signs member, client and site certificates.
pub struct DevCa {
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// Validity of every dev certificate: from a fixed past date for ten years, so clocks that
/// are slightly off never matter.
fn validity(params: &mut CertificateParams) {
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2035, 1, 1);
}

impl DevCa {
    /// A new CA with a fresh key, named after its key: two dev CAs never share a name, so a
    /// certificate of one is refused by the other as of an unknown issuer.
    pub fn new() -> Result<DevCa, rcgen::Error> {
        let key = KeyPair::generate()?;
        let tag: String = key
            .public_key_raw()
            .iter()
            .rev()
            .take(4)
            .map(|b| format!("{b:02x}"))
            .collect();
        DevCa::with_key(&format!("Moor development CA {tag}"), key)
    }

    /// A new CA with a fresh key and the given Common Name.
    pub fn named(common_name: &str) -> Result<DevCa, rcgen::Error> {
        DevCa::with_key(common_name, KeyPair::generate()?)
    }

    fn with_key(common_name: &str, key: KeyPair) -> Result<DevCa, rcgen::Error> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut params);
        let cert = params.self_signed(&key)?;
        Ok(DevCa { cert, key })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> String {
        self.cert.pem()
    }

    fn sign(&self, params: CertificateParams) -> Result<Issued, rcgen::Error> {
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.cert, &self.key)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        })
    }

    /// Member `id`'s certificate: `member-<id>.moor` plus `hosts` (DNS names or IPs) for the
    /// client listener; usable as server and as client (peers dial each other, members call
    /// sites).
    pub fn member(&self, id: u64, hosts: &[String]) -> Result<Issued, rcgen::Error> {
        let mut names = vec![member_dns_name(id)];
        names.extend(hosts.iter().cloned());
        let mut params = CertificateParams::new(names)?;
        params
            .distinguished_name
            .push(DnType::CommonName, format!("member-{id}"));
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        validity(&mut params);
        self.sign(params)
    }

    /// A server certificate for `hosts` (a site agent or the simulator).
    pub fn server(&self, common_name: &str, hosts: &[String]) -> Result<Issued, rcgen::Error> {
        let mut params = CertificateParams::new(hosts.to_vec())?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        validity(&mut params);
        self.sign(params)
    }

    /// A client certificate for user `common_name` with `roles` as its Organization entries.
    pub fn client(&self, common_name: &str, roles: &[&str]) -> Result<Issued, rcgen::Error> {
        let mut params = client_params(common_name, roles)?;
        validity(&mut params);
        self.sign(params)
    }

    /// A client certificate that expired in 2024 (for tests of refusals).
    pub fn expired_client(
        &self,
        common_name: &str,
        roles: &[&str],
    ) -> Result<Issued, rcgen::Error> {
        let mut params = client_params(common_name, roles)?;
        params.not_before = rcgen::date_time_ymd(2023, 1, 1);
        params.not_after = rcgen::date_time_ymd(2024, 1, 1);
        self.sign(params)
    }
}

/// A client certificate's parameters: CN = the user, one O per role, client auth only.
fn client_params(common_name: &str, roles: &[&str]) -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    for role in roles {
        params
            .distinguished_name
            .push(DnType::OrganizationName, *role);
    }
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    Ok(params)
}

/// The files [`write_bundle`] wrote.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub dir: PathBuf,
    pub ca: PathBuf,
}

impl Bundle {
    /// Member `id`'s certificate and key.
    pub fn member(&self, id: u64) -> (PathBuf, PathBuf) {
        (
            self.dir.join(format!("member-{id}.pem")),
            self.dir.join(format!("member-{id}.key")),
        )
    }
    /// The admin client certificate and key (CN admin, O admin).
    pub fn admin(&self) -> (PathBuf, PathBuf) {
        (self.dir.join("admin.pem"), self.dir.join("admin.key"))
    }
    /// The site server certificate and key (for agents and the simulator).
    pub fn site(&self) -> (PathBuf, PathBuf) {
        (self.dir.join("site.pem"), self.dir.join("site.key"))
    }
}

/// Writes a CA, one certificate per member in `members` (with `hosts` as extra names), an
/// admin client certificate and a site server certificate into `dir` (created, mode 0700).
/// The CA's key is not written: nothing can be signed by it later.
pub fn write_bundle(dir: &Path, members: &[u64], hosts: &[String]) -> std::io::Result<Bundle> {
    let io = |e: rcgen::Error| std::io::Error::other(format!("cannot make a certificate: {e}"));
    create_private_dir(dir)?;
    let ca = DevCa::new().map_err(io)?;
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, ca.cert_pem())?;
    for id in members {
        ca.member(*id, hosts)
            .map_err(io)?
            .write(dir, &format!("member-{id}"))?;
    }
    ca.client("admin", &["admin"])
        .map_err(io)?
        .write(dir, "admin")?;
    ca.server("moor-site", hosts)
        .map_err(io)?
        .write(dir, "site")?;
    Ok(Bundle {
        dir: dir.to_path_buf(),
        ca: ca_path,
    })
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Writes `data` to `path` readable by its owner only (0600), replacing it atomically.
pub fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_bundle_has_every_file_and_private_keys() {
        let dir = tempfile::tempdir().unwrap();
        let b = write_bundle(&dir.path().join("tls"), &[1, 2, 3], &["127.0.0.1".into()]).unwrap();
        for id in [1, 2, 3] {
            let (c, k) = b.member(id);
            assert!(c.exists());
            let mode = std::fs::metadata(&k).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", k.display());
        }
        assert!(b.ca.exists() && b.admin().0.exists() && b.site().1.exists());
        assert!(!b.dir.join("ca.key").exists());
    }
}
