//! The map's answer for one view: sites counted into square grid cells, or listed one by one
//! where few are close together.
//!
//! # The grid
//!
//! Cells are squares of [`cell_deg`]`(zoom)` degrees — 12° at zoom 0, halving with each zoom
//! level — on one grid fixed to the world (rows from the north pole, columns from −180°).
//! Because the grid does not move with the view, a cell holds the same sites whatever the
//! centre, and panning does not make counts jump. A view at zoom `z` is `30 × 15` cells of
//! that zoom; with the margin ([`MARGIN`] of the view on each side, so a short drag already
//! has data) an answer covers at most about 48 × 25 cells, at every zoom.
//!
//! Only cells that intersect the view grown by the margin are counted, and each of them
//! whole: a site counts in the answer if and only if its cell does, so a cell at the edge
//! never shows a partial count.
//!
//! # Cells or dots
//!
//! A cell is an aggregate: its count per status, its worst status, and its centre (the mean
//! position of its sites, so a mark sits where its sites are, not at the middle of the
//! square). A cell that holds at most [`dot_threshold`]`(zoom)` sites — one up to zoom 3,
//! then doubling to 32 at zoom 8 — is listed as its sites instead ("dots"), as long as the
//! answer stays within its item budget: cells with the fewest sites are opened first, and
//! a cell that does not fit stays a cell. Nothing is lost that way.
//!
//! # Bounded and O(n)
//!
//! One pass over the sites, with no per-cell scan: each site is filtered, placed in its
//! cell by two divisions, and added to that cell's accumulator (a dense array over the
//! answer's cells, so no hashing either). A cell remembers the indices of its first few
//! sites, as many as could become dots, and no more. Then the non-empty cells — at most
//! about 1,200 — are sorted. An answer holds at most [`MAX_ITEMS`] cells plus dots. If
//! there are more non-empty cells than that (a larger grid than the views described here
//! make), the worst and fullest are kept, `truncated` is set and `omitted` counts the
//! sites of the cells left out.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::filter::Filter;
use crate::project::{BBox, View};
use crate::site::SiteDot;
use crate::status::{Status, StatusCounts};

/// Cell size at zoom 0, in degrees: the world is 30 × 15 cells.
pub const CELL_DEG_AT_ZOOM_0: f64 = 12.0;

/// The most cells plus dots in one answer.
pub const MAX_ITEMS: usize = 5_000;

/// The fraction of the view's width and height counted on each side beyond it.
pub const MARGIN: f64 = 0.25;

/// The most region names listed in an answer (for the page's region filter).
pub const MAX_REGIONS: usize = 1_000;

/// The side of a grid cell, in degrees, at `zoom` (clamped to [`View::MAX_ZOOM`]).
pub fn cell_deg(zoom: u8) -> f64 {
    CELL_DEG_AT_ZOOM_0 / f64::from(1u32 << zoom.min(View::MAX_ZOOM))
}

/// The most sites a cell may hold and still be listed as its sites: 1 up to zoom 3, then
/// 2, 4, 8, 16 and 32 at zoom 8.
pub fn dot_threshold(zoom: u8) -> u32 {
    1 << zoom.min(View::MAX_ZOOM).saturating_sub(3)
}

/// The answer to one map request; serialised as the JSON the page draws.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapData {
    /// The view answered: the request's, clamped ([`View::clamped`]).
    pub view: View,
    /// The side of a cell in degrees.
    pub cell_deg: f64,
    /// The area counted: the view grown by [`MARGIN`], out to whole cells.
    pub bounds: BBox,
    /// Sites that pass the filter, in the whole world.
    pub matched: u64,
    /// Of those, the ones inside `bounds`: the sum of the cells' counts, the number of
    /// dots, and `omitted`.
    pub in_view: u64,
    /// Sites that pass the filter, per status, in the whole world.
    pub totals: StatusCounts,
    /// Aggregated cells, worst status first, then fullest.
    pub cells: Vec<Cell>,
    /// Sites listed one by one, worst status first, then by name.
    pub sites: Vec<Dot>,
    /// Whether cells were left out to keep within [`MAX_ITEMS`].
    pub truncated: bool,
    /// Sites in `bounds` that are in neither `cells` nor `sites` (only when truncated).
    pub omitted: u64,
    /// Sites that pass the filter but whose coordinates are not a number or out of range,
    /// so they cannot be placed.
    pub unplaced: u64,
    /// Every region among all the sites (not only those that pass the filter), sorted, at
    /// most [`MAX_REGIONS`]: the choices of the region filter.
    pub regions: Vec<String>,
}

/// Several sites counted together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// Grid row, from the north pole (0) southwards.
    pub row: u32,
    /// Grid column, from −180° (0) eastwards.
    pub col: u32,
    /// The mean latitude of its sites, to 4 decimals.
    pub lat: f64,
    /// The mean longitude of its sites, to 4 decimals.
    pub lon: f64,
    pub count: u32,
    pub worst: Status,
    pub counts: StatusCounts,
}

