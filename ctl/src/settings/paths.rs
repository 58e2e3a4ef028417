//! Where the config file is, and what the paths written in it mean. The environment is read
//! through [`Env`], so tests give their own instead of changing the process's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

/// The environment variables settings read besides the flags' own (clap reads those).
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process's environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl Env for BTreeMap<&str, &str> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).map(|v| v.to_string())
    }
}

/// The config file: `given` (`--config` / `MOORCTL_CONFIG`), else
/// `$XDG_CONFIG_HOME/moor/moorctl.yaml`, else `~/.config/moor/moorctl.yaml`.
pub fn config_path(given: Option<&Path>, env: &dyn Env) -> Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p.to_path_buf());
    }
    if let Some(xdg) = env.var("XDG_CONFIG_HOME").filter(|x| x.starts_with('/')) {
        return Ok(Path::new(&xdg).join("moor/moorctl.yaml"));
    }
    match env.var("HOME") {
        Some(home) => Ok(Path::new(&home).join(".config/moor/moorctl.yaml")),
        None => bail!(
            "neither HOME nor XDG_CONFIG_HOME is set, so moorctl's config file cannot be \
             found; give --config FILE (MOORCTL_CONFIG)"
        ),
    }
}

/// A path written in the config file at `file`: `~/` is the home directory, a relative
/// path is relative to the file's directory.
pub fn in_file(path: &Path, file: &Path, env: &dyn Env) -> PathBuf {
    if let Ok(rest) = path.strip_prefix("~") {
        if let Some(home) = env.var("HOME") {
            return Path::new(&home).join(rest);
        }
    }
    if path.is_absolute() {
        return path.to_path_buf();
    }
    match file.parent() {
        Some(dir) => dir.join(path),
        None => path.to_path_buf(),
    }
}

/// A path given on the command line, made absolute (against the working directory) so a
/// context records the same file wherever moorctl runs later.
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_file() {
        let env = BTreeMap::from([("HOME", "/home/a"), ("XDG_CONFIG_HOME", "/xdg")]);
        let given = Path::new("/etc/moorctl.yaml");
        assert_eq!(config_path(Some(given), &env).unwrap(), given);
        assert_eq!(
            config_path(None, &env).unwrap(),
            Path::new("/xdg/moor/moorctl.yaml")
        );
        let env = BTreeMap::from([("HOME", "/home/a"), ("XDG_CONFIG_HOME", "rel")]);
        assert_eq!(
            config_path(None, &env).unwrap(),
            Path::new("/home/a/.config/moor/moorctl.yaml")
        );
        let e = config_path(None, &BTreeMap::new()).unwrap_err();
        assert!(e.to_string().contains("--config"), "{e}");
    }

    #[test]
    fn paths_in_the_file() {
        let env = BTreeMap::from([("HOME", "/home/a")]);
        let file = Path::new("/home/a/.config/moor/moorctl.yaml");
        let p = |s: &str| in_file(Path::new(s), file, &env);
        assert_eq!(p("~/prod.token"), Path::new("/home/a/prod.token"));
        assert_eq!(p("/etc/ca.pem"), Path::new("/etc/ca.pem"));
        assert_eq!(p("ca.pem"), Path::new("/home/a/.config/moor/ca.pem"));
    }
}
