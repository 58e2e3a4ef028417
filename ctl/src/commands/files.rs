//! Reading the files moorctl is given (`apply -f`, `blueprint validate`, `--inputs-file`) as
//! UTF-8 text, from a path or standard input, up to a size limit.

use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// Largest file `apply -f`, `blueprint validate` or `--inputs-file` reads. Members refuse
/// blueprints over 256 KiB with a clear message; a sites file for thousands of sites is
/// larger.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// A file as read: the name to show (`-` is `stdin`) and its text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
    /// True when it came from standard input (`-`).
    pub stdin: bool,
}

impl SourceFile {
    /// The file as it is given on a command line: its path, or `-` for standard input.
    pub fn arg(&self) -> &str {
        if self.stdin {
            "-"
        } else {
            &self.name
        }
    }
}

/// Reads `path` (`-`: standard input) as UTF-8 text; `flag` names the option it came from,
/// for the error.
pub fn read_text(path: &Path, flag: &str) -> Result<SourceFile> {
    let mut buf = Vec::new();
    let stdin = path == Path::new("-");
    let name = if stdin {
        std::io::stdin()
            .lock()
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut buf)
            .context("cannot read standard input")?;
        "stdin".to_string()
    } else {
        let name = path.display().to_string();
        std::fs::File::open(path)
            .with_context(|| format!("cannot open {name} ({flag})"))?
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut buf)
            .with_context(|| format!("cannot read {name} ({flag})"))?;
        name
    };
    if buf.len() as u64 > MAX_FILE_BYTES {
        bail!(
            "{name} ({flag}) holds more than {} MiB; split it into several files",
            MAX_FILE_BYTES >> 20
        );
    }
    let text = String::from_utf8(buf)
        .map_err(|e| anyhow::anyhow!("{name} ({flag}) is not UTF-8 text: {e}"))?;
    Ok(SourceFile { name, text, stdin })
}
