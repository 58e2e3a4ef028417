//! Parsers of single values (an endpoint, a `--member`, a name, `NAME@REV`, `KEY=VALUE`, ...)
//! and the types they give. Each error says what is wrong and shows the expected form.

use std::fmt;
use std::path::PathBuf;

use super::DEFAULT_ENDPOINT;

/// A blueprint name with an optional revision: `webshop` or `webshop@3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameRev {
    pub name: String,
    /// `None`: the latest revision.
    pub revision: Option<u64>,
}

impl fmt::Display for NameRev {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.revision {
            Some(r) => write!(f, "{}@{r}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// One `--member ID=ADDR` of `cluster init`: ADDR is the member's peer address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSpec {
    pub id: u64,
    pub addr: String,
}

/// Checks a `host:port` address: a non-empty host (IPv6 in brackets) and a port from 1 to
/// 65535. The message says what is wrong and shows an example.
fn check_host_port(addr: &str) -> Result<(), String> {
    let Some((host, port)) = addr.rsplit_once(':') else {
        return Err(format!(
            "{addr:?} has no port; expected host:port, e.g. 10.0.0.5:7401"
        ));
    };
    if host.is_empty() {
        return Err(format!(
            "{addr:?} has no host; expected host:port, e.g. 10.0.0.5:7401"
        ));
    }
    if host.contains(['/', ' ', '@']) {
        return Err(format!(
            "{host:?} is not a host name or IP address; expected host:port, e.g. 10.0.0.5:7401"
        ));
    }
    let bracketed = host.starts_with('[') && host.ends_with(']');
    if host.contains(':') && !bracketed {
        return Err(format!(
            "{addr:?}: write an IPv6 address in brackets, e.g. [::1]:7401"
        ));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!(
            "port {port:?} in {addr:?} is not a number from 1 to 65535"
        )),
    }
}

/// Parses one `--endpoints` entry (also one of a context's `endpoints`). `https://` in front
/// is accepted and dropped. `http://` is refused: a scheme does not choose the transport
/// (TLS unless `--insecure-plaintext`), and accepting it would suggest it does.
pub fn parse_endpoint(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err(format!(
            "an endpoint is empty; give comma-separated host:port, e.g. {DEFAULT_ENDPOINT},10.0.0.6:7401"
        ));
    }
    if s.starts_with("http://") {
        return Err(format!(
            "{s:?}: give host:port without http://; moorctl uses TLS unless \
             --insecure-plaintext is given"
        ));
    }
    let addr = s.strip_prefix("https://").unwrap_or(s);
    let addr = addr.strip_suffix('/').unwrap_or(addr);
    check_host_port(addr)?;
    Ok(addr.to_string())
}

/// Parses a member address (as peers will dial it): plain `host:port`, no scheme.
pub fn parse_member_addr(s: &str) -> Result<String, String> {
    if s.contains("://") {
        return Err(format!(
            "{s:?}: give a member address as host:port without a scheme, e.g. 10.0.0.5:7401"
        ));
    }
    check_host_port(s)?;
    Ok(s.to_string())
}

/// One `--member ID[=PEER_ADDR]` of `cluster bootstrap`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoterSpec {
    pub id: u64,
    /// The member's peer address; `None`: the address the member reports.
    pub peer_addr: Option<String>,
}

/// Parses `--member ID` or `--member ID=PEER_ADDR` of `cluster bootstrap`.
pub fn parse_voter(s: &str) -> Result<VoterSpec, String> {
    if !s.contains('=') {
        let id = s.trim().parse::<u64>().map_err(|_| {
            format!(
                "{s:?} is not in the form ID or ID=PEER_HOST:PORT; e.g. --member 1 or \
                 --member 1=10.0.0.5:7402"
            )
        })?;
        return Ok(VoterSpec {
            id,
            peer_addr: None,
        });
    }
    let m = parse_member(s)?;
    Ok(VoterSpec {
        id: m.id,
        peer_addr: Some(m.addr),
    })
}

/// Parses a context name: letters, digits, `.`, `_` and `-`.
pub fn parse_context_name(s: &str) -> Result<String, String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if s.is_empty() || s.len() > 100 || !s.chars().all(ok) {
        return Err(format!(
            "{s:?} is not a context name: use letters, digits, '.', '_' and '-', e.g. prod-eu"
        ));
    }
    Ok(s.to_string())
}

/// Parses a TLS server name: a DNS name or an IP address, no port or scheme.
pub fn parse_server_name(s: &str) -> Result<String, String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':');
    if s.is_empty() || !s.chars().all(ok) || s.contains("://") {
        return Err(format!(
            "{s:?} is not a server name: give the DNS name (or IP address) the members' \
             certificates are issued for, e.g. moor.internal"
        ));
    }
    Ok(s.to_string())
}

