//! A damaged cache is deleted, re-created and fetched into again, once.

mod support;

use support::Fixture;

fn fetched_fixture() -> (Fixture, String) {
    let fx = Fixture::new();
    fx.write(&[("blueprints/web.yaml", "name: web\n")]);
    let commit = fx.commit_and_push("first");
    assert_eq!(fx.fetch("blueprints").expect("fetch").commit, commit);
    (fx, commit)
}

fn repo_dir(fx: &Fixture) -> std::path::PathBuf {
    fx.cache.join("repo.git")
}

#[test]
fn garbage_in_head_is_recovered() {
    let (fx, commit) = fetched_fixture();
    std::fs::write(repo_dir(&fx).join("HEAD"), "garbage\0\u{1}").expect("write");
    assert_eq!(fx.fetch("blueprints").expect("recovered").commit, commit);
    let head = std::fs::read_to_string(repo_dir(&fx).join("HEAD")).expect("HEAD");
    assert!(head.starts_with("ref: refs/heads/"), "re-created: {head:?}");
}

#[test]
fn a_deleted_objects_dir_is_recovered() {
    let (fx, commit) = fetched_fixture();
    std::fs::remove_dir_all(repo_dir(&fx).join("objects")).expect("rm");
    assert_eq!(fx.fetch("blueprints").expect("recovered").commit, commit);
    assert!(repo_dir(&fx).join("objects/pack").is_dir(), "re-created");
}

#[test]
fn deleted_packs_under_a_current_ref_are_recovered() {
    // The tracking ref still names the remote's tip, so gix sees nothing to fetch: the
    // missing commit shows only when it is read.
    let (fx, commit) = fetched_fixture();
    let packs = repo_dir(&fx).join("objects/pack");
    for entry in std::fs::read_dir(&packs).expect("packs") {
        std::fs::remove_file(entry.expect("entry").path()).expect("rm");
    }
    let snapshot = fx.fetch("blueprints").expect("recovered");
    assert_eq!(snapshot.commit, commit);
    assert_eq!(
        support::content(&snapshot, "blueprints/web.yaml"),
        "name: web\n"
    );
}

#[test]
fn garbage_config_and_refs_are_recovered() {
    let (fx, commit) = fetched_fixture();
    std::fs::write(repo_dir(&fx).join("config"), "[core\n\u{0}bare = maybe").expect("write");
    assert_eq!(fx.fetch("blueprints").expect("recovered").commit, commit);
    let config = std::fs::read_to_string(repo_dir(&fx).join("config")).expect("config");
    assert!(config.contains("bare = true"), "re-created: {config:?}");

    let tracking = repo_dir(&fx).join("refs/remotes/origin/main");
    std::fs::create_dir_all(tracking.parent().expect("parent")).expect("mkdir");
    std::fs::write(&tracking, "not a hash\n").expect("write");
    assert_eq!(fx.fetch("blueprints").expect("recovered").commit, commit);
}

#[test]
fn other_files_in_the_cache_dir_are_left_alone() {
    let (fx, commit) = fetched_fixture();
    std::fs::write(fx.cache.join("keep.txt"), "mine").expect("write");
    std::fs::write(repo_dir(&fx).join("HEAD"), "garbage").expect("write");
    assert_eq!(fx.fetch("blueprints").expect("recovered").commit, commit);
    assert_eq!(
        std::fs::read_to_string(fx.cache.join("keep.txt")).expect("kept"),
        "mine"
    );
}
