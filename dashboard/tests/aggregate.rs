//! The map's answers: counts, worst statuses, filters, clipping to the view, dots, bounds.

use std::collections::BTreeMap;

use moor_dashboard::aggregate::{cell_deg, dot_threshold, MAX_ITEMS};
use moor_dashboard::synthetic::synthetic_sites;
use moor_dashboard::{cells, cells_with_limit, Filter, MapData, SiteDot, Status, View};

fn site(name: &str, lat: f64, lon: f64, status: Status) -> SiteDot {
    SiteDot {
        name: name.to_string(),
        region: "r".to_string(),
        lat,
        lon,
        labels: BTreeMap::new(),
        status,
    }
}

fn view(zoom: u8, lat: f64, lon: f64) -> View {
    View {
        zoom,
        center_lat: lat,
        center_lon: lon,
    }
}

/// Sites in cells, dots and omitted add up to `in_view`, and each cell's counts to its count.
fn check_sums(d: &MapData) {
    let in_cells: u64 = d.cells.iter().map(|c| u64::from(c.count)).sum();
    assert_eq!(in_cells + d.sites.len() as u64 + d.omitted, d.in_view);
    for c in &d.cells {
        assert_eq!(c.counts.total(), u64::from(c.count));
        assert_eq!(c.counts.worst(), Some(c.worst));
        assert!(c.count > 1, "a one-site cell is always a dot");
    }
    assert!(d.in_view + d.unplaced <= d.matched);
    assert_eq!(d.totals.total(), d.matched);
    assert!(d.cells.len() + d.sites.len() <= MAX_ITEMS);
}

#[test]
fn counts_add_up_to_the_filtered_total() {
    let sites = synthetic_sites(20_000, 1);
    let filters = [
        Filter::default(),
        Filter {
            region: Some("eu-west".into()),
            ..Filter::default()
        },
        Filter {
            status: Some(Status::Failed),
            ..Filter::default()
        },
        Filter {
            label: Some(("tier".into(), "gold".into())),
            text: Some("SITE-01".into()),
            ..Filter::default()
        },
    ];
    for filter in &filters {
        let expected = sites.iter().filter(|s| filter.matches(s)).count() as u64;
        assert!(expected > 0, "{filter:?} matches nothing: a useless test");
        let d = cells(&sites, &View::WORLD, filter);
        assert_eq!(d.matched, expected, "{filter:?}");
        // The whole world is in view at zoom 0, and every synthetic site is valid.
        assert_eq!(d.in_view, expected, "{filter:?}");
        assert_eq!(d.unplaced, 0);
        assert!(!d.truncated);
        check_sums(&d);
        for dot in &d.sites {
            let s = sites.iter().find(|s| s.name == dot.name).unwrap();
            assert!(filter.matches(s), "{} should be filtered out", dot.name);
        }
        if let Some(status) = filter.status {
            assert!(d
                .cells
                .iter()
                .all(|c| c.worst == status && c.counts.get(status) == c.count));
            assert_eq!(u64::from(d.totals.get(status)), expected);
        }
    }
}

#[test]
fn a_cell_has_its_worst_status_and_mean_centre() {
    // Three sites in the zoom-0 cell [0°, 12°) x (12°, 24°]... rows count from the north:
    // lat 13..15 is row 6 (90-15=75 -> 75/12 = 6.25), lon 1..5 is column 15.
    let sites = vec![
        site("a", 13.0, 1.0, Status::InSync),
        site("b", 14.0, 2.0, Status::Drifted),
        site("c", 15.0, 6.0, Status::Running),
        site("far", -40.0, -70.0, Status::Failed),
    ];
    let d = cells(&sites, &View::WORLD, &Filter::default());
    check_sums(&d);
    assert_eq!(d.cells.len(), 1);
    let c = &d.cells[0];
    assert_eq!((c.row, c.col), (6, 15));
    assert_eq!(c.count, 3);
    assert_eq!(c.worst, Status::Drifted);
    assert_eq!(c.counts.get(Status::InSync), 1);
    assert_eq!(c.counts.get(Status::Running), 1);
    assert_eq!(c.lat, 14.0);
    assert_eq!(c.lon, 3.0);
    // The lone site elsewhere is a dot, not a one-site cell.
    assert_eq!(d.sites.len(), 1);
    assert_eq!(d.sites[0].name, "far");
    assert_eq!(d.sites[0].status, Status::Failed);
    assert_eq!(d.totals.get(Status::Failed), 1);
}

