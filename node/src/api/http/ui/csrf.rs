//! CSRF protection of the map view's forms (every `POST /ui/…`).
//!
//! A form carries a token that only this member can make and only a page of this origin can
//! read: `HMAC-SHA256(key, session)`, where `key` is the member's CSRF key (below) and
//! `session` names who the page was rendered for —
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
//! Where the key comes from: with a secrets key file (`secrets.key_file`, the same file on
//! every member), it is derived from the file's sealing key, so every member makes and
//! accepts the same tokens — a form rendered by one member may be posted to another (a load
//! balancer without session affinity) or after a restart — and it follows a rotation of
//! the file (tokens are made with the first key and accepted under any key still in it).
//! Without the file, it is 32 random bytes made when the member starts (never stored, never
//! sent): a form posted to another member or across a restart is then refused with a
//! message that says to reload the page, and behind a load balancer a browser must stay on
//! one member (session affinity).

use std::sync::Arc;

use axum::http::HeaderMap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::secrets::SecretKeys;

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
pub enum CsrfKey {
    /// Made at start, this process's alone.
    Random([u8; 32]),
    /// Derived from the secrets key file every member reads (followed as it changes).
    Shared(Arc<SecretKeys>),
}

impl CsrfKey {
    /// A fresh random key.
    pub fn random() -> CsrfKey {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        CsrfKey::Random(key)
    }

    /// The key every member with this secrets key file shares.
    pub fn shared(keys: Arc<SecretKeys>) -> CsrfKey {
        CsrfKey::Shared(keys)
    }

    /// Shared when the member has a secrets key file, random otherwise.
    pub fn for_member(secrets: Option<Arc<SecretKeys>>) -> CsrfKey {
        secrets.map_or_else(CsrfKey::random, CsrfKey::shared)
    }

    /// The key that makes tokens: the random one, or the one derived from the file's
    /// sealing key (a key file always holds one).
    fn making_key(&self) -> [u8; 32] {
        match self {
            CsrfKey::Random(k) => *k,
            CsrfKey::Shared(file) => file.current().sealing().ui_csrf_key(),
        }
    }

    /// Every key a token is accepted under.
    fn keys(&self) -> Vec<[u8; 32]> {
        match self {
            CsrfKey::Random(k) => vec![*k],
            CsrfKey::Shared(file) => file.current().ui_csrf_keys(),
        }
    }

    fn mac(key: &[u8; 32], session: &Session) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(&session.bytes());
        mac
    }

    /// The token a form rendered for `session` carries.
    pub fn token(&self, session: &Session) -> String {
        let key = self.making_key();
        URL_SAFE_NO_PAD.encode(Self::mac(&key, session).finalize().into_bytes())
    }

    /// Is `given` the token of `session` (under any key in force)?
    pub fn check(&self, session: &Session, given: &str) -> bool {
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(given.trim()) else {
            return false;
        };
        self.keys()
            .iter()
            .any(|k| Self::mac(k, session).verify_slice(&bytes).is_ok())
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

    /// A key file with `keys` (id, byte) in order.
    fn key_file(dir: &std::path::Path, keys: &[(&str, u8)]) -> std::path::PathBuf {
        use base64::engine::general_purpose::STANDARD;
        let path = dir.join("secrets.keys");
        let text: String = keys
            .iter()
            .map(|(id, b)| format!("{id} {}\n", STANDARD.encode([*b; 32])))
            .collect();
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn members_with_one_key_file_share_tokens_across_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = key_file(dir.path(), &[("k-old", 1)]);
        let a = CsrfKey::shared(Arc::new(SecretKeys::load(&path).unwrap()));
        let b = CsrfKey::shared(Arc::new(SecretKeys::load(&path).unwrap()));
        let s = Session::Cookie("moor_a_b".into());
        let t = a.token(&s);
        assert!(b.check(&s, &t), "another member accepts it");
        assert!(!CsrfKey::random().check(&s, &t));
        // After a rotation (a new key first), old tokens still pass; new ones are the new key's.
        let path = key_file(dir.path(), &[("k-new", 2), ("k-old", 1)]);
        let c = CsrfKey::shared(Arc::new(SecretKeys::load(&path).unwrap()));
        assert!(c.check(&s, &t));
        assert_ne!(c.token(&s), t);
        assert!(a.check(&s, &t));
        // Another file is another cluster.
        let other = tempfile::tempdir().unwrap();
        let path = key_file(other.path(), &[("k-old", 3)]);
        let d = CsrfKey::shared(Arc::new(SecretKeys::load(&path).unwrap()));
        assert!(!d.check(&s, &t));
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
