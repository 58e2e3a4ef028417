//! How long the map's answer takes for 100,000 sites, and how big it is.
//!
//!     CARGO_TARGET_DIR=/var/tmp/moor-dash-target cargo run --release -p moor-dashboard --example map_bench [SITES]
//!
//! For each zoom (0, 3, 6, and 8; deeper zooms centred on the first site, in the densest
//! synthetic city) and each filter alone and combined (none; one status; the first site's
//! region; label tier=gold; name substring "site-01"; region, label and text together):
//! the median and the worst of 21 runs of `cells` plus its JSON encoding, the numbers of
//! cells and dots, and the JSON size. Also what `world_svg` and `page` cost once. A
//! benchmark prints figures; tests never time.
//!
//! The label filter is the dearest (about 15 ms for 100,000 sites on a shared 2-core
//! machine): every site's label map is its own heap allocation, so looking a key up is a
//! few cache misses per site. Still one pass, no allocation.

use std::time::{Duration, Instant};

use moor_dashboard::synthetic::synthetic_sites;
use moor_dashboard::{cells, page, world_svg, Filter, Status, View};

const RUNS: usize = 21;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("SITES is a number"))
        .unwrap_or(100_000);
    let t = Instant::now();
    let sites = synthetic_sites(n, 42);
    println!("{n} synthetic sites made in {:?}", t.elapsed());

    let t = Instant::now();
    let svg = world_svg();
    println!(
        "world_svg: {} bytes, first call {:?}",
        svg.len(),
        t.elapsed()
    );
    println!("page: {} bytes", page("Moor", Some("token")).len());
    println!();
    println!(
        "{:<6} {:<22} {:>10} {:>10} {:>7} {:>7} {:>9} {:>10}",
        "zoom", "filter", "median", "worst", "cells", "dots", "in view", "JSON bytes"
    );

    let filters = [
        ("none", Filter::default()),
        (
            "status=failed",
            Filter {
                status: Some(Status::Failed),
                ..Filter::default()
            },
        ),
        (
            "region",
            Filter {
                region: Some(sites[0].region.clone()),
                ..Filter::default()
            },
        ),
        (
            "label",
            Filter {
                label: Some(("tier".into(), "gold".into())),
                ..Filter::default()
            },
        ),
        (
            "text",
            Filter {
                text: Some("site-01".into()),
                ..Filter::default()
            },
        ),
        (
            "region+label+text",
            Filter {
                region: Some(sites[0].region.clone()),
                label: Some(("tier".into(), "gold".into())),
                text: Some("site-01".into()),
                ..Filter::default()
            },
        ),
    ];
    for zoom in [0u8, 3, 6, 8] {
        // Centred on the densest synthetic city at deep zooms, so there is something to see.
        let view = View {
            zoom,
            center_lat: if zoom == 0 { 0.0 } else { sites[0].lat },
            center_lon: if zoom == 0 { 0.0 } else { sites[0].lon },
        };
        for (name, filter) in &filters {
            let mut times: Vec<Duration> = Vec::with_capacity(RUNS);
            let mut last = None;
            for _ in 0..RUNS {
                let t = Instant::now();
                let d = cells(&sites, &view, filter);
                let json = serde_json::to_vec(&d).expect("MapData serialises");
                times.push(t.elapsed());
                last = Some((d, json.len()));
            }
            times.sort();
            let (d, bytes) = last.expect("at least one run");
            println!(
                "{:<6} {:<22} {:>10.2?} {:>10.2?} {:>7} {:>7} {:>9} {:>10}",
                zoom,
                name,
                times[RUNS / 2],
                times[RUNS - 1],
                d.cells.len(),
                d.sites.len(),
                d.in_view,
                bytes
            );
        }
    }
}
