//! `moorctl site`: list sites (filtered here by region and labels) and show one. Sites are
//! created and changed with `moorctl apply -f sites.yaml` (`apply.rs`).

use anyhow::Result;
use moor_proto::workflow as pb;

use super::hints::{say_if_empty, CallContext};
use crate::cli::{OutputFormat, SiteCommand};
use crate::client::Client;
use crate::views::show;
use crate::views::site::{SiteListView, SiteView};

pub(super) async fn run(
    command: SiteCommand,
    client: &mut Client,
    format: OutputFormat,
) -> Result<()> {
    match command {
        SiteCommand::List {
            region,
            labels,
            read,
        } => {
            let r = client
                .list_sites(read.stale)
                .await
                .or_say(|| "cannot list sites".into())?;
            let mut sites: Vec<SiteView> = r
                .sites
                .iter()
                .filter(|s| site_matches(s, region.as_deref(), &labels))
                .map(SiteView::from)
                .collect();
            sites.sort_by(|a, b| a.name.cmp(&b.name));
            let what = if r.sites.is_empty() {
                "no sites yet; create them with `moorctl apply -f sites.yaml`"
            } else {
                "no site matches"
            };
            say_if_empty(sites.is_empty(), format, what);
            show(&SiteListView { sites }, format)
        }
        SiteCommand::Show { name, read } => {
            let r = client
                .get_site(name.clone(), read.stale)
                .await
                .or_say(|| format!("cannot show site {name}"))?;
            show(&SiteView::from(&r), format)
        }
    }
}

/// The client-side filter of `site list`: in `region` (when given) and with every label.
pub fn site_matches(site: &pb::Site, region: Option<&str>, labels: &[(String, String)]) -> bool {
    region.is_none_or(|r| site.region == r)
        && labels
            .iter()
            .all(|(k, v)| site.labels.get(k).is_some_and(|have| have == v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::Exit;
    use crate::fake::{cli_for, fake_workflow, WatchScript};

    #[test]
    fn site_filter() {
        let site = pb::Site {
            name: "edge-1".into(),
            region: "eu-west".into(),
            labels: [("tier".to_string(), "edge".to_string())].into(),
            ..Default::default()
        };
        let label = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        assert!(site_matches(&site, None, &[]));
        assert!(site_matches(&site, Some("eu-west"), &label("tier", "edge")));
        assert!(!site_matches(&site, Some("us-east"), &[]));
        assert!(!site_matches(&site, None, &label("tier", "core")));
        assert!(!site_matches(&site, None, &label("zone", "edge")));
    }

    #[tokio::test]
    async fn missing_site_exits_3_with_a_hint() {
        let (addr, _) = fake_workflow(WatchScript::NotFound).await;
        let err = crate::commands::run(cli_for(&addr, &["site", "show", "edge-9"]))
            .await
            .unwrap_err();
        assert_eq!(Exit::of_error(&err), Exit::NotFound);
        assert!(
            err.to_string().contains("moorctl apply -f sites.yaml"),
            "{err}"
        );
    }
}
