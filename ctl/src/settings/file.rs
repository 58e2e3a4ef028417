//! moorctl's config file: named contexts (endpoints and credentials) and the current one,
//! in YAML. A key moorctl does not know is an error naming it (a misspelt `ca_fle` must not
//! silently mean "no CA"); a missing file is an empty one.
//!
//! ```yaml
//! current_context: prod
//! contexts:
//!   - name: prod
//!     endpoints: [moor-1.example:7401, moor-2.example:7401]
//!     ca_file: /etc/moor/ca.pem
//!     token_file: ~/.config/moor/prod.token
//! ```

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};

use super::private_file::write_private;
use crate::cli::parse_endpoint;

/// Largest config file read: a few hundred contexts fit many times over.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The context used when `--context` / `MOORCTL_CONTEXT` is not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_context: Option<String>,
    #[serde(default)]
    pub contexts: Vec<Context>,
}

/// One context: where the members are and how to prove who we are. Relative paths are
/// relative to the file's directory; `~/` is the home directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Context {
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// A path: the file holds the token, the config file never does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub insecure_plaintext: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl ConfigFile {
    /// Reads and checks the file at `path`; `None` when there is none.
    pub fn load(path: &Path) -> Result<Option<ConfigFile>> {
        let shown = path.display();
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("cannot read {shown}")),
        };
        let mut text = String::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .with_context(|| format!("cannot read {shown} (it must be UTF-8 text)"))?;
        if text.len() as u64 > MAX_FILE_BYTES {
            bail!("{shown} is larger than 1 MiB; is it moorctl's config file?");
        }
        ConfigFile::parse(&text).map(Some).with_context(|| {
            format!("{shown} is not a valid moorctl config file (`moorctl config --help`)")
        })
    }

    /// Parses and checks a file's text.
    pub fn parse(text: &str) -> Result<ConfigFile> {
        if text.trim().is_empty() {
            return Ok(ConfigFile::default());
        }
        let file: ConfigFile = serde_yaml_ng::from_str(text)?;
        file.check()?;
        Ok(file)
    }

    /// Names unique and valid, endpoints valid.
    fn check(&self) -> Result<()> {
        let mut names = std::collections::BTreeSet::new();
        for c in &self.contexts {
            crate::cli::parse_context_name(&c.name)
                .map_err(|e| anyhow::anyhow!("contexts: {e}"))?;
            if !names.insert(&c.name) {
                bail!("context {} is defined twice", c.name);
            }
            for e in &c.endpoints {
                parse_endpoint(e)
                    .map_err(|e| anyhow::anyhow!("context {}: endpoints: {e}", c.name))?;
            }
        }
        Ok(())
    }

    /// Writes the file to `path` atomically, mode 0600, creating its directory (0700).
    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                use std::os::unix::fs::DirBuilderExt;
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
        }
        let text = serde_yaml_ng::to_string(self)?;
        write_private(path, text.as_bytes())
    }

    /// The context named `name`.
    pub fn context(&self, name: &str) -> Option<&Context> {
        self.contexts.iter().find(|c| c.name == name)
    }

    /// The names of every context, for messages: `a, b` or `none`.
    pub fn names(&self) -> String {
        if self.contexts.is_empty() {
            return "none".into();
        }
        let names: Vec<&str> = self.contexts.iter().map(|c| c.name.as_str()).collect();
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const SAMPLE: &str = "\
current_context: prod
contexts:
- name: prod
  endpoints:
  - moor-1.example:7401
  - moor-2.example:7401
  ca_file: /etc/moor/ca.pem
  token_file: ~/.config/moor/prod.token
  server_name: moor.internal
- name: dev
  endpoints:
  - 127.0.0.1:7401
  insecure_plaintext: true
";

    #[test]
    fn round_trip_with_mode_0600() {
        let file = ConfigFile::parse(SAMPLE).unwrap();
        assert_eq!(file.current_context.as_deref(), Some("prod"));
        assert_eq!(file.contexts.len(), 2);
        assert!(file.context("dev").unwrap().insecure_plaintext);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("moor/moorctl.yaml");
        file.save(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), SAMPLE);
        assert_eq!(ConfigFile::load(&path).unwrap(), Some(file));
    }

    #[test]
    fn a_missing_or_empty_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            ConfigFile::load(&dir.path().join("none.yaml")).unwrap(),
            None
        );
        assert_eq!(ConfigFile::parse("\n").unwrap(), ConfigFile::default());
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let e = ConfigFile::parse("contexts:\n- name: a\n  ca_fle: /x\n").unwrap_err();
        assert!(e.to_string().contains("unknown field `ca_fle`"), "{e}");
        let e = ConfigFile::parse("current-context: a\n").unwrap_err();
        assert!(
            e.to_string().contains("unknown field `current-context`"),
            "{e}"
        );
    }

    #[test]
    fn bad_contexts_are_refused() {
        let twice = "contexts:\n- name: a\n- name: a\n";
        assert!(ConfigFile::parse(twice)
            .unwrap_err()
            .to_string()
            .contains("twice"));
        let e = ConfigFile::parse("contexts:\n- name: a\n  endpoints: [nope]\n").unwrap_err();
        assert!(e.to_string().contains("context a: endpoints"), "{e}");
        let e = ConfigFile::parse("contexts:\n- name: 'a b'\n").unwrap_err();
        assert!(e.to_string().contains("not a context name"), "{e}");
    }
}