#[test]
fn cells_come_worst_first_and_dots_by_status_then_name() {
    let sites = synthetic_sites(5_000, 2);
    let d = cells(&sites, &View::WORLD, &Filter::default());
    for w in d.cells.windows(2) {
        assert!(
            (w[0].worst, w[0].count) >= (w[1].worst, w[1].count),
            "{:?} before {:?}",
            w[0],
            w[1]
        );
    }
    for w in d.sites.windows(2) {
        assert!(w[0].status > w[1].status || (w[0].status == w[1].status && w[0].name < w[1].name));
    }
}

#[test]
fn only_cells_in_the_view_and_its_margin_are_counted_whole() {
    // A grid of sites every half degree over the whole world.
    let mut sites = Vec::new();
    for i in 0..360 {
        for j in 0..720 {
            let lat = -89.75 + f64::from(i) * 0.5;
            let lon = -179.75 + f64::from(j) * 0.5;
            sites.push(site(&format!("s{i}-{j}"), lat, lon, Status::InSync));
        }
    }
    let v = view(3, 48.0, 11.0); // 45° x 22.5° around Munich
    let d = cells(&sites, &v, &Filter::default());
    check_sums(&d);
    assert_eq!(d.matched, sites.len() as u64);
    let b = d.bounds;
    let vb = v.bbox();
    assert!(b.west <= vb.west && b.east >= vb.east && b.south <= vb.south && b.north >= vb.north);
    assert!(b.east - b.west < 360.0 / 8.0 * 1.6, "{b:?}");
    // Exactly the sites inside the cell-aligned bounds are counted.
    let inside = sites
        .iter()
        .filter(|s| s.lat > b.south && s.lat < b.north && s.lon > b.west && s.lon < b.east)
        .count() as u64;
    assert_eq!(d.in_view, inside);
    // Every cell is whole: 1.5° cells hold 3 x 3 half-degree sites.
    assert_eq!(cell_deg(3), 1.5);
    assert!(
        d.cells.iter().all(|c| c.count == 9),
        "a cell cut by the view"
    );
    for c in &d.cells {
        assert!(b.contains(c.lat, c.lon));
    }
    // Nothing from the other side of the world.
    let far = cells(
        &[site("x", -30.0, -120.0, Status::Failed)],
        &v,
        &Filter::default(),
    );
    assert_eq!(far.matched, 1);
    assert_eq!(far.in_view, 0);
    assert!(far.cells.is_empty() && far.sites.is_empty());
}

#[test]
fn high_zoom_lists_small_cells_as_sites() {
    // 20 sites within 0.01° of each other, and a second group of 40.
    let mut sites = Vec::new();
    for i in 0..20 {
        sites.push(site(
            &format!("a{i:02}"),
            52.6 + f64::from(i) * 0.0005,
            13.4,
            Status::InSync,
        ));
    }
    for i in 0..40 {
        sites.push(site(
            &format!("b{i:02}"),
            52.61 + f64::from(i) * 0.0002,
            13.41,
            Status::Drifted,
        ));
    }
    // At zoom 3 they are one cell.
    let d = cells(&sites, &view(3, 52.6, 13.4), &Filter::default());
    assert_eq!((d.cells.len(), d.sites.len()), (1, 0));
    assert_eq!(d.cells[0].count, 60);
    assert_eq!(d.cells[0].worst, Status::Drifted);
    // At zoom 8 (0.047° cells) the group of 20 is listed, the group of 40 (> 32) is not.
    assert_eq!(dot_threshold(8), 32);
    let d = cells(&sites, &view(8, 52.6, 13.4), &Filter::default());
    check_sums(&d);
    assert_eq!(d.sites.len(), 20, "{:?}", d.cells);
    assert!(d.sites.iter().all(|s| s.name.starts_with('a')));
    assert_eq!(d.cells.len(), 1);
    assert_eq!(d.cells[0].count, 40);
}

