//! Prints how long `moor_git::fetch` takes over `file://`: the first fetch into an empty
//! cache, a refetch of an unchanged branch (what every poll costs), and a fetch after one
//! changed file. Needs the `git` program.
//!
//! `cargo run --release -p moor-git --example fetch_timing [files] [commits]`
//! (defaults: 500 blueprint files of about 2 KiB, 100 commits).

use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use moor_git::{Limits, Remote};

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@moor.invalid",
        ])
        .args(["-c", "init.defaultBranch=main"])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .status()
        .expect("the git program runs");
    assert!(status.success(), "git {args:?}");
}

fn write_files(work: &Path, files: usize, revision: usize) {
    for i in 0..files {
        let path = work.join(format!("blueprints/team-{}/service-{i}.yaml", i % 20));
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        let body = format!(
            "name: service-{i}\nrevision: {revision}\n{}",
            "# padding\n".repeat(200)
        );
        std::fs::write(path, body).expect("write");
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().expect("a number"));
    let files = args.next().unwrap_or(500);
    let commits = args.next().unwrap_or(100).max(1);
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let (origin, work, cache) = (
        tmp.path().join("origin.git"),
        tmp.path().join("work"),
        tmp.path().join("cache"),
    );
    git(tmp.path(), &["init", "--quiet", "--bare", "origin.git"]);
    git(tmp.path(), &["init", "--quiet", "work"]);
    for revision in 0..commits {
        // Each commit rewrites a tenth of the files, the first writes them all.
        let n = if revision == 0 { files } else { files / 10 };
        write_files(&work, n, revision);
        git(&work, &["add", "--all"]);
        git(&work, &["commit", "--quiet", "-m", "change"]);
    }
    git(
        &work,
        &[
            "push",
            "--quiet",
            origin.to_str().expect("UTF-8"),
            "HEAD:main",
        ],
    );

    let remote = Remote::new(format!("file://{}", origin.display()), "main");
    let limits = Limits {
        max_files: files.max(1000),
        ..Limits::default()
    };
    let stop = AtomicBool::new(false);
    let timed = || {
        let started = Instant::now();
        let snapshot =
            moor_git::fetch(&cache, &remote, "blueprints", &limits, &stop).expect("fetch");
        (started.elapsed(), snapshot)
    };
    let (first, snapshot) = timed();
    let bytes: usize = snapshot.files.iter().map(|f| f.bytes.len()).sum();
    println!("repository: {files} files ({bytes} bytes read), {commits} commits");
    println!("first fetch (empty cache):     {first:?}");
    let unchanged = median((0..20).map(|_| timed().0).collect());
    println!("unchanged refetch (median/20): {unchanged:?}");
    write_files(&work, 1, commits);
    git(&work, &["commit", "--quiet", "-am", "one more"]);
    git(
        &work,
        &[
            "push",
            "--quiet",
            origin.to_str().expect("UTF-8"),
            "HEAD:main",
        ],
    );
    let (changed, _) = timed();
    println!("fetch after one changed file:  {changed:?}");
}
