//! Fetching from real repositories over `file://`: what is read, how changes and force-pushes
//! are followed, and the errors of a wrong branch, a wrong path and the limits.

mod support;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::time::Instant;

use moor_git::{GitError, Limit, Limits, Remote};
use support::{content, git, git_os, paths, Fixture, NO_INTERRUPT};

fn blueprints_fixture() -> Fixture {
    let fx = Fixture::new();
    fx.write(&[
        ("blueprints/web.yaml", "name: web\n"),
        ("blueprints/db/postgres.yml", "name: postgres\n"),
        ("blueprints/README.md", "not a blueprint\n"),
        ("blueprints/notes.yaml.txt", "not a blueprint either\n"),
        ("blueprints/UPPER.YAML", "name: upper\n"),
        ("other/elsewhere.yaml", "outside the path\n"),
        ("top.yaml", "outside the path\n"),
    ]);
    fx
}

#[test]
fn first_fetch_returns_the_commit_and_the_yaml_files_under_the_path_only() {
    let fx = blueprints_fixture();
    let commit = fx.commit_and_push("first");

    let started = Instant::now();
    let snapshot = fx.fetch("blueprints").expect("fetch");
    eprintln!("first fetch: {:?}", started.elapsed());

    assert_eq!(snapshot.commit, commit);
    assert_eq!(
        paths(&snapshot),
        [
            "blueprints/UPPER.YAML",
            "blueprints/db/postgres.yml",
            "blueprints/web.yaml"
        ]
    );
    assert_eq!(content(&snapshot, "blueprints/web.yaml"), "name: web\n");
    assert_eq!(
        content(&snapshot, "blueprints/db/postgres.yml"),
        "name: postgres\n"
    );
}

#[test]
fn the_whole_repository_is_read_for_an_empty_or_root_path() {
    let fx = blueprints_fixture();
    fx.commit_and_push("first");
    for subpath in ["", "/", "./"] {
        let snapshot = fx.fetch(subpath).expect("fetch");
        assert_eq!(
            paths(&snapshot),
            [
                "blueprints/UPPER.YAML",
                "blueprints/db/postgres.yml",
                "blueprints/web.yaml",
                "other/elsewhere.yaml",
                "top.yaml"
            ],
            "subpath {subpath:?}"
        );
    }
    // Leading and trailing slashes do not matter.
    let snapshot = fx.fetch("/blueprints/db/").expect("fetch");
    assert_eq!(paths(&snapshot), ["blueprints/db/postgres.yml"]);
}

#[test]
fn symlinks_submodules_and_non_utf8_names_are_skipped() {
    let fx = blueprints_fixture();
    std::os::unix::fs::symlink("web.yaml", fx.work.join("blueprints/link.yaml")).expect("symlink");
    std::os::unix::fs::symlink("/etc", fx.work.join("blueprints/etc")).expect("symlink");
    let bad_name = OsStr::from_bytes(b"blueprints/bad-\xff.yaml");
    std::fs::write(fx.work.join(bad_name), "name: bad\n").expect("write");
    git(&fx.work, &["add", "--all"]);
    // A submodule entry (a gitlink) named like a blueprint.
    let gitlink = format!("160000,{},blueprints/module.yaml", "1".repeat(40));
    git(
        &fx.work,
        &["update-index", "--add", "--cacheinfo", &gitlink],
    );
    let listed = git_os(&fx.work, [OsStr::new("ls-files")]);
    assert!(
        listed.contains("link.yaml") && listed.contains("module.yaml"),
        "{listed}"
    );
    let commit = fx.commit_and_push("odd entries");

    let snapshot = fx.fetch("blueprints").expect("fetch");
    assert_eq!(snapshot.commit, commit);
    assert_eq!(
        paths(&snapshot),
        [
            "blueprints/UPPER.YAML",
            "blueprints/db/postgres.yml",
            "blueprints/web.yaml"
        ]
    );
}

