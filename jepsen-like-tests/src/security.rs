//! How the harness's processes and clients are secured: by default as production runs, TLS
//! and authentication on.
//!
//! - [`DevPki`]: one development CA per cluster directory (`<dir>/tls`, the file layout of
//!   `moor_tls::dev::write_bundle`): `ca.pem`, `admin.pem`/`.key` (CN admin, O admin: the
//!   harness's client identity), `site.pem`/`.key` for `moor-sitesim` (every address members
//!   dial it at), and `member-<id>.pem`/`.key` issued when member `id` is first created. The
//!   CA stays in memory, so members added later (membership nemeses pick fresh ids without
//!   bound) get certificates of the same CA, each naming `member-<id>.moor` and the address
//!   clients dial it at.
//! - [`Security`]: what a client, `moorctl` or `moor-sitesim` needs to talk to such a
//!   cluster; [`Security::Plaintext`] for members started with `insecure_plaintext` and auth
//!   off (`moor-bench --tls off`) and for the compose cluster.
//! - [`connect`]: the one way the harness, workloads, fleet and benches dial a member or a
//!   sitesim: TLS with the cluster CA and the admin client certificate (authenticated as
//!   admin, no token, so clients stay `XxxClient<Channel>`), TCP_NODELAY on.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use moor_tls::dev::{Bundle, DevCa};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

/// The hosts every certificate of a harness cluster names besides its own address.
pub const LOOPBACK_HOSTS: [&str; 2] = ["127.0.0.1", "localhost"];

/// A cluster's development CA and the certificates it issued (see the module docs).
pub struct DevPki {
    ca: DevCa,
    bundle: Bundle,
    security: Security,
}

impl DevPki {
    /// Makes a CA in `dir` (created, 0700), the admin client certificate and a site
    /// certificate naming [`LOOPBACK_HOSTS`] and `site_hosts` (where members dial the
    /// sitesim).
    pub fn create(dir: &Path, site_hosts: &[String]) -> Result<DevPki> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("create {}", dir.display()))?;
        let ca = DevCa::new().context("cannot make a CA")?;
        let bundle = Bundle {
            dir: dir.to_path_buf(),
            ca: dir.join("ca.pem"),
        };
        std::fs::write(&bundle.ca, ca.cert_pem())
            .with_context(|| format!("write {}", bundle.ca.display()))?;
        ca.client("admin", &["admin"])
            .context("cannot make the admin certificate")?
            .write(dir, "admin")
            .context("write the admin certificate")?;
        ca.server("moor-site", &with_loopback(site_hosts))
            .context("cannot make the site certificate")?
            .write(dir, "site")
            .context("write the site certificate")?;
        let security = Security::from_bundle(&bundle)?;
        Ok(DevPki {
            ca,
            bundle,
            security,
        })
    }

    /// Member `id`'s certificate and key, issued on first use: `member-<id>.moor` (peers
    /// check it) plus [`LOOPBACK_HOSTS`] and `hosts` (the address clients dial it at).
    pub fn member(&self, id: u64, hosts: &[String]) -> Result<(PathBuf, PathBuf)> {
        let (cert, key) = self.bundle.member(id);
        if !(cert.exists() && key.exists()) {
            self.ca
                .member(id, &with_loopback(hosts))
                .with_context(|| format!("cannot make member {id}'s certificate"))?
                .write(&self.bundle.dir, &format!("member-{id}"))
                .with_context(|| format!("write member {id}'s certificate"))?;
        }
        Ok((cert, key))
    }

    /// The files written so far.
    pub fn bundle(&self) -> &Bundle {
        &self.bundle
    }

    /// What clients of this cluster use.
    pub fn security(&self) -> &Security {
        &self.security
    }
}

fn with_loopback(hosts: &[String]) -> Vec<String> {
    let mut all: Vec<String> = LOOPBACK_HOSTS.iter().map(|h| h.to_string()).collect();
    for h in hosts {
        if !all.contains(h) {
            all.push(h.clone());
        }
    }
    all
}

/// How to reach a cluster's members (and its sitesim).
#[derive(Clone)]
pub enum Security {
    /// No TLS, no credential: members started with `insecure_plaintext = true` and
    /// `auth.enabled = false`, and the compose cluster.
    Plaintext,
    /// TLS with the cluster CA; the admin client certificate authenticates every call.
    Tls(Arc<ClientTls>),
}

/// The files of a TLS cluster a client needs, and the client configuration made from them.
pub struct ClientTls {
    pub bundle: Bundle,
    config: ClientTlsConfig,
    /// The CA's files, read once: [`Security::anonymous`] and [`Security::with_server_name`]
    /// rebuild the configuration from them.
    ca_pem: Vec<u8>,
    identity: Option<(Vec<u8>, Vec<u8>)>,
    server_name: Option<String>,
}

impl ClientTls {
    fn new(
        bundle: Bundle,
        ca_pem: Vec<u8>,
        identity: Option<(Vec<u8>, Vec<u8>)>,
        server_name: Option<String>,
    ) -> Result<ClientTls> {
        let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&ca_pem));
        if let Some((cert, key)) = &identity {
            config = config.identity(Identity::from_pem(cert, key));
        }
        if let Some(name) = &server_name {
            config = config.domain_name(name.clone());
        }
        Endpoint::from_static("https://127.0.0.1:1")
            .tls_config(config.clone())
            .with_context(|| format!("the TLS files in {}", bundle.dir.display()))?;
        Ok(ClientTls {
            bundle,
            config,
            ca_pem,
            identity,
            server_name,
        })
    }
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Security::Plaintext => write!(f, "plaintext"),
            Security::Tls(t) => write!(f, "TLS (CA {})", t.bundle.ca.display()),
        }
    }
}

