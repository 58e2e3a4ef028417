//! `moorctl env`: create an environment (which starts its install) and read environments.

use std::collections::HashMap;

use anyhow::Result;
use moor_proto::names::WireName;
use moor_proto::workflow as pb;

use super::exec_watch::started;
use super::hints::{say_if_empty, CallContext};
use super::inputs::inputs_json;
use crate::cli::{EnvCommand, EnvCreateArgs, OutputFormat};
use crate::client::Client;
use crate::views::env::{EnvListView, EnvView};
use crate::views::show;

pub(super) async fn run(
    command: EnvCommand,
    client: &mut Client,
    format: OutputFormat,
) -> Result<()> {
    match command {
        EnvCommand::Create(args) => create(args, client, format).await,
        EnvCommand::List { site, status, read } => {
            let r = client
                .list_environments(
                    site.clone().unwrap_or_default(),
                    status.map_or_else(String::new, |s| s.as_str().to_string()),
                    read.stale,
                )
                .await
                .or_say(|| "cannot list environments".into())?;
            let mut environments: Vec<EnvView> = r.environments.iter().map(EnvView::from).collect();
            environments.sort_by(|a, b| a.name.cmp(&b.name));
            let what = if site.is_some() || status.is_some() {
                "no environment matches"
            } else {
                "no environments yet; create one with `moorctl env create`"
            };
            say_if_empty(environments.is_empty(), format, what);
            show(&EnvListView { environments }, format)
        }
        EnvCommand::Show { name, read } => {
            let r = client
                .get_environment(name.clone(), read.stale)
                .await
                .or_say(|| format!("cannot show environment {name}"))?;
            show(&EnvView::from(&r), format)
        }
    }
}

/// `env create`: the install it starts is shown, and followed with `--watch`.
async fn create(args: EnvCreateArgs, client: &mut Client, format: OutputFormat) -> Result<()> {
    let inputs = inputs_json(&args.inputs)?.unwrap_or_default();
    let name = args.name.clone();
    let msg = pb::CreateEnvironmentRequest {
        name: args.name,
        site: args.site,
        blueprint: args.blueprint.name.clone(),
        revision: args.blueprint.revision.unwrap_or(0),
        inputs_json: inputs,
        labels: args.labels.into_iter().collect::<HashMap<_, _>>(),
        retry: None,
    };
    let r = client
        .create_environment(msg)
        .await
        .or_say(|| format!("cannot create environment {name}"))?;
    started(
        client,
        r,
        format!("install of environment {name}"),
        &args.watch,
        format,
    )
    .await
}
