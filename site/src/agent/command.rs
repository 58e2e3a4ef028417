//! The `agent.command` resource: commands the agent runs to apply, delete and observe
//! something it does not model itself (a package, a service, a firewall rule).
//!
//! - properties: `{ "apply": ["argv0", "arg", ...], "delete": [...]?, "observe": [...]?,
//!   "env": {"K": "V"}?, "dir": "relative/dir"?, "timeout_s": 60?, "shell": false? }`. Without
//!   `shell` each command is an argv run directly (no shell: nothing in an argument is
//!   interpreted); with `"shell": true` each is one string run by `/bin/sh -c`. `env` adds to
//!   the agent's environment; `dir` is the working directory, below the root (default: the
//!   root); `timeout_s` defaults to `command_timeout_s` and may not exceed
//!   `command_timeout_max_s`.
//! - apply and delete also get the call in their environment: `MOOR_ENVIRONMENT`,
//!   `MOOR_RESOURCE`, `MOOR_EXECUTION_ID`, `MOOR_STEP`, `MOOR_ATTEMPT`, `MOOR_FENCE_TOKEN`
//!   (a resource's own `env` wins on a clash), so a command can log or tag what ran it.
//! - a run: stdin closed, stdout and stderr read concurrently to their end so the child never
//!   blocks on a full pipe; stdout is hashed whole and kept up to the output cap, stderr's last
//!   `output_cap_bytes` are kept; the command runs in its own process group, and on timeout the
//!   whole group is killed. Exit status ≠ 0 is an error with the status and the tail of stderr
//!   (last [`STDERR_TAIL_BYTES`]); a timeout is "timed out after Ns".
//! - observe's stdout is the observed state: the agent compares its sha256 with the one taken
//!   right after the apply. A command without `observe` cannot show drift.
//!
//! Known limit: a command that leaves a background process holding its stdout or stderr open
//! runs until the timeout (the pipes never end) and is then killed with its group.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use super::digest::Sha256Stream;
use super::paths::{confined, Parents};

/// The resource type this module serves.
pub const COMMAND_TYPE: &str = "agent.command";

/// How much of stderr's end a FAILED answer quotes.
pub const STDERR_TAIL_BYTES: usize = 2048;

/// The limits every command run is held to (from the agent's configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub default_timeout_s: u64,
    pub max_timeout_s: u64,
    /// Most bytes kept of each of stdout and stderr.
    pub output_cap_bytes: usize,
}

/// One command: an argv, or a line for `/bin/sh -c`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
enum Program {
    Argv(Vec<String>),
    Line(String),
}

/// The properties of an `agent.command`, as sent (and as kept by the agent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Properties {
    apply: Program,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    delete: Option<Program>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    observe: Option<Program>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    env: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timeout_s: Option<u64>,
    #[serde(default)]
    shell: bool,
}

/// Which of a resource's commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Apply,
    Delete,
    Observe,
}

impl Which {
    fn name(self) -> &'static str {
        match self {
            Which::Apply => "apply",
            Which::Delete => "delete",
            Which::Observe => "observe",
        }
    }
}

/// A checked `agent.command`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSpec {
    properties: Properties,
    timeout_s: u64,
}

/// What a finished command left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ran {
    /// sha256 (hex) of all of stdout.
    pub stdout_sha256: String,
    /// The first `output_cap_bytes` of stdout.
    pub stdout: Vec<u8>,
    pub stdout_bytes: u64,
    /// The last `output_cap_bytes` of stderr.
    pub stderr: Vec<u8>,
    pub stderr_bytes: u64,
}

impl Ran {
    fn truncated(&self) -> bool {
        self.stdout_bytes > self.stdout.len() as u64 || self.stderr_bytes > self.stderr.len() as u64
    }
}

impl CommandSpec {
    /// Reads and checks the properties against `limits`; the error says what is wrong.
    pub fn parse(properties_json: &str, limits: &Limits) -> Result<CommandSpec, String> {
        let properties: Properties = serde_json::from_str(properties_json).map_err(|e| {
            format!("agent.command properties must be {{\"apply\", \"delete\"?, \"observe\"?, \"env\"?, \"dir\"?, \"timeout_s\"?, \"shell\"?}}: {e}")
        })?;
        CommandSpec::check(properties, limits)
    }