impl Security {
    /// TLS with `bundle`'s CA and its admin client certificate; checks the files now, so
    /// [`connect`] cannot fail on them later.
    pub fn from_bundle(bundle: &Bundle) -> Result<Security> {
        let read = |p: &Path| std::fs::read(p).with_context(|| format!("read {}", p.display()));
        let (cert, key) = bundle.admin();
        let identity = Some((read(&cert)?, read(&key)?));
        let tls = ClientTls::new(bundle.clone(), read(&bundle.ca)?, identity, None)?;
        Ok(Security::Tls(Arc::new(tls)))
    }

    /// The same, checking every member's certificate against `name` instead of the host
    /// part of the address dialled (the compose cluster: clients dial container IPs, which
    /// no certificate can name in advance; its certificates name the service names).
    pub fn with_server_name(&self, name: &str) -> Result<Security> {
        self.rebuilt(|t| (t.identity.clone(), Some(name.to_string())))
    }

    /// TLS with the cluster CA but no client certificate: a client that must bring a token
    /// (or none, to be refused).
    pub fn anonymous(&self) -> Result<Security> {
        self.rebuilt(|t| (None, t.server_name.clone()))
    }

    fn rebuilt(
        &self,
        parts: impl Fn(&ClientTls) -> (Option<(Vec<u8>, Vec<u8>)>, Option<String>),
    ) -> Result<Security> {
        match self {
            Security::Plaintext => anyhow::bail!("a plaintext cluster has no TLS settings"),
            Security::Tls(t) => {
                let (identity, server_name) = parts(t);
                let tls =
                    ClientTls::new(t.bundle.clone(), t.ca_pem.clone(), identity, server_name)?;
                Ok(Security::Tls(Arc::new(tls)))
            }
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Security::Tls(_))
    }

    /// The dev bundle, with TLS.
    pub fn bundle(&self) -> Option<&Bundle> {
        match self {
            Security::Plaintext => None,
            Security::Tls(t) => Some(&t.bundle),
        }
    }

    /// `moorctl`'s connection flags: the CA and the admin client certificate, or
    /// `--insecure-plaintext`.
    pub fn moorctl_args(&self) -> Vec<String> {
        match self.bundle() {
            None => vec!["--insecure-plaintext".into()],
            Some(b) => {
                let (cert, key) = b.admin();
                flags(&[
                    ("--ca-file", &b.ca),
                    ("--cert-file", &cert),
                    ("--key-file", &key),
                ])
            }
        }
    }

    /// `moor-sitesim`'s TLS flags (mutual TLS with the cluster CA, the site certificate), or
    /// none (plaintext, for plaintext members).
    pub fn sitesim_args(&self) -> Vec<String> {
        match self.bundle() {
            None => Vec::new(),
            Some(b) => {
                let (cert, key) = b.site();
                flags(&[
                    ("--tls-cert", &cert),
                    ("--tls-key", &key),
                    ("--tls-ca", &b.ca),
                ])
            }
        }
    }
}

fn flags(pairs: &[(&str, &Path)]) -> Vec<String> {
    pairs
        .iter()
        .flat_map(|(flag, path)| [flag.to_string(), path.display().to_string()])
        .collect()
}

/// An endpoint for `addr` (`host:port`, a member or a sitesim): with TLS, the server name
/// checked is the host part (an IP or `localhost`; the dev certificates name each), and the
/// admin client certificate is presented. TCP_NODELAY on; callers add their timeouts and
/// connect (lazily or not).
pub fn connect(addr: &str, security: &Security) -> Endpoint {
    match security {
        Security::Plaintext => {
            Endpoint::from_shared(format!("http://{addr}")).expect("a host:port is a valid URI")
        }
        Security::Tls(t) => Endpoint::from_shared(format!("https://{addr}"))
            .expect("a host:port is a valid URI")
            .tls_config(t.config.clone())
            .expect("the TLS files were checked when the Security was made"),
    }
    .tcp_nodelay(true)
}

/// Adds `authorization: Bearer <token>` to every request, as moorctl does with a token
/// file: `MoorApiClient::with_interceptor(channel, Bearer::new(token)?)`.
#[derive(Clone)]
pub struct Bearer(tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl Bearer {
    pub fn new(token: &str) -> Result<Bearer> {
        let value = format!("Bearer {}", token.trim())
            .parse()
            .context("a token is printable ASCII")?;
        Ok(Bearer(value))
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut req: tonic::Request<()>,
    ) -> std::result::Result<tonic::Request<()>, tonic::Status> {
        req.metadata_mut().insert("authorization", self.0.clone());
        Ok(req)
    }
}

/// A `MoorApi` client whose only credential is a bearer token.
pub type TokenClient = moor_proto::api::moor_api_client::MoorApiClient<
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, Bearer>,
>;

/// A lazily connecting client of member `addr` that sends `token` with every request over
/// TLS with the cluster CA and no client certificate (so the token alone says who calls).
pub fn token_client(addr: &str, security: &Security, token: &str) -> Result<TokenClient> {
    let channel = connect(addr, &security.anonymous()?)
        .connect_timeout(std::time::Duration::from_secs(1))
        .connect_lazy();
    Ok(
        moor_proto::api::moor_api_client::MoorApiClient::with_interceptor(
            channel,
            Bearer::new(token)?,
        ),
    )
}
