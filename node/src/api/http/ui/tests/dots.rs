//! The map's dots: a site's status is its environments' worst, or unreachable while its
//! drift checks get no answer.

use super::dots;
use moor_dashboard::Status;
use moor_domain::site::{Driver, Site, Unreachable};
use moor_domain::state::MoorState;

fn site(name: &str) -> Site {
    Site {
        name: name.into(),
        region: "eu".into(),
        latitude: 48.1,
        longitude: 11.6,
        labels: Default::default(),
        driver: Driver::Agent {
            endpoint: "127.0.0.1:9".into(),
        },
    }
}

#[test]
fn an_unreachable_site_is_drawn_unreachable_and_the_others_by_their_environments() {
    let mut state = MoorState::default();
    for name in ["up", "down"] {
        state.workflow.sites.insert(name.into(), site(name));
    }
    state.workflow.unreachable.insert(
        "down".into(),
        Unreachable {
            since_ms: 1,
            error: "connection refused".into(),
        },
    );
    let status = |name: &str| {
        dots(&state)
            .into_iter()
            .find(|d| d.name == name)
            .map(|d| d.status)
    };
    assert_eq!(status("down"), Some(Status::Unreachable));
    assert_eq!(status("up"), Some(Status::Empty));
}
