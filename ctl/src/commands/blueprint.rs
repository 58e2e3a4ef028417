//! `moorctl blueprint`: list blueprints, show a revision's source, list the revisions (with
//! the Git source, commit and file each came from, if any); and check files without
//! applying them (`validate.rs`).

use anyhow::Result;

use super::hints::{say_if_empty, CallContext};
use crate::cli::{BlueprintCommand, OutputFormat};
use crate::client::Client;
use crate::views::blueprint::{
    BlueprintListView, BlueprintSummaryView, BlueprintView, RevisionsView,
};
use crate::views::show;

pub(super) async fn run(
    command: BlueprintCommand,
    client: &mut Client,
    format: OutputFormat,
) -> Result<()> {
    match command {
        BlueprintCommand::List { read } => {
            let r = client
                .list_blueprints(read.stale)
                .await
                .or_say(|| "cannot list blueprints".into())?;
            let mut blueprints: Vec<BlueprintSummaryView> = r
                .blueprints
                .iter()
                .map(BlueprintSummaryView::from)
                .collect();
            blueprints.sort_by(|a, b| a.name.cmp(&b.name));
            say_if_empty(
                blueprints.is_empty(),
                format,
                "no blueprints yet; create one with `moorctl apply -f FILE.yaml`",
            );
            show(&BlueprintListView { blueprints }, format)
        }
        BlueprintCommand::Show { blueprint, read } => {
            let r = client
                .get_blueprint(
                    blueprint.name.clone(),
                    blueprint.revision.unwrap_or(0),
                    read.stale,
                )
                .await
                .or_say(|| format!("cannot show blueprint {blueprint}"))?;
            show(&BlueprintView::from(&r), format)
        }
        BlueprintCommand::Revisions { name, read } => {
            let r = client
                .get_blueprint(name.clone(), 0, read.stale)
                .await
                .or_say(|| format!("cannot list the revisions of blueprint {name}"))?;
            show(&RevisionsView::from(&r), format)
        }
        BlueprintCommand::Validate { files } => super::validate::run(files, client, format).await,
    }
}
