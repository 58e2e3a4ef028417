//! A browser's session with the map view, over plain HTTP: log in with a token as the login
//! page's form does (its nonce cookie and CSRF token), then send the page cookie. For the
//! tests that read or post the pages without a browser (`map_view.rs`, `secrets.rs`).

use std::time::Duration;

use crate::webhook::{Answer, HookClient};

/// The content type of a posted form.
pub const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

/// The `Set-Cookie` value of an answer's head, if it sets one.
pub fn cookie_of(answer_head: &str) -> Option<String> {
    header_of(answer_head, "set-cookie")
}

/// The `Location` of an answer's head (a redirect), if it has one.
pub fn location_of(answer_head: &str) -> Option<String> {
    header_of(answer_head, "location")
}

fn header_of(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

/// The CSRF token in the first form of `page`.
pub fn csrf_of(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .unwrap_or_else(|| panic!("no CSRF field in:\n{page}"));
    let rest = &page[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap_or(rest.len())].to_string()
}

/// `name=value` of the cookie `answer` sets.
pub fn cookie_pair(answer: &Answer) -> String {
    let set = cookie_of(&answer.head).unwrap_or_else(|| panic!("no cookie in {answer:?}"));
    set.split(';').next().unwrap_or_default().to_string()
}

/// Owned header pairs.
pub fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Logs in with `token` as a browser does (the login page's nonce cookie and CSRF token,
/// then the form); the answer and the page cookie (`moor_token=…`, empty when refused).
pub async fn login(c: &HookClient, token: &str) -> (Answer, String) {
    let page = c
        .get_until("/ui/login", &[], "</html>", Duration::from_secs(10))
        .await
        .expect("the login page");
    assert_eq!(page.status, 200, "{page:?}");
    let nonce = cookie_pair(&page);
    let form = format!("csrf={}&token={token}", csrf_of(&page.body));
    let answer = c
        .post(
            "/ui/login",
            &headers(&[FORM, ("Cookie", &nonce)]),
            form.as_bytes(),
        )
        .await
        .expect("the login answer");
    let cookie = if answer.status == 303 {
        cookie_pair(&answer)
    } else {
        String::new()
    };
    (answer, cookie)
}