#[test]
fn a_new_commit_is_fetched_and_an_unchanged_branch_refetches_the_same_commit() {
    let fx = blueprints_fixture();
    let first = fx.commit_and_push("first");
    assert_eq!(fx.fetch("blueprints").expect("fetch").commit, first);

    fx.write(&[("blueprints/web.yaml", "name: web\nreplicas: 3\n")]);
    let second = fx.commit_and_push("second");
    let snapshot = fx.fetch("blueprints").expect("fetch");
    assert_eq!(snapshot.commit, second);
    assert_eq!(
        content(&snapshot, "blueprints/web.yaml"),
        "name: web\nreplicas: 3\n"
    );
    assert_eq!(
        content(&snapshot, "blueprints/db/postgres.yml"),
        "name: postgres\n"
    );

    let started = Instant::now();
    let again = fx.fetch("blueprints").expect("fetch");
    eprintln!("unchanged refetch: {:?}", started.elapsed());
    assert_eq!(again, snapshot);
}

#[test]
fn a_force_push_is_followed() {
    let fx = blueprints_fixture();
    fx.commit_and_push("first");
    fx.write(&[("blueprints/web.yaml", "name: web\nversion: 2\n")]);
    let rewritten = fx.commit_and_push("second, soon rewritten");
    assert_eq!(fx.fetch("blueprints").expect("fetch").commit, rewritten);

    git(&fx.work, &["reset", "--quiet", "--hard", "HEAD~1"]);
    fx.write(&[("blueprints/web.yaml", "name: web\nversion: 3\n")]);
    let replacement = fx.commit_and_push("replacement");
    assert_ne!(replacement, rewritten);

    let snapshot = fx.fetch("blueprints").expect("fetch");
    assert_eq!(snapshot.commit, replacement);
    assert_eq!(
        content(&snapshot, "blueprints/web.yaml"),
        "name: web\nversion: 3\n"
    );
}

#[test]
fn other_branches_are_fetched_by_name() {
    let fx = blueprints_fixture();
    let main = fx.commit_and_push("first");
    fx.write(&[("blueprints/web.yaml", "name: web\nstage: next\n")]);
    git(&fx.work, &["add", "--all"]);
    git(&fx.work, &["commit", "--quiet", "-m", "next"]);
    git(
        &fx.work,
        &["push", "--quiet", "origin", "HEAD:refs/heads/release/next"],
    );
    let next = fx.head();

    for branch in ["release/next", "refs/heads/release/next"] {
        let remote = Remote::new(fx.url(), branch);
        let snapshot = moor_git::fetch(
            &fx.cache,
            &remote,
            "blueprints",
            &Limits::default(),
            &NO_INTERRUPT,
        )
        .expect("fetch");
        assert_eq!(snapshot.commit, next);
    }
    assert_eq!(fx.fetch("blueprints").expect("fetch").commit, main);
}

#[test]
fn a_plain_local_path_works_like_a_file_url() {
    let fx = blueprints_fixture();
    let commit = fx.commit_and_push("first");
    let remote = Remote::new(fx.origin.to_str().expect("UTF-8 path"), "main");
    let snapshot = moor_git::fetch(
        &fx.cache,
        &remote,
        "blueprints",
        &Limits::default(),
        &NO_INTERRUPT,
    )
    .expect("fetch");
    assert_eq!(snapshot.commit, commit);
}

#[test]
fn an_unknown_branch_is_named_in_the_error() {
    let fx = blueprints_fixture();
    fx.commit_and_push("first");
    let remote = Remote::new(fx.url(), "no-such-branch");
    let err = moor_git::fetch(
        &fx.cache,
        &remote,
        "blueprints",
        &Limits::default(),
        &NO_INTERRUPT,
    )
    .expect_err("no such branch");
    assert!(
        matches!(&err, GitError::BranchNotFound { branch, .. } if branch == "no-such-branch"),
        "{err:?}"
    );
    assert!(err.to_string().contains("\"no-such-branch\""), "{err}");
}

#[test]
fn a_missing_path_names_the_path_and_the_commit() {
    let fx = blueprints_fixture();
    let commit = fx.commit_and_push("first");
    let err = fx.fetch("/no/such/dir/").expect_err("no such path");
    assert!(
        matches!(&err, GitError::PathNotFound { path, commit: c } if path == "no/such/dir" && *c == commit),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("no/such/dir") && text.contains(&commit),
        "{text}"
    );

    let err = fx.fetch("blueprints/web.yaml").expect_err("a file");
    assert!(matches!(err, GitError::NotADirectory { .. }), "{err:?}");
}