    /// The spec kept by the agent ([`CommandSpec::kept_properties`]), checked again.
    pub fn from_kept(
        properties: &serde_json::Value,
        limits: &Limits,
    ) -> Result<CommandSpec, String> {
        let properties: Properties = serde_json::from_value(properties.clone())
            .map_err(|e| format!("the agent's record of this command is unreadable: {e}"))?;
        CommandSpec::check(properties, limits)
    }

    fn check(properties: Properties, limits: &Limits) -> Result<CommandSpec, String> {
        let shell = properties.shell;
        for (which, program) in [
            (Which::Apply, Some(&properties.apply)),
            (Which::Delete, properties.delete.as_ref()),
            (Which::Observe, properties.observe.as_ref()),
        ] {
            let Some(program) = program else { continue };
            let name = which.name();
            match (program, shell) {
                (Program::Argv(argv), false) if argv.first().is_some_and(|a| !a.is_empty()) => {}
                (Program::Argv(_), false) => {
                    return Err(format!("`{name}` is empty; give the program and its arguments"))
                }
                (Program::Line(_), false) => {
                    return Err(format!("`{name}` is a string: give a list (argv), or set \"shell\": true to run it with /bin/sh -c"))
                }
                (Program::Line(line), true) if !line.trim().is_empty() => {}
                (Program::Line(_), true) => return Err(format!("`{name}` is empty")),
                (Program::Argv(_), true) => {
                    return Err(format!("with \"shell\": true, `{name}` must be one string for /bin/sh -c"))
                }
            }
        }
        if let Some(bad) = properties
            .env
            .keys()
            .find(|k| k.is_empty() || k.contains('=') || k.contains('\0'))
        {
            return Err(format!("env name {bad:?} is not a valid variable name"));
        }
        let timeout_s = properties.timeout_s.unwrap_or(limits.default_timeout_s);
        if timeout_s == 0 || timeout_s > limits.max_timeout_s {
            return Err(format!(
                "timeout_s {timeout_s} is out of range 1..={} (command_timeout_max_s)",
                limits.max_timeout_s
            ));
        }
        Ok(CommandSpec {
            properties,
            timeout_s,
        })
    }

    /// What the agent keeps to observe and delete later: the properties, whole.
    pub fn kept_properties(&self) -> serde_json::Value {
        serde_json::to_value(&self.properties).unwrap_or_default()
    }

    pub fn has(&self, which: Which) -> bool {
        self.program(which).is_some()
    }

    fn program(&self, which: Which) -> Option<&Program> {
        match which {
            Which::Apply => Some(&self.properties.apply),
            Which::Delete => self.properties.delete.as_ref(),
            Which::Observe => self.properties.observe.as_ref(),
        }
    }

