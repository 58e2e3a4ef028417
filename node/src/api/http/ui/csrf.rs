//! CSRF protection of the map view's forms (every `POST /ui/…`).
//!
//! A form carries a token that only this member can make and only a page of this origin can
//! read: `HMAC-SHA256(key, session)`, where `key` is 32 random bytes made when the member
//! starts (never stored, never sent) and `session` names who the page was rendered for —
//! the `moor_token` cookie's value when there is one, else the caller's identity (a client
//! certificate is sent by browsers as ambiently as a cookie), and for the login form a
//! random nonce the login page puts in a short-lived cookie. A cross-site page can make the
//! browser send the cookie (not with `SameSite=Strict`, but older browsers and subdomains
//! exist) but cannot read a page to learn the token, and cannot compute it without the key.
//! The comparison is `hmac`'s `verify_slice` (constant time).
//!
//! Independently, a POST whose `Sec-Fetch-Site` says another site, or whose `Origin` names
//! another host than the request's, is refused before anything else is read.
//!
//! The key is per member and per process: a form rendered by one member and posted to
//! another, or across a restart, is refused with a message that says to reload the page.
//! Behind a load balancer, keep a browser on one member (session affinity).

use axum::http::HeaderMap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// What a CSRF token is bound to, as the token input spells it (the kinds cannot collide).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Session {
    /// The `moor_token` cookie's value.
    Cookie(String),
    /// A caller without the cookie (a client certificate, a bearer header): its identity.
    Identity(String),
    /// Nobody (authentication off).
    Anonymous,
    /// The login form: the nonce of the login page's cookie.
    Login(String),
}

impl Session {
    fn bytes(&self) -> Vec<u8> {
        let (kind, value) = match self {
            Session::Cookie(v) => ("cookie", v.as_str()),
            Session::Identity(v) => ("identity", v.as_str()),
            Session::Anonymous => ("anonymous", ""),
            Session::Login(v) => ("login", v.as_str()),
        };
        format!("moor-ui-csrf:v1\0{kind}\0{value}").into_bytes()
    }
}

/// This member's CSRF key.
pub struct CsrfKey([u8; 32]);

impl CsrfKey {
    /// A fresh random key.
    pub fn random() -> CsrfKey {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        CsrfKey(key)
    }

    fn mac(&self, session: &Session) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(&session.bytes());
        mac
    }

    /// The token a form rendered for `session` carries.
    pub fn token(&self, session: &Session) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(session).finalize().into_bytes())
    }

    /// Is `given` the token of `session`?
    pub fn check(&self, session: &Session, given: &str) -> bool {
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(given.trim()) else {
            return false;
        };
        self.mac(session).verify_slice(&bytes).is_ok()
    }
}

/// A fresh random nonce for the login form's cookie.
pub fn nonce() -> String {
    let mut n = [0u8; 18];
    rand::rng().fill_bytes(&mut n);
    URL_SAFE_NO_PAD.encode(n)
}

/// Refuses a request that a browser says comes from another site: `Sec-Fetch-Site` other
/// than `same-origin` or `none` (typed by the user), or an `Origin` whose host is not the
/// request's `host` (the `Host` header, or the URI's authority under HTTP/2). Requests
/// without either header (not a browser, or an old one) pass: the CSRF token still applies.
pub fn same_origin(headers: &HeaderMap, host: Option<&str>) -> Result<(), String> {
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.to_str().unwrap_or("");
        if site != "same-origin" && site != "none" {
            return Err(format!(
                "refused a request from another site (Sec-Fetch-Site: {site}): \
                 use the forms of this member's own pages"
            ));
        }
    }
    let Some(origin) = headers.get("origin") else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("");
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    match (origin_host, host) {
        (Some(o), Some(h)) if o.eq_ignore_ascii_case(h) => Ok(()),
        _ => Err(format!(
            "refused a request from another origin (Origin: {origin}, this member: {}): \
             use the forms of this member's own pages",
            host.unwrap_or("unknown")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_of_the_session_is_accepted() {
        let key = CsrfKey::random();
        let s = Session::Cookie("moor_a_b".into());
        let t = key.token(&s);
        assert!(key.check(&s, &t));
        assert_eq!(t, key.token(&s), "stable for a session");
    }

    #[test]
    fn a_wrong_or_malformed_token_is_refused() {
        let key = CsrfKey::random();
        let s = Session::Cookie("moor_a_b".into());
        let mut t = key.token(&s);
        let first = if t.starts_with('A') { "B" } else { "A" };
        t.replace_range(..1, first);
        assert!(!key.check(&s, &t));
        assert!(!key.check(&s, ""));
        assert!(!key.check(&s, "not base64 !!"));
        assert!(!key.check(&s, &key.token(&s)[..10]), "a prefix");
    }

    #[test]
    fn another_sessions_token_is_refused() {
        let key = CsrfKey::random();
        let mine = Session::Cookie("moor_a_b".into());
        let t = key.token(&mine);
        assert!(!key.check(&Session::Cookie("moor_c_d".into()), &t));
        // The same text as another kind of session is another session.
        assert!(!key.check(&Session::Identity("moor_a_b".into()), &t));
        assert!(!key.check(&Session::Login("moor_a_b".into()), &t));
        assert!(!key.check(&Session::Anonymous, &t));
    }

    #[test]
    fn another_members_token_is_refused() {
        let s = Session::Login(nonce());
        let t = CsrfKey::random().token(&s);
        assert!(!CsrfKey::random().check(&s, &t));
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn cross_site_requests_are_refused() {
        let host = Some("moor.example:7000");
        assert!(same_origin(&headers(&[]), host).is_ok());
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-origin")]), host).is_ok());
        assert!(same_origin(&headers(&[("sec-fetch-site", "cross-site")]), host).is_err());
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-site")]), host).is_err());
        assert!(same_origin(&headers(&[("origin", "https://moor.example:7000")]), host).is_ok());
        assert!(same_origin(&headers(&[("origin", "https://MOOR.example:7000")]), host).is_ok());
        assert!(same_origin(&headers(&[("origin", "https://evil.example")]), host).is_err());
        assert!(same_origin(&headers(&[("origin", "https://moor.example:7001")]), host).is_err());
        assert!(same_origin(&headers(&[("origin", "null")]), host).is_err());
        assert!(same_origin(&headers(&[("origin", "https://moor.example:7000")]), None).is_err());
    }
}
