//! Moor's TLS, shared by members (client and peer listeners, calls to peers and sites), site
//! agents and the simulator. rustls with ring only: no OpenSSL, no aws-lc-rs.
//!
//! - [`files`]: certificates, keys and CAs read from PEM files, errors naming the file.
//! - [`reload`]: [`reload::TlsReloader`], the current server and client configurations, rebuilt
//!   when the files change (polled) or on demand (SIGHUP), so rotation needs no restart; a
//!   bad new file is logged and the old configuration kept.
//! - [`incoming`]: a listener's accepted sockets after the TLS handshake, for tonic's
//!   `serve_with_incoming` (handshakes run concurrently, each with a deadline).
//! - [`connector`]: the client side, for tonic's `connect_with_connector`: TCP, TCP_NODELAY,
//!   then a handshake with the configuration current at that moment.
//! - [`failure`]: why a handshake failed ([`failure::TlsFailure`]: unknown CA, name mismatch,
//!   certificate refused, ...), read from the error a call returned, and whether the server
//!   can have seen anything.
//! - [`identity`]: who a verified certificate names: a member (`member-<id>.moor`), a user
//!   (CN) and the roles (O).
//! - [`dev`]: a development CA and the certificates a local cluster needs (rcgen).

pub mod connector;
pub mod dev;
pub mod failure;
pub mod files;
pub mod identity;
pub mod incoming;
pub mod reload;

pub use failure::{tls_failure, TlsFailure};
pub use identity::{member_dns_name, member_id_of, subject_of, CertSubject};
pub use reload::{ClientAuth, TlsFiles, TlsReloader};
