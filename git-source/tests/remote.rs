//! URLs that are refused before any I/O, remotes that cannot be reached or refuse us, and
//! credentials files; no secret may appear in an error or a `Debug` output.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Instant;

use moor_git::{read_credentials_file, Credentials, GitError, Limits, Remote};
use support::NO_INTERRUPT;

fn fetch(remote: &Remote) -> Result<moor_git::Snapshot, GitError> {
    let cache = tempfile::tempdir().expect("a temporary directory");
    moor_git::fetch(cache.path(), remote, "", &Limits::default(), &NO_INTERRUPT)
}

#[test]
fn ssh_git_and_http_urls_are_refused_with_what_to_use_instead() {
    for url in [
        "ssh://git@github.com/org/repo.git",
        "git@github.com:org/repo.git",
        "git://github.com/org/repo.git",
        "http://github.com/org/repo.git",
    ] {
        let err = fetch(&Remote::new(url, "main")).expect_err(url);
        assert!(
            matches!(err, GitError::UnsupportedScheme { .. }),
            "{url}: {err:?}"
        );
        assert!(err.to_string().contains("https://"), "{url}: {err}");
    }
}

#[test]
fn credentials_are_never_sent_over_http() {
    let remote = Remote {
        credentials: Some(Credentials::Token("tok".to_string())),
        allow_insecure_http: true,
        ..Remote::new("http://127.0.0.1:1/x.git", "main")
    };
    let err = fetch(&remote).expect_err("refused");
    assert!(matches!(err, GitError::UnsupportedScheme { .. }), "{err:?}");
}

#[test]
fn a_url_with_a_password_is_refused_and_redacted() {
    for url in [
        "https://alice:s3cr3t-pw@example.com/org/repo.git",
        "https://s3cr3t-pw@example.com/org/repo.git",
        "http://alice:s3cr3t-pw@example.com/org/repo.git",
    ] {
        let remote = Remote::new(url, "main");
        let err = fetch(&remote).expect_err(url);
        let text = format!("{err} {err:?} {remote:?}");
        assert!(!text.contains("s3cr3t-pw"), "{text}");
        assert!(text.contains("***@example.com"), "{text}");
    }
    let err = fetch(&Remote::new(
        "https://alice:s3cr3t-pw@example.com/x.git",
        "main",
    ))
    .expect_err("refused");
    assert!(matches!(err, GitError::CredentialsInUrl { .. }), "{err:?}");
    assert!(err.to_string().contains("credentials file"), "{err}");
}

#[test]
fn redaction_keeps_everything_but_the_user_information() {
    use moor_git::remote::redact_url;
    assert_eq!(
        redact_url("https://u:p@h.example/a@b"),
        "https://***@h.example/a@b"
    );
    assert_eq!(redact_url("https://h.example/a@b"), "https://h.example/a@b");
    assert_eq!(redact_url("git@h.example:a/b"), "***@h.example:a/b");
    assert_eq!(redact_url("/srv/a@b/repo"), "/srv/a@b/repo");
}

#[test]
fn an_invalid_branch_name_is_refused() {
    let err = fetch(&Remote::new("https://example.com/x.git", "a..b")).expect_err("invalid");
    assert!(
        matches!(
            err,
            GitError::InvalidInput {
                what: "branch name",
                ..
            }
        ),
        "{err:?}"
    );
}

fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[test]
fn a_closed_https_port_is_unreachable_at_once() {
    let url = format!("https://127.0.0.1:{}/x.git", closed_port());
    let started = Instant::now();
    let err = fetch(&Remote::new(&url, "main")).expect_err("closed port");
    eprintln!("closed port: {:?}", started.elapsed());
    assert!(matches!(err, GitError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains(&url), "{err}");
}

/// Answers every HTTP request with `status` and no body, on a thread; returns its port.
fn http_server(status: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let response = format!(
                "HTTP/1.1 {status}\r\nWWW-Authenticate: Basic realm=\"git\"\r\n\
                 Content-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    port
}

#[test]
fn a_remote_that_asks_for_credentials_refuses_authentication() {
    for status in ["401 Unauthorized", "403 Forbidden"] {
        let remote = Remote {
            allow_insecure_http: true,
            ..Remote::new(
                format!("http://127.0.0.1:{}/x.git", http_server(status)),
                "main",
            )
        };
        let err = fetch(&remote).expect_err(status);
        assert!(
            matches!(err, GitError::AuthenticationRefused { .. }),
            "{status}: {err:?}"
        );
        assert!(err.to_string().contains("credentials file"), "{err}");
    }
}

#[test]
fn a_remote_that_is_not_git_is_unreachable() {
    let remote = Remote {
        allow_insecure_http: true,
        ..Remote::new(
            format!("http://127.0.0.1:{}/x.git", http_server("404 Not Found")),
            "main",
        )
    };
    let err = fetch(&remote).expect_err("404");
    assert!(matches!(err, GitError::Unreachable { .. }), "{err:?}");
}

fn credentials_file(content: impl AsRef<[u8]>) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("credentials");
    std::fs::write(&path, content).expect("write");
    (dir, path)
}

#[test]
fn a_credentials_file_holds_a_token_or_user_and_password() {
    let (_dir, path) = credentials_file("ghp_t0ken\n");
    assert_eq!(
        read_credentials_file(&path).expect("token"),
        Credentials::Token("ghp_t0ken".to_string())
    );
    let (_dir, path) = credentials_file("  alice:pa:ss  \r\n");
    assert_eq!(
        read_credentials_file(&path).expect("user and password"),
        Credentials::UserPassword {
            user: "alice".to_string(),
            password: "pa:ss".to_string()
        }
    );
}

#[test]
fn a_bad_credentials_file_is_named_and_its_content_never_shown() {
    let contents: [&[u8]; 6] = [
        b"",
        b" \n",
        b"line1\nline2\n",
        b":secretpw",
        b"alice:",
        b"\xff\xfe",
    ];
    for content in contents {
        let (_dir, path) = credentials_file(content);
        let err = read_credentials_file(&path).expect_err("invalid");
        assert!(
            matches!(&err, GitError::CredentialsFile { path: p, .. } if *p == path),
            "{err:?}"
        );
        let text = format!("{err} {err:?}");
        assert!(text.contains(path.to_str().expect("UTF-8 path")), "{text}");
        assert!(
            !text.contains("secretpw") && !text.contains("line1"),
            "{text}"
        );
    }
    let missing = std::path::Path::new("/nonexistent/credentials");
    let err = read_credentials_file(missing).expect_err("missing");
    assert!(
        err.to_string().contains("/nonexistent/credentials"),
        "{err}"
    );
}

#[test]
fn debug_output_redacts_secrets() {
    let token = Credentials::Token("ghp_s3cr3t".to_string());
    let pair = Credentials::UserPassword {
        user: "alice".to_string(),
        password: "s3cr3t".to_string(),
    };
    let remote = Remote {
        credentials: Some(pair.clone()),
        ..Remote::new("https://bob:s3cr3t@example.com/x.git", "main")
    };
    let text = format!("{token:?} {pair:?} {remote:?} {remote:#?}");
    assert!(!text.contains("s3cr3t"), "{text}");
    assert!(
        text.contains("alice") && text.contains("<redacted>"),
        "{text}"
    );
}