#[test]
fn the_item_budget_opens_the_smallest_cells_first_and_truncates_the_rest() {
    // Ten separate cells at zoom 8, with 1..=10 sites each.
    let mut sites = Vec::new();
    for k in 1..=10u32 {
        for i in 0..k {
            sites.push(site(
                &format!("c{k}-{i}"),
                0.01 + f64::from(i) * 0.001,
                0.0 + f64::from(k) * 0.06,
                if k == 10 {
                    Status::Failed
                } else {
                    Status::InSync
                },
            ));
        }
    }
    let v = view(8, 0.0, 0.3);
    let all = cells(&sites, &v, &Filter::default());
    assert_eq!(all.in_view, 55);
    assert_eq!((all.cells.len(), all.sites.len()), (0, 55));

    // 20 items: ten cells; opening 1, 2, 3, 4, 5 costs 0+1+2+3+4 = 10 more, 6 would not fit.
    let d = cells_with_limit(&sites, &v, &Filter::default(), 20);
    check_sums(&d);
    assert!(!d.truncated);
    assert_eq!(d.sites.len(), 1 + 2 + 3 + 4 + 5);
    assert_eq!(d.cells.len(), 5);
    assert_eq!(d.cells[0].worst, Status::Failed);

    // 3 items: only three cells fit; the failed one is kept first, then the fullest.
    let d = cells_with_limit(&sites, &v, &Filter::default(), 3);
    check_sums(&d);
    assert!(d.truncated);
    let counts: Vec<u32> = d.cells.iter().map(|c| c.count).collect();
    assert_eq!(counts, [10, 9, 8]);
    assert_eq!(d.omitted, 55 - 27);
}

#[test]
fn unplaceable_sites_are_counted_not_drawn() {
    let sites = vec![
        site("nan", f64::NAN, 0.0, Status::Failed),
        site("north", 91.0, 0.0, Status::Failed),
        site("ok", 10.0, 10.0, Status::InSync),
        site("edge", -90.0, 180.0, Status::InSync),
    ];
    let d = cells(&sites, &View::WORLD, &Filter::default());
    assert_eq!((d.matched, d.unplaced, d.in_view), (4, 2, 2));
    assert_eq!(d.sites.len(), 2);
    check_sums(&d);
}

#[test]
fn regions_list_every_region_once() {
    let sites = synthetic_sites(2_000, 3);
    let d = cells(
        &sites,
        &View::WORLD,
        &Filter {
            region: Some("eu-west".into()),
            ..Filter::default()
        },
    );
    assert_eq!(
        d.regions,
        [
            "ap-east",
            "ap-south",
            "eu-central",
            "eu-west",
            "sa-east",
            "us-east",
            "us-west"
        ]
    );
}

#[test]
fn a_hundred_thousand_sites_give_a_bounded_answer_at_every_zoom() {
    let sites = synthetic_sites(100_000, 42);
    let centres = [(0.0, 0.0), (48.0, 11.0), (35.0, 139.0), (-23.5, -46.6)];
    for zoom in 0..=View::MAX_ZOOM {
        for &(lat, lon) in &centres {
            let d = cells(&sites, &view(zoom, lat, lon), &Filter::default());
            check_sums(&d);
            assert!(!d.truncated);
            assert!(
                d.cells.len() <= 48 * 25,
                "zoom {zoom}: {} cells",
                d.cells.len()
            );
            let json = serde_json::to_vec(&d).unwrap();
            assert!(
                json.len() < 600 * 1024,
                "zoom {zoom} at {lat},{lon}: {} bytes of JSON",
                json.len()
            );
            if zoom == 0 {
                assert_eq!(d.in_view, 100_000);
                assert!(json.len() < 64 * 1024, "{} bytes at zoom 0", json.len());
            }
            // And the answer reads back as itself.
            let back: MapData = serde_json::from_slice(&json).unwrap();
            assert_eq!(back.cells.len(), d.cells.len());
            assert_eq!(back.sites, d.sites);
        }
    }
}