/// Parses a token id (as `auth token list` shows it): not empty, no whitespace.
pub fn parse_token_id(s: &str) -> Result<String, String> {
    parse_printed_id(s, "a token id", "t7", "moorctl auth token list")
}

/// Parses a name pattern (`*` matches any run of characters): not empty, no whitespace.
pub fn parse_pattern(s: &str) -> Result<String, String> {
    if s.is_empty() || s.contains(char::is_whitespace) {
        return Err(format!(
            "{s:?} is not a name pattern: a name, `*` matching any run of characters, e.g. \
             web-* (quote it for the shell)"
        ));
    }
    Ok(s.to_string())
}

/// Parses `--member ID=ADDR`.
pub fn parse_member(s: &str) -> Result<MemberSpec, String> {
    const EXAMPLE: &str = "e.g. --member 1=10.0.0.5:7401";
    let Some((id, addr)) = s.split_once('=') else {
        return Err(format!("{s:?} is not in the form ID=HOST:PORT; {EXAMPLE}"));
    };
    let id = id.trim().parse::<u64>().map_err(|_| {
        format!("member id {id:?} in {s:?} is not a non-negative integer; {EXAMPLE}")
    })?;
    let addr = parse_member_addr(addr.trim()).map_err(|e| format!("{e}; {EXAMPLE}"))?;
    Ok(MemberSpec { id, addr })
}

/// Parses a name of a blueprint, site, environment: not empty and no `@` or `=` (the server
/// checks the rest, and says what a valid name is).
pub fn parse_name(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("a name must not be empty".to_string());
    }
    if s.contains(['@', '=', '/', ' ']) {
        return Err(format!(
            "{s:?} is not a name: use lower-case letters, digits and dashes, e.g. web-1"
        ));
    }
    Ok(s.to_string())
}

/// Parses an execution id (as `exec start` prints it, e.g. `x12`).
pub fn parse_id(s: &str) -> Result<String, String> {
    parse_printed_id(s, "an execution id", "x12", "moorctl exec list")
}

/// Parses `NAME` or `NAME@REV`, REV a revision number from 1.
pub fn parse_name_rev(s: &str) -> Result<NameRev, String> {
    const EXAMPLE: &str = "e.g. webshop or webshop@3";
    let (name, revision) = match s.split_once('@') {
        None => (s, None),
        Some((name, rev)) => {
            let rev = rev.parse::<u64>().ok().filter(|r| *r > 0).ok_or_else(|| {
                format!("revision {rev:?} in {s:?} is not a number from 1; {EXAMPLE}")
            })?;
            (name, Some(rev))
        }
    };
    let name = parse_name(name).map_err(|e| format!("{s:?}: {e}; {EXAMPLE}"))?;
    Ok(NameRev { name, revision })
}

/// Parses `KEY=VALUE` of `--label`.
pub fn parse_label(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!(
            "{s:?} is not in the form KEY=VALUE, e.g. --label tier=edge"
        )),
    }
}

/// Parses `KEY=VALUE` of `--input`: VALUE is JSON when it parses as JSON (`3`, `true`,
/// `["a"]`, `"1.10"`), else the text itself as a string.
pub fn parse_input(s: &str) -> Result<(String, serde_json::Value), String> {
    let Some((k, v)) = s.split_once('=').filter(|(k, _)| !k.is_empty()) else {
        return Err(format!(
            "{s:?} is not in the form KEY=VALUE, e.g. --input replicas=3 or --input image=shop:1.4"
        ));
    };
    let value = serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.into()));
    Ok((k.to_string(), value))
}

/// Parses a file path argument: not empty.
pub fn parse_path(s: &str) -> Result<PathBuf, String> {
    if s.is_empty() {
        return Err("a file name must not be empty; `-` reads standard input".to_string());
    }
    Ok(PathBuf::from(s))
}

/// Parses a variable key: it must not be empty (the server checks the length limit).
pub fn parse_key(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("a key must not be empty".to_string());
    }
    Ok(s.to_string())
}

/// Parses a rollout id (as `rollout start` prints it, e.g. `r3`).
pub fn parse_rollout_id(s: &str) -> Result<String, String> {
    parse_printed_id(s, "a rollout id", "r3", "moorctl rollout list")
}

/// Parses an id as moorctl prints it (`what`, e.g. "a rollout id"): not empty, no
/// whitespace. The error shows an `example` and the command that `lists` the ids.
fn parse_printed_id(s: &str, what: &str, example: &str, lists: &str) -> Result<String, String> {
    if s.is_empty() || s.contains(char::is_whitespace) {
        return Err(format!(
            "{s:?} is not {what}; ids look like {example} (see `{lists}`)"
        ));
    }
    Ok(s.to_string())
}