/// One site on the map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dot {
    pub name: String,
    pub region: String,
    pub lat: f64,
    pub lon: f64,
    pub status: Status,
}

/// The map's answer for `view` over the sites that pass `filter`, with at most
/// [`MAX_ITEMS`] cells plus dots. See the module doc.
pub fn cells(sites: &[SiteDot], view: &View, filter: &Filter) -> MapData {
    cells_with_limit(sites, view, filter, MAX_ITEMS)
}

/// [`cells`] with another bound on cells plus dots (at least 1).
pub fn cells_with_limit(
    sites: &[SiteDot],
    view: &View,
    filter: &Filter,
    max_items: usize,
) -> MapData {
    let max_items = max_items.max(1);
    let view = view.clamped();
    let zoom = view.zoom;
    let cell = cell_deg(zoom);
    let threshold = dot_threshold(zoom) as usize;
    let grid = Window::new(&view, cell);

    let mut accs: Vec<Acc> = (0..grid.len()).map(|_| Acc::default()).collect();
    let mut matched = 0u64;
    let mut unplaced = 0u64;
    let mut in_view = 0u64;
    let mut totals = StatusCounts::default();
    let mut regions: HashSet<&str> = HashSet::new();
    let mut last_region: Option<&str> = None;

    for (i, site) in sites.iter().enumerate() {
        // Sites tend to come grouped by region: skip the hash when it repeats.
        if last_region != Some(site.region.as_str()) {
            last_region = Some(site.region.as_str());
            regions.insert(&site.region);
        }
        if !filter.matches(site) {
            continue;
        }
        matched += 1;
        totals.add(site.status);
        if !(-90.0..=90.0).contains(&site.lat) || !(-180.0..=180.0).contains(&site.lon) {
            unplaced += 1;
            continue;
        }
        let Some(slot) = grid.slot(site.lat, site.lon) else {
            continue;
        };
        in_view += 1;
        accs[slot].add(i, site, threshold);
    }

    let mut regions: Vec<String> = regions.into_iter().map(str::to_string).collect();
    regions.sort_unstable();
    regions.truncate(MAX_REGIONS);

    // The non-empty cells, worst and fullest first: the order in which they are kept.
    let mut full: Vec<usize> = (0..accs.len()).filter(|&s| accs[s].count > 0).collect();
    let rank = |s: &usize| {
        let a = &accs[*s];
        (
            std::cmp::Reverse(a.counts.worst()),
            std::cmp::Reverse(a.count),
            *s,
        )
    };
    full.sort_unstable_by_key(rank);
    let truncated = full.len() > max_items;
    let omitted: u64 = full
        .iter()
        .skip(max_items)
        .map(|&s| u64::from(accs[s].count))
        .sum();
    full.truncate(max_items);

    // Open small cells into dots, fewest sites first, while the budget allows.
    let mut items = full.len();
    let mut open = vec![false; accs.len()];
    let mut small: Vec<usize> = full
        .iter()
        .copied()
        .filter(|&s| accs[s].count as usize <= threshold)
        .collect();
    small.sort_unstable_by_key(|&s| (accs[s].count, s));
    for s in small {
        let extra = accs[s].count as usize - 1;
        if items + extra > max_items {
            break;
        }
        items += extra;
        open[s] = true;
    }

    let mut out_cells = Vec::new();
    let mut out_dots = Vec::new();
    for s in full {
        let acc = &accs[s];
        if open[s] {
            out_dots.extend(acc.members.iter().map(|&i| {
                let site = &sites[i];
                Dot {
                    name: site.name.clone(),
                    region: site.region.clone(),
                    lat: site.lat,
                    lon: site.lon,
                    status: site.status,
                }
            }));
        } else {
            let (row, col) = grid.row_col(s);
            let n = f64::from(acc.count);
            out_cells.push(Cell {
                row,
                col,
                lat: round4(acc.sum_lat / n),
                lon: round4(acc.sum_lon / n),
                count: acc.count,
                worst: acc.counts.worst().unwrap_or(Status::Empty),
                counts: acc.counts,
            });
        }
    }
    // `out_cells` is already worst first, then fullest.
    out_dots.sort_unstable_by(|a, b| b.status.cmp(&a.status).then_with(|| a.name.cmp(&b.name)));

    MapData {
        view,
        cell_deg: cell,
        bounds: grid.bounds(),
        matched,
        in_view,
        totals,
        cells: out_cells,
        sites: out_dots,
        truncated,
        omitted,
        unplaced,
        regions,
    }
}

fn round4(v: f64) -> f64 {
    (v * 1e4).round() / 1e4
}