    /// Runs one of the commands (see the module docs) with `call_env` added to its
    /// environment (the call it runs for, see `Mutation::command_env`; empty for observe).
    /// `Ok` only for exit status 0; the error says which command, how it ended and the tail
    /// of its stderr.
    pub async fn run(
        &self,
        which: Which,
        root: &Path,
        limits: &Limits,
        call_env: &[(&str, String)],
    ) -> Result<Ran, String> {
        let name = which.name();
        let Some(program) = self.program(which) else {
            return Err(format!("this resource has no `{name}` command"));
        };
        let dir = self.dir(root)?;
        let (mut command, shown) = match program {
            Program::Line(line) => {
                let mut c = Command::new("/bin/sh");
                c.arg("-c").arg(line);
                (c, format!("/bin/sh -c {line:?}"))
            }
            Program::Argv(argv) => {
                let Some((program, args)) = argv.split_first() else {
                    return Err(format!("`{name}` is empty"));
                };
                let mut c = Command::new(program);
                c.args(args);
                (c, format!("{program:?}"))
            }
        };
        command
            .current_dir(&dir)
            .envs(call_env.iter().map(|(k, v)| (k, v)))
            .envs(&self.properties.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        // If the agent dies (kill -9) while the command runs, the command dies with it
        // instead of finishing an effect no record will ever mention: the leader re-sends
        // the step after the restart and it runs once, not once and a half. (Linux sends the
        // signal when the spawning thread ends: a tokio worker, which lives as long as the
        // agent. Grandchildren the command started are not covered.)
        // SAFETY: prctl is async-signal-safe and touches only the child's own state.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start the {name} command {shown}: {e}"))?;
        let group = child.id();
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let cap = limits.output_cap_bytes;
        let finished = tokio::time::timeout(Duration::from_secs(self.timeout_s), async {
            tokio::join!(head_and_hash(stdout, cap), tail(stderr, cap), child.wait())
        })
        .await;
        let Ok((out, err, status)) = finished else {
            if let Some(group) = group {
                kill_group(group);
            }
            let _ = child.kill().await;
            return Err(format!(
                "the {name} command {shown} timed out after {}s (its process group was killed)",
                self.timeout_s
            ));
        };
        let status = status.map_err(|e| format!("cannot wait for the {name} command: {e}"))?;
        let (stdout_sha256, stdout, stdout_bytes) =
            out.map_err(|e| format!("cannot read the {name} command's stdout: {e}"))?;
        let (stderr, stderr_bytes) =
            err.map_err(|e| format!("cannot read the {name} command's stderr: {e}"))?;
        let ran = Ran {
            stdout_sha256,
            stdout,
            stdout_bytes,
            stderr,
            stderr_bytes,
        };
        if status.success() {
            return Ok(ran);
        }
        let how = match (
            status.code(),
            std::os::unix::process::ExitStatusExt::signal(&status),
        ) {
            (Some(code), _) => format!("exited with status {code}"),
            (None, Some(signal)) => format!("was killed by signal {signal}"),
            (None, None) => "failed".to_string(),
        };
        let truncated = if ran.truncated() {
            " (output truncated)"
        } else {
            ""
        };
        let from = ran.stderr.len().saturating_sub(STDERR_TAIL_BYTES);
        let tail = String::from_utf8_lossy(&ran.stderr[from..]);
        Err(format!(
            "the {name} command {shown} {how}{truncated}; stderr ends: {}",
            tail.trim_end()
        ))
    }

    /// The working directory: `dir` below the root, or the root.
    fn dir(&self, root: &Path) -> Result<PathBuf, String> {
        let Some(dir) = &self.properties.dir else {
            return Ok(root.to_path_buf());
        };
        let path = confined(root, dir, Parents::MustExist)?;
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => Ok(path),
            Ok(_) => Err(format!("dir {} is not a directory", path.display())),
            Err(e) => Err(format!("dir {}: {e}", path.display())),
        }
    }
}

/// Reads `stream` to its end, handing each chunk to `each`; returns the byte count.
async fn drain(
    stream: Option<impl AsyncRead + Unpin>,
    mut each: impl FnMut(&[u8]),
) -> std::io::Result<u64> {
    let Some(mut stream) = stream else {
        return Ok(0);
    };
    let mut total = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(total);
        }
        total += n as u64;
        each(&buf[..n]);
    }
}

/// Reads `stream` to its end: the sha256 of everything, the first `cap` bytes, the count.
async fn head_and_hash(
    stream: Option<impl AsyncRead + Unpin>,
    cap: usize,
) -> std::io::Result<(String, Vec<u8>, u64)> {
    let mut hash = Sha256Stream::default();
    let mut head = Vec::new();
    let total = drain(stream, |chunk| {
        hash.update(chunk);
        let room = cap.saturating_sub(head.len()).min(chunk.len());
        head.extend_from_slice(&chunk[..room]);
    })
    .await?;
    Ok((hash.finish(), head, total))
}

/// Reads `stream` to its end: its last `cap` bytes and the count.
async fn tail(
    stream: Option<impl AsyncRead + Unpin>,
    cap: usize,
) -> std::io::Result<(Vec<u8>, u64)> {
    let mut kept = Vec::new();
    let total = drain(stream, |chunk| {
        kept.extend_from_slice(chunk);
        // Trim in batches: at most 2 × cap (plus one read) is ever held.
        if kept.len() > 2 * cap {
            kept.drain(..kept.len() - cap);
        }
    })
    .await?;
    if kept.len() > cap {
        kept.drain(..kept.len() - cap);
    }
    Ok((kept, total))
}

