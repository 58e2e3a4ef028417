//! `moorctl blueprint validate FILE...`: asks a member to check each blueprint without
//! applying it and prints every problem found.
//!
//! The member's parser is the authority (moorctl has none of its own, so the two can never
//! disagree), and the answer's body lists every problem, where a refused `apply` has room in
//! its status message for only the first few. Every file is read first; then each is checked
//! in order. Problems are the answer, not a failure of the command: all files are checked,
//! and moorctl ends with exit code 1 when any has problems.

use std::path::PathBuf;

use anyhow::{bail, Result};

use super::files::{read_text, SourceFile};
use super::hints::CallContext;
use crate::cli::OutputFormat;
use crate::client::Client;
use crate::exit::{Exit, Failure};
use crate::views::validate::{FileCheck, ValidateView};
use crate::views::{emit, show};

/// `blueprint validate FILE...`.
pub(super) async fn run(
    files: Vec<PathBuf>,
    client: &mut Client,
    format: OutputFormat,
) -> Result<()> {
    let mut sources = Vec::with_capacity(files.len());
    for path in &files {
        sources.push(read_text(path, "FILE")?);
    }
    let mut view = ValidateView { files: Vec::new() };
    let result = check_all(&sources, client, format, &mut view).await;
    // Programs get the files checked even when a later one could not be; people saw them
    // one by one already.
    if format != OutputFormat::Table {
        show(&view, format)?;
    }
    result?;
    verdict(&view)
}

/// Checks the files in order, adding each answer to `view` (and printing it for people) as
/// it comes.
async fn check_all(
    sources: &[SourceFile],
    client: &mut Client,
    format: OutputFormat,
    view: &mut ValidateView,
) -> Result<()> {
    for file in sources {
        let checked = check(client, file).await?;
        if format == OutputFormat::Table {
            emit(&format!("{}\n", checked.block()))?;
        }
        view.files.push(checked);
    }
    Ok(())
}

/// Asks a member to check `file`.
async fn check(client: &mut Client, file: &SourceFile) -> Result<FileCheck> {
    let r = client
        .validate_blueprint(file.name.clone(), file.text.clone())
        .await
        .or_say(|| format!("cannot validate {}", file.name))?;
    // A member older than `validate_only` ignores the field and applies the blueprint; a
    // check never has a revision, so this is how that shows.
    if r.revision != 0 {
        bail!(
            "the member does not know `validate_only` (it is older than this moorctl), so it \
             applied {} as revision {}@{} instead of only checking it; upgrade the members",
            file.name,
            r.name,
            r.revision
        );
    }
    Ok(FileCheck::new(&file.name, &r))
}

/// Exit code 1 when any file has problems.
fn verdict(view: &ValidateView) -> Result<()> {
    let invalid: Vec<&str> = view
        .files
        .iter()
        .filter(|f| !f.valid)
        .map(|f| f.file.as_str())
        .collect();
    let message = match invalid.as_slice() {
        [] => return Ok(()),
        [one] => format!("{one} is not valid: fix the problems listed and validate it again"),
        many => format!(
            "{} of {} files are not valid ({}): fix the problems listed and validate them again",
            many.len(),
            view.files.len(),
            many.join(", ")
        ),
    };
    Err(Failure::new(Exit::Error, message).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{cli_for, count, fake_workflow, problems_marker, WatchScript};
    use crate::views::render;

    /// A directory of its own for one test, and the paths of files written in it.
    struct Files(PathBuf);

    impl Files {
        fn new(test: &str) -> Files {
            let dir = std::env::temp_dir().join(format!("moorctl-{test}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Files(dir)
        }
        fn write(&self, name: &str, text: &str) -> String {
            let path = self.0.join(name);
            std::fs::write(&path, text).unwrap();
            path.display().to_string()
        }
    }

    impl Drop for Files {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// What the member at `addr` finds in the file at `path`.
    async fn check_path(addr: &str, path: &str) -> FileCheck {
        let mut client =
            crate::fake::client(&[addr.to_string()], std::time::Duration::from_secs(5));
        let file = read_text(path.as_ref(), "FILE").unwrap();
        check(&mut client, &file).await.unwrap()
    }

    #[tokio::test]
    async fn a_valid_file_says_valid_and_exits_0() {
        let (addr, calls) = fake_workflow(WatchScript::NotFound).await;
        let files = Files::new("validate-ok");
        let good = files.write("good.yaml", "name: webshop\nresources: []\n");
        let checked = check_path(&addr, &good).await;
        assert!(checked.valid);
        assert_eq!(
            checked.block(),
            format!("{good}: valid (blueprint webshop)")
        );

        crate::commands::run(cli_for(&addr, &["blueprint", "validate", &good]))
            .await
            .unwrap();
        assert_eq!(count(&calls), 2);
    }

    #[tokio::test]
    async fn every_problem_is_listed_and_the_exit_code_is_1() {
        let (addr, _) = fake_workflow(WatchScript::NotFound).await;
        let files = Files::new("validate-bad");
        let bad = files.write("bad.yaml", &format!("name: x\n{}", problems_marker(150)));
        let good = files.write("good.yaml", "name: webshop\nresources: []\n");
        let checked = check_path(&addr, &bad).await;
        // The fake, like a member, lists 99 and a 100th that counts the other 51.
        assert_eq!(checked.problems.len(), 100);
        let block = checked.block();
        assert_eq!(block.matches(": error: ").count(), 100, "{block}");
        assert!(block.starts_with(&format!("{bad}:1:3: error: ")), "{block}");
        assert!(block.contains("\n  hint: "), "{block}");
        assert!(block.contains("51 more problems"), "{block}");
        assert!(
            block.ends_with(&format!("{bad}: not valid, 100 problems listed")),
            "{block}"
        );

        let view = ValidateView {
            files: vec![checked],
        };
        let json: serde_json::Value =
            serde_json::from_str(&render(&view, OutputFormat::Json).unwrap()).unwrap();
        assert_eq!(json["files"][0]["valid"], false);
        assert_eq!(json["files"][0]["problems"].as_array().unwrap().len(), 100);

        for output in ["table", "json"] {
            let err = crate::commands::run(cli_for(
                &addr,
                &["-o", output, "blueprint", "validate", &bad, &good],
            ))
            .await
            .unwrap_err();
            assert_eq!(Exit::of_error(&err), Exit::Error);
            assert!(err.to_string().contains("is not valid"), "{err}");
        }
    }

    #[tokio::test]
    async fn a_missing_file_is_a_file_error_and_nothing_is_sent() {
        let (addr, calls) = fake_workflow(WatchScript::NotFound).await;
        let files = Files::new("validate-missing");
        let good = files.write("good.yaml", "name: webshop\nresources: []\n");
        let missing = files.0.join("missing.yaml").display().to_string();
        let err = crate::commands::run(cli_for(&addr, &["blueprint", "validate", &good, &missing]))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains(&format!("cannot open {missing}")),
            "{err}"
        );
        assert_eq!(Exit::of_error(&err), Exit::Error);
        assert_eq!(count(&calls), 0);
    }
}