/// One cell's running totals.
#[derive(Default)]
struct Acc {
    count: u32,
    counts: StatusCounts,
    sum_lat: f64,
    sum_lon: f64,
    /// Indices of its sites while it could still become dots; emptied once it cannot.
    members: Vec<usize>,
}

impl Acc {
    fn add(&mut self, index: usize, site: &SiteDot, threshold: usize) {
        self.count = self.count.saturating_add(1);
        self.counts.add(site.status);
        self.sum_lat += site.lat;
        self.sum_lon += site.lon;
        let count = self.count as usize;
        if count <= threshold {
            self.members.push(index);
        } else if count == threshold + 1 {
            self.members = Vec::new(); // too many to become dots: free them
        }
    }
}

/// The rectangle of grid cells an answer covers, and where a point falls in it.
struct Window {
    cell: f64,
    /// The whole grid's size at this zoom.
    cols: u32,
    rows: u32,
    /// The window's first and last column and row, inclusive.
    col0: u32,
    col1: u32,
    row0: u32,
    row1: u32,
}

impl Window {
    fn new(view: &View, cell: f64) -> Window {
        let cols = (360.0 / cell).round() as u32;
        let rows = (180.0 / cell).round() as u32;
        let b = view.bbox().grown(MARGIN);
        let col = |lon: f64| (((lon + 180.0) / cell).floor() as u32).min(cols - 1);
        let row = |lat: f64| (((90.0 - lat) / cell).floor() as u32).min(rows - 1);
        Window {
            cell,
            cols,
            rows,
            col0: col(b.west),
            col1: col(b.east),
            row0: row(b.north),
            row1: row(b.south),
        }
    }

    fn width(&self) -> usize {
        (self.col1 - self.col0 + 1) as usize
    }

    fn len(&self) -> usize {
        self.width() * (self.row1 - self.row0 + 1) as usize
    }

    /// The slot of the cell holding a valid point, or `None` outside the window.
    fn slot(&self, lat: f64, lon: f64) -> Option<usize> {
        // Casting a float to an unsigned integer saturates, and the points are valid, so
        // these are in 0..cols and 0..rows.
        let col = (((lon + 180.0) / self.cell) as u32).min(self.cols - 1);
        let row = (((90.0 - lat) / self.cell) as u32).min(self.rows - 1);
        if col < self.col0 || col > self.col1 || row < self.row0 || row > self.row1 {
            return None;
        }
        Some((row - self.row0) as usize * self.width() + (col - self.col0) as usize)
    }

    fn row_col(&self, slot: usize) -> (u32, u32) {
        let w = self.width();
        (self.row0 + (slot / w) as u32, self.col0 + (slot % w) as u32)
    }

    fn bounds(&self) -> BBox {
        let c = self.cell;
        BBox {
            west: f64::from(self.col0) * c - 180.0,
            east: f64::from(self.col1 + 1) * c - 180.0,
            north: 90.0 - f64::from(self.row0) * c,
            south: 90.0 - f64::from(self.row1 + 1) * c,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_sizes_and_thresholds() {
        assert_eq!(cell_deg(0), 12.0);
        assert_eq!(cell_deg(1), 6.0);
        assert_eq!(cell_deg(8), 12.0 / 256.0);
        assert_eq!(cell_deg(99), cell_deg(8));
        let t: Vec<u32> = (0..=9).map(dot_threshold).collect();
        assert_eq!(t, [1, 1, 1, 1, 2, 4, 8, 16, 32, 32]);
    }

    #[test]
    fn window_is_bounded_at_every_zoom_and_centre() {
        for zoom in 0..=View::MAX_ZOOM {
            for (lat, lon) in [(0.0, 0.0), (89.0, 179.0), (-33.3, 151.2), (51.5, -0.1)] {
                let view = View {
                    zoom,
                    center_lat: lat,
                    center_lon: lon,
                };
                let w = Window::new(&view.clamped(), cell_deg(zoom));
                assert!(
                    w.width() <= 48 && w.len() <= 48 * 25,
                    "{view:?}: {}",
                    w.len()
                );
                let b = w.bounds();
                let v = view.bbox();
                assert!(b.west <= v.west && b.east >= v.east, "{view:?} {b:?}");
                assert!(b.south <= v.south && b.north >= v.north, "{view:?} {b:?}");
            }
        }
    }

    #[test]
    fn edges_of_the_world_fall_in_the_last_cells() {
        let w = Window::new(&View::WORLD, cell_deg(0));
        assert_eq!(w.len(), 30 * 15);
        assert_eq!(w.slot(90.0, -180.0), Some(0));
        assert_eq!(w.slot(-90.0, 180.0), Some(30 * 15 - 1));
        assert_eq!(w.row_col(30 * 15 - 1), (14, 29));
        assert_eq!(w.bounds(), BBox::WORLD);
    }
}
