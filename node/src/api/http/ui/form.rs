//! The map view's forms, both ends: what a page offers one caller ([`offer`]: the CSRF
//! token of the caller's session and the actions the caller's role allows), and what a POST
//! must pass before its handler acts ([`accept`]: same origin, a bounded body, the CSRF
//! token of the session that sends it).

use std::collections::BTreeMap;

use axum::extract::Request;
use axum::http::header::HOST;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use moor_dashboard::query::decode_component;
use moor_dashboard::{Forms, CSRF_FIELD};
use moor_domain::auth::operation::Operation;

use super::csrf::{same_origin, CsrfKey, Session};
use super::{problem, COOKIE};
use crate::api::auth::caller;
use crate::raft::member::Member;

/// Largest form body accepted (a login token or a CSRF token and nothing else).
pub const MAX_FORM_BYTES: usize = 4096;

/// The value of cookie `name`, if the request carries a non-empty one.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .find_map(|c| c.strip_prefix(prefix.as_str()))
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// Whose session a request is: its page cookie, else the identity the gate admitted.
pub fn session_of(headers: &HeaderMap) -> Session {
    if let Some(token) = cookie(headers, COOKIE) {
        return Session::Cookie(token);
    }
    match caller::current().and_then(|c| c.principal) {
        Some(p) => Session::Identity(p.who()),
        None => Session::Anonymous,
    }
}

/// The forms a page may show this request's caller: its CSRF token, and which of `actions`
/// (a word and the operation it is) its role allows. Without an identity (authentication
/// off) every action is offered; the server checks each POST either way.
pub fn offer(
    key: &CsrfKey,
    member: &Member,
    headers: &HeaderMap,
    actions: &[(&str, Operation)],
) -> Forms {
    let identity = caller::current().and_then(|c| c.identity);
    let allowed = match identity {
        None => actions.iter().map(|(w, _)| w.to_string()).collect(),
        Some(identity) => {
            let ops = {
                let state = member.state.read().expect("state lock poisoned");
                state.auth.operations_for(&identity)
            };
            actions
                .iter()
                .filter(|(_, op)| ops.contains(op))
                .map(|(w, _)| w.to_string())
                .collect()
        }
    };
    Forms {
        csrf: key.token(&session_of(headers)),
        allowed,
    }
}

/// A form's fields, decoded.
#[derive(Debug, Default)]
pub struct Posted {
    fields: BTreeMap<String, String>,
}

impl Posted {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    fn parse(body: &[u8]) -> Posted {
        let text = String::from_utf8_lossy(body);
        let fields = text
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .filter_map(|(k, v)| Some((decode_component(k)?, decode_component(v)?)))
            .collect();
        Posted { fields }
    }
}

/// The checks every POST of the map view passes, in order: not from another site
/// (`Origin`, `Sec-Fetch-Site`), a body of at most [`MAX_FORM_BYTES`], and the CSRF token
/// of the session `session` finds in the request (None: the request has none, e.g. a login
/// without the login page's cookie). A refusal is a page that says what to do; the handler
/// has not acted.
pub async fn accept(
    key: &CsrfKey,
    request: Request,
    session: impl FnOnce(&HeaderMap) -> Option<Session>,
    back: &str,
) -> Result<Posted, Response> {
    let (parts, body) = request.into_parts();
    let host = parts
        .headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()));
    if let Err(why) = same_origin(&parts.headers, host) {
        tracing::info!(path = %parts.uri.path(), %why, "map view POST refused");
        return Err(problem(StatusCode::FORBIDDEN, "Refused", &why, back));
    }
    let body = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| {
            problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Refused",
                &format!("the form is larger than {MAX_FORM_BYTES} bytes"),
                back,
            )
        })?;
    let posted = Posted::parse(&body);
    let valid = match (session(&parts.headers), posted.get(CSRF_FIELD)) {
        (Some(session), Some(token)) => key.check(&session, token),
        _ => false,
    };
    if !valid {
        tracing::info!(path = %parts.uri.path(), "map view POST without a valid CSRF token");
        return Err(problem(
            StatusCode::FORBIDDEN,
            "Refused",
            "the form carries no valid CSRF token (it expires when you log in again; without \
             a shared secrets key file also when the member restarts, and each member has \
             its own): reload the page and submit again",
            back,
        ));
    }
    Ok(posted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_decoded() {
        let p = Posted::parse(b"csrf=a%2Db_c&token=moor_x+y&empty=&bad");
        assert_eq!(p.get("csrf"), Some("a-b_c"));
        assert_eq!(p.get("token"), Some("moor_x y"));
        assert_eq!(p.get("empty"), Some(""));
        assert_eq!(p.get("bad"), None);
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::header::COOKIE,
            "a=1; moor_token=moor_x_y; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&h, "moor_token").as_deref(), Some("moor_x_y"));
        assert_eq!(cookie(&h, "moor"), None);
        assert_eq!(session_of(&h), Session::Cookie("moor_x_y".into()));
        assert_eq!(session_of(&HeaderMap::new()), Session::Anonymous);
    }
}
