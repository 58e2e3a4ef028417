//! The TLS configurations a process serves and dials with, rebuilt from the files when they
//! change, so certificates rotate without a restart.
//!
//! Each new connection takes the configuration current when it starts; connections already
//! open keep theirs. A reload that fails (a half-written file, a key that does not match its
//! certificate) keeps the previous configuration and says why in the log: rotation must never
//! take a member down.

use std::path::PathBuf;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, SystemTime};

use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, ServerConfig};

use crate::files;

/// Where a process's certificate, key and CA bundle are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// This process's certificate (and chain), PEM.
    pub cert: PathBuf,
    /// Its private key, PEM.
    pub key: PathBuf,
    /// The CA bundle that peers' and clients' certificates must chain to, PEM.
    pub ca: PathBuf,
}

/// Whether a listener requires a client certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Every client must present a certificate chaining to the CA (peers, sites).
    Required,
    /// A client may present one (certificate authentication) or not (bearer tokens); one that
    /// does not chain to the CA is refused during the handshake.
    Optional,
}

/// A TLS configuration that could not be built from the files.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(transparent)]
    File(#[from] files::FileError),
    #[error("cannot use certificate {cert} with key {key}: {reason}")]
    Config {
        cert: String,
        key: String,
        reason: String,
    },
}

struct Loaded {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    stamp: Vec<Option<(SystemTime, u64)>>,
}

/// The current configurations, and how to rebuild them.
pub struct TlsReloader {
    files: TlsFiles,
    client_auth: ClientAuth,
    loaded: RwLock<Arc<Loaded>>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn stamp(files: &TlsFiles) -> Vec<Option<(SystemTime, u64)>> {
    [&files.cert, &files.key, &files.ca]
        .iter()
        .map(|p| {
            std::fs::metadata(p)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())))
        })
        .collect()
}

fn build(files: &TlsFiles, client_auth: ClientAuth) -> Result<Loaded, TlsError> {
    let stamp = stamp(files);
    let certs = files::certs("certificate", &files.cert)?;
    let key = files::key(&files.key)?;
    let roots = Arc::new(files::roots(&files.ca)?);
    let config_error = |reason: String| TlsError::Config {
        cert: files.cert.display().to_string(),
        key: files.key.display().to_string(),
        reason,
    };
    let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider());
    let verifier = match client_auth {
        ClientAuth::Required => verifier.build(),
        ClientAuth::Optional => verifier.allow_unauthenticated().build(),
    }
    .map_err(|e| config_error(format!("CA bundle {}: {e}", files.ca.display())))?;
    let mut server = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| config_error(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs.clone(), key.clone_key())
        .map_err(|e| config_error(e.to_string()))?;
    // gRPC is HTTP/2; the client listener also serves webhooks, which CI systems send over
    // HTTP/1.1 (with ALPN, a client offering only http/1.1 would otherwise be refused).
    server.alpn_protocols = match client_auth {
        ClientAuth::Required => vec![b"h2".to_vec()],
        ClientAuth::Optional => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
    };
    let mut client = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| config_error(e.to_string()))?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)
        .map_err(|e| config_error(e.to_string()))?;
    client.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Loaded {
        server: Arc::new(server),
        client: Arc::new(client),
        stamp,
    })
}

impl TlsReloader {
    /// Loads the files now; an error names the file at fault.
    pub fn new(files: TlsFiles, client_auth: ClientAuth) -> Result<Arc<TlsReloader>, TlsError> {
        let loaded = build(&files, client_auth)?;
        Ok(Arc::new(TlsReloader {
            files,
            client_auth,
            loaded: RwLock::new(Arc::new(loaded)),
        }))
    }

    fn current(&self) -> Arc<Loaded> {
        match self.loaded.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The configuration new incoming connections use.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.current().server.clone()
    }

    /// The configuration new outgoing connections use (this process's certificate as client
    /// certificate, the CA bundle as roots).
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.current().client.clone()
    }

    /// The files this reloader reads.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// Rebuilds the configurations from the files now. On error the previous ones stay.
    pub fn reload(&self) -> Result<(), TlsError> {
        let loaded = build(&self.files, self.client_auth)?;
        match self.loaded.write() {
            Ok(mut g) => *g = Arc::new(loaded),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(loaded),
        }
        Ok(())
    }

    /// Reloads if any file's modification time or length changed since the last load.
    /// Returns whether it reloaded.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        if stamp(&self.files) == self.current().stamp {
            return Ok(false);
        }
        self.reload()?;
        Ok(true)
    }

    /// Polls the files every `every` and reloads when they change, logging the outcome; stops
    /// when the reloader is dropped.
    pub fn watch(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let weak: Weak<TlsReloader> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut failing = false;
            loop {
                tokio::time::sleep(every).await;
                let Some(me) = weak.upgrade() else { return };
                match me.reload_if_changed() {
                    Ok(true) => {
                        failing = false;
                        tracing::info!(cert = %me.files.cert.display(), "TLS certificates reloaded");
                    }
                    Ok(false) => {}
                    Err(e) => {
                        if !failing {
                            tracing::error!(error = %e, "TLS files changed but cannot be used; still serving the previous certificates");
                        }
                        failing = true;
                    }
                }
            }
        })
    }
}