#[test]
fn a_file_over_max_file_bytes_is_named() {
    let fx = blueprints_fixture();
    fx.write(&[("blueprints/big.yaml", &"x".repeat(2000))]);
    fx.commit_and_push("big");
    let limits = Limits {
        max_file_bytes: 1000,
        ..Limits::default()
    };
    let err = fx.fetch_with("blueprints", &limits).expect_err("too big");
    assert!(
        matches!(
            &err,
            GitError::LimitExceeded { limit: Limit::MaxFileBytes, path, actual: 2000, max: 1000, .. }
                if path == "blueprints/big.yaml"
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("blueprints/big.yaml") && text.contains("max_file_bytes"),
        "{text}"
    );
    // Files that are not read do not count.
    assert!(fx.fetch_with("other", &limits).is_ok());
}

#[test]
fn too_many_files_or_too_many_bytes_fail_the_whole_read() {
    let fx = blueprints_fixture();
    fx.commit_and_push("first");
    let limits = Limits {
        max_files: 2,
        ..Limits::default()
    };
    let err = fx.fetch_with("blueprints", &limits).expect_err("too many");
    assert!(
        matches!(
            &err,
            GitError::LimitExceeded {
                limit: Limit::MaxFiles,
                max: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("max_files"), "{err}");
    // Exactly at the limit is fine.
    let limits = Limits {
        max_files: 3,
        ..Limits::default()
    };
    assert_eq!(
        fx.fetch_with("blueprints", &limits)
            .expect("fetch")
            .files
            .len(),
        3
    );

    let limits = Limits {
        max_total_bytes: 20,
        ..Limits::default()
    };
    let err = fx
        .fetch_with("blueprints", &limits)
        .expect_err("too many bytes");
    assert!(
        matches!(
            &err,
            GitError::LimitExceeded {
                limit: Limit::MaxTotalBytes,
                max: 20,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn extensions_are_configurable() {
    let fx = blueprints_fixture();
    fx.commit_and_push("first");
    let limits = Limits {
        extensions: vec![".md".to_string()],
        ..Limits::default()
    };
    let snapshot = fx.fetch_with("blueprints", &limits).expect("fetch");
    assert_eq!(paths(&snapshot), ["blueprints/README.md"]);
}

#[test]
fn a_missing_origin_is_unreachable() {
    let fx = Fixture::new();
    let remote = Remote::new(
        format!("file://{}/nowhere.git", fx.tmp.path().display()),
        "main",
    );
    let err = moor_git::fetch(&fx.cache, &remote, "", &Limits::default(), &NO_INTERRUPT)
        .expect_err("no origin");
    assert!(matches!(err, GitError::Unreachable { .. }), "{err:?}");
}

#[test]
fn an_empty_origin_has_no_branch() {
    let fx = Fixture::new();
    let err = fx.fetch("").expect_err("empty origin");
    assert!(matches!(err, GitError::BranchNotFound { .. }), "{err:?}");
}

#[test]
fn an_interrupted_fetch_says_so() {
    let fx = blueprints_fixture();
    fx.commit_and_push("first");
    let interrupt = std::sync::atomic::AtomicBool::new(true);
    let err = moor_git::fetch(
        &fx.cache,
        &fx.remote("main"),
        "",
        &Limits::default(),
        &interrupt,
    )
    .expect_err("interrupted");
    assert!(matches!(err, GitError::Interrupted { .. }), "{err:?}");
    // The cache is usable afterwards.
    assert!(fx.fetch("").is_ok());
}

#[test]
fn a_cache_dir_that_is_a_file_is_unusable() {
    let fx = blueprints_fixture();
    fx.commit_and_push("first");
    std::fs::write(&fx.cache, "a file").expect("write");
    let err = fx.fetch("").expect_err("a file");
    assert!(
        matches!(&err, GitError::CacheDirUnusable { path, .. } if *path == fx.cache),
        "{err:?}"
    );
}