/// Kills the process group `group` (the command and everything it started).
fn kill_group(group: u32) {
    let Ok(pgid) = libc::pid_t::try_from(group) else {
        return;
    };
    // SAFETY: kill(2) with a negative pid signals that process group; no memory is passed.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        default_timeout_s: 5,
        max_timeout_s: 10,
        output_cap_bytes: 4096,
    };

    #[test]
    fn properties_are_checked() {
        assert!(CommandSpec::parse(r#"{"apply":["true"]}"#, &LIMITS).is_ok());
        assert!(CommandSpec::parse(r#"{"apply":"true","shell":true}"#, &LIMITS).is_ok());
        for (bad, says) in [
            ("{", "EOF"),
            (r#"{"observe":["x"]}"#, "missing field `apply`"),
            (r#"{"apply":[]}"#, "`apply` is empty"),
            (r#"{"apply":"echo hi"}"#, "shell"),
            (r#"{"apply":["echo"],"shell":true}"#, "one string"),
            (r#"{"apply":["true"],"timeout_s":11}"#, "out of range"),
            (r#"{"apply":["true"],"env":{"A=B":"c"}}"#, "env name"),
            (r#"{"apply":["true"],"user":"root"}"#, "unknown field"),
            (r#"{"apply":[1]}"#, "apply"),
        ] {
            let err = CommandSpec::parse(bad, &LIMITS).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[tokio::test]
    async fn output_is_hashed_whole_kept_capped_and_failures_quote_stderr() {
        let root = tempfile::tempdir().unwrap();
        let spec = CommandSpec::parse(
            r#"{"apply":"head -c 10000 /dev/zero; echo oops >&2; exit 3","observe":"printf $X","env":{"X":"hello"},"shell":true}"#,
            &LIMITS,
        )
        .unwrap();
        let err = spec
            .run(Which::Apply, root.path(), &LIMITS, &[])
            .await
            .unwrap_err();
        assert!(err.contains("exited with status 3"), "{err}");
        assert!(err.contains("(output truncated)"), "{err}");
        assert!(err.ends_with("oops"), "{err}");
        let ran = spec
            .run(Which::Observe, root.path(), &LIMITS, &[])
            .await
            .unwrap();
        assert_eq!(ran.stdout, b"hello");
        assert_eq!(
            ran.stdout_sha256,
            super::super::digest::sha256_hex(b"hello")
        );
        assert!(spec
            .run(Which::Delete, root.path(), &LIMITS, &[])
            .await
            .is_err());
    }

    #[tokio::test]
    async fn the_call_is_in_the_environment_and_the_resource_env_wins_a_clash() {
        let root = tempfile::tempdir().unwrap();
        let spec = CommandSpec::parse(
            r#"{"apply":"printf '%s %s' \"$MOOR_STEP\" \"$MOOR_FENCE_TOKEN\"","shell":true,"env":{"MOOR_FENCE_TOKEN":"mine"}}"#,
            &LIMITS,
        )
        .unwrap();
        let call_env = [
            ("MOOR_STEP", "4".to_string()),
            ("MOOR_FENCE_TOKEN", "9".into()),
        ];
        let ran = spec
            .run(Which::Apply, root.path(), &LIMITS, &call_env)
            .await
            .unwrap();
        assert_eq!(ran.stdout, b"4 mine");
    }

    #[tokio::test]
    async fn argv_is_not_interpreted_by_a_shell_and_runs_in_dir() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("sub")).unwrap();
        let spec = CommandSpec::parse(
            r#"{"apply":["sh","-c","pwd; echo \"$0\"", "$HOME;x"],"dir":"sub"}"#,
            &LIMITS,
        )
        .unwrap();
        let ran = spec
            .run(Which::Apply, root.path(), &LIMITS, &[])
            .await
            .unwrap();
        let out = String::from_utf8(ran.stdout).unwrap();
        assert!(out.ends_with("/sub\n$HOME;x\n"), "{out}");
        let escape = CommandSpec::parse(r#"{"apply":["true"],"dir":"../"}"#, &LIMITS).unwrap();
        assert!(escape
            .run(Which::Apply, root.path(), &LIMITS, &[])
            .await
            .unwrap_err()
            .contains(".."));
    }
}
