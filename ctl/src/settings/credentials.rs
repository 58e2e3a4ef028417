//! Reading what the settings name: the token and the TLS files. Each error names the file,
//! where it was named (a flag or a context) and what to do; none quotes a token.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};

use super::private_file::readable_by_others;
use crate::client::{Tls, Token};

/// Where a setting came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A flag (or its environment variable): `--ca-file`.
    Flag(&'static str),
    /// A context's key: (context, key).
    Context(String, &'static str),
}

impl Origin {
    /// `--ca-file`, `context prod's ca_file`.
    pub fn describe(&self) -> String {
        match self {
            Origin::Flag(f) => f.to_string(),
            Origin::Context(c, k) => format!("context {c}'s {k}"),
        }
    }

    /// What to do about a bad file named here.
    fn fix(&self) -> String {
        match self {
            Origin::Flag(f) => format!("give the right file with {f}"),
            Origin::Context(c, k) => format!(
                "fix it with `moorctl config set-context {c} --{} PATH` (or pick another \
                 context: `moorctl config get-contexts`)",
                k.replace('_', "-")
            ),
        }
    }
}

/// A file named by a setting, and where.
#[derive(Debug, Clone)]
pub struct Named {
    pub path: PathBuf,
    pub origin: Origin,
}

impl Named {
    /// The file's bytes, or an error naming the file, its origin and the fix.
    pub fn read(&self) -> Result<Vec<u8>> {
        std::fs::read(&self.path).map_err(|e| {
            anyhow!(
                "{} {}: cannot read it: {e}; {}",
                self.origin.describe(),
                self.path.display(),
                self.origin.fix()
            )
        })
    }
}

/// The token in the file `file`; warns when others may read the file.
pub fn token_from_file(file: &Named) -> Result<Token> {
    let bytes = file.read()?;
    if readable_by_others(&file.path) {
        eprintln!(
            "moorctl: warning: the token file {} may be read by other users; `chmod 600 {}`",
            file.path.display(),
            file.path.display()
        );
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        anyhow!(
            "{} {}: not a token (not text); {}",
            file.origin.describe(),
            file.path.display(),
            file.origin.fix()
        )
    })?;
    Token::new(&text).map_err(|e| {
        anyhow!(
            "{} {}: {e}; {}",
            file.origin.describe(),
            file.path.display(),
            file.origin.fix()
        )
    })
}

/// TLS from the CA file, the client certificate and key files if any, and the server name.
pub fn tls(
    ca: &Named,
    identity: Option<(&Named, &Named)>,
    server_name: Option<String>,
) -> Result<Tls> {
    let ca_pem = ca.read()?;
    let identity = match identity {
        Some((cert, key)) => Some((cert.path.clone(), cert.read()?, key.read()?)),
        None => None,
    };
    let files = describe_files(ca, identity.as_ref().map(|(p, _, _)| p.as_path()));
    Tls::new(ca.path.clone(), &ca_pem, identity, server_name)
        .map_err(|e| anyhow!("the TLS files ({files}) are not usable: {e}"))
}

fn describe_files(ca: &Named, cert: Option<&Path>) -> String {
    let mut s = format!("CA {} from {}", ca.path.display(), ca.origin.describe());
    if let Some(c) = cert {
        s.push_str(&format!(", client certificate {}", c.display()));
    }
    s
}
