//! Who is calling, and may they: the client listener's gate and the AuthApi.
//!
//! - [`methods`]: every client RPC's gRPC path → its [`Operation`] (deny by default: a path
//!   not in the table is refused);
//! - [`gate`]: the tower layer in front of every client service: authenticates (bearer
//!   token, else TLS client certificate), checks the role allows the operation, and runs
//!   the handler with its [`caller::Caller`];
//! - [`caller`]: the caller of the request being served, and the stamp its writes carry
//!   (apply checks the identity and permission again, see `moor_domain::auth`);
//! - [`tokens`]: token text generation;
//! - [`service`]: `AuthApi` (tokens, roles, whoami, audit);
//! - [`bootstrap`]: the admin token made with the cluster.
//!
//! [`Operation`]: moor_domain::auth::operation::Operation

pub mod bootstrap;
pub mod caller;
pub mod gate;
pub mod methods;
pub mod service;
pub mod tokens;
