//! What an authenticated delivery says: its event and, for a push, the repository's URLs,
//! the ref and the commit. Only the fields Moor uses are read; a push that lacks one, or
//! has it with the wrong type, is refused with the field named (400), never a crash.
//!
//! - GitHub: the event is `X-GitHub-Event`; `push` (`ref`, `after`, `repository.clone_url` /
//!   `html_url` / `ssh_url` / `git_url`), `ping`; any other event is recorded as ignored.
//! - GitLab: `X-Gitlab-Event: Push Hook` (`ref`, `checkout_sha` or `after`,
//!   `project.git_http_url` / `git_ssh_url` / `web_url`); others ignored.
//! - Standard: the body's `type` (`push` or `ping`) and, for a push,
//!   `data.repository` (a URL), `data.ref`, `data.commit`.

use moor_domain::hooks::receiver::{Payload, ReceiverKind};
use serde_json::Value;
use tonic::codegen::http::HeaderMap;

use super::Refusal;

/// The event name and what it says.
pub fn parse(
    kind: ReceiverKind,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(String, Payload), Refusal> {
    let json: Value = serde_json::from_slice(body).map_err(|e| {
        Refusal::bad_request(format!(
            "the body is not valid JSON ({e}): send application/json"
        ))
    })?;
    if !json.is_object() {
        return Err(Refusal::bad_request("the body must be a JSON object"));
    }
    match kind {
        ReceiverKind::Github => github(headers, &json),
        ReceiverKind::Gitlab => gitlab(headers, &json),
        ReceiverKind::Standard => standard(&json),
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().chars().take(100).collect())
}

/// A string field at `path` (`a.b`), refused by name when missing or not a string.
fn text(json: &Value, path: &str) -> Result<String, Refusal> {
    let mut v = json;
    for part in path.split('.') {
        v = v
            .get(part)
            .ok_or_else(|| Refusal::bad_request(format!("the push payload has no `{path}`")))?;
    }
    v.as_str().map(str::to_string).ok_or_else(|| {
        Refusal::bad_request(format!("`{path}` in the push payload must be a string"))
    })
}

/// The string fields among `paths` that exist (URLs of the repository).
fn urls(json: &Value, paths: &[&str]) -> Vec<String> {
    paths
        .iter()
        .filter_map(|p| {
            let mut v = json;
            for part in p.split('.') {
                v = v.get(part)?;
            }
            v.as_str().map(str::to_string)
        })
        .filter(|u| !u.is_empty())
        .collect()
}

fn no_urls() -> Refusal {
    Refusal::bad_request("the push payload names no repository URL")
}

fn github(headers: &HeaderMap, json: &Value) -> Result<(String, Payload), Refusal> {
    let event = header(headers, "x-github-event")
        .ok_or_else(|| Refusal::bad_request("missing X-GitHub-Event"))?;
    let payload = match event.as_str() {
        "ping" => Payload::Ping,
        "push" => {
            let urls = urls(
                json,
                &[
                    "repository.clone_url",
                    "repository.html_url",
                    "repository.ssh_url",
                    "repository.git_url",
                    "repository.url",
                ],
            );
            if urls.is_empty() {
                return Err(no_urls());
            }
            Payload::Push {
                repository: text(json, "repository.full_name").unwrap_or_default(),
                urls,
                git_ref: text(json, "ref")?,
                commit: text(json, "after")?,
            }
        }
        other => Payload::Other {
            reason: format!("event {other}: only push and ping are handled"),
        },
    };
    Ok((event, payload))
}

fn gitlab(headers: &HeaderMap, json: &Value) -> Result<(String, Payload), Refusal> {
    let event = header(headers, "x-gitlab-event")
        .ok_or_else(|| Refusal::bad_request("missing X-Gitlab-Event"))?;
    let payload = match event.as_str() {
        "Push Hook" => {
            let urls = urls(
                json,
                &[
                    "project.git_http_url",
                    "project.git_ssh_url",
                    "project.web_url",
                    "repository.git_http_url",
                    "repository.git_ssh_url",
                    "repository.homepage",
                ],
            );
            if urls.is_empty() {
                return Err(no_urls());
            }
            let commit = match text(json, "checkout_sha") {
                Ok(c) => c,
                // A deleted branch has a null checkout_sha.
                Err(_) => text(json, "after")?,
            };
            Payload::Push {
                repository: text(json, "project.path_with_namespace").unwrap_or_default(),
                urls,
                git_ref: text(json, "ref")?,
                commit,
            }
        }
        other => Payload::Other {
            reason: format!("event {other}: only Push Hook is handled"),
        },
    };
    Ok((event, payload))
}

fn standard(json: &Value) -> Result<(String, Payload), Refusal> {
    let event = text(json, "type")
        .map_err(|_| Refusal::bad_request("the body has no string `type` (push or ping)"))?;
    let payload = match event.as_str() {
        "ping" => Payload::Ping,
        "push" => {
            let url = text(json, "data.repository")?;
            Payload::Push {
                repository: url.clone(),
                urls: vec![url],
                git_ref: text(json, "data.ref")?,
                commit: text(json, "data.commit")?,
            }
        }
        other => Payload::Other {
            reason: format!("type {other}: only push and ping are handled"),
        },
    };
    Ok((event.chars().take(100).collect(), payload))
}

#[cfg(test)]
#[path = "tests/payload.rs"]
mod tests;
