//! The world outline behind the map, embedded in the binary: nothing is fetched at run time.
//!
//! `data/world-110m.json` holds Natural Earth's 1:110m country polygons (public domain),
//! simplified by `data/make_world.py` (see `data/README.md`): rings of integer
//! coordinates in tenths of a degree. [`world_svg`] turns them, once per process, into one
//! standalone SVG in the plane [`Plane::WORLD`](crate::project::Plane::WORLD) (3600 × 1800,
//! equirectangular), which the server hands out at [`crate::routes::WORLD_SVG`] and the page
//! lays under its marks. Countries are one path: the map shows land, not borders, and one
//! path is the smallest SVG and the cheapest to draw.

use std::fmt::Write as _;
use std::sync::OnceLock;

use serde::Deserialize;

/// The simplified outline, as committed.
const WORLD_JSON: &str = include_str!("../data/world-110m.json");

#[derive(Deserialize)]
struct Outline {
    /// Flat `[lon, lat, lon, lat, …]` in tenths of a degree; each ring is open.
    rings: Vec<Vec<i16>>,
}

/// The world outline as a standalone SVG document (`<svg …>…</svg>`, no XML prologue):
/// `viewBox="0 0 3600 1800"`, one `<path id="land">` with every country ring. Built on the
/// first call and kept for the life of the process.
pub fn world_svg() -> &'static str {
    static SVG: OnceLock<String> = OnceLock::new();
    SVG.get_or_init(|| render(&outline()))
}

fn outline() -> Outline {
    // The file is part of the source tree, and the tests below parse it: a failure here is
    // a broken build, not a run-time condition.
    serde_json::from_str(WORLD_JSON).expect("dashboard/data/world-110m.json is valid")
}

fn render(outline: &Outline) -> String {
    let mut d = String::with_capacity(WORLD_JSON.len());
    for ring in &outline.rings {
        // Absolute start, then relative steps: most steps are a few tenths of a degree, so
        // `l` with small deltas is about half the size of absolute coordinates.
        let mut points = ring.chunks_exact(2).map(|p| {
            (
                i32::from(p[0]) + 1800, // x = (lon + 180) · 10
                900 - i32::from(p[1]),  // y = (90 − lat) · 10
            )
        });
        let Some((mut x, mut y)) = points.next() else {
            continue;
        };
        push_pair(&mut d, 'M', x, y);
        let mut first = true;
        for (nx, ny) in points {
            push_pair(&mut d, if first { 'l' } else { ' ' }, nx - x, ny - y);
            first = false;
            (x, y) = (nx, ny);
        }
        d.push('z');
    }
    format!(
        concat!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 3600 1800" width="3600" height="1800">"#,
            "<title>World outline: Natural Earth 1:110m Admin 0 Countries (public domain)</title>",
            r##"<path id="land" fill="#dfe4e8" stroke="#9aa6b0" stroke-width="1" stroke-linejoin="round" d="{}"/>"##,
            "</svg>\n"
        ),
        d
    )
}

/// Appends `a b` after `lead` ('M', 'l' or a separator), leaving out separators that a minus
/// sign makes unnecessary.
fn push_pair(d: &mut String, lead: char, a: i32, b: i32) {
    if lead != ' ' || a >= 0 {
        d.push(lead);
    }
    let _ = write!(d, "{a}");
    if b >= 0 {
        d.push(' ');
    }
    let _ = write!(d, "{b}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_outline_is_sane() {
        let o = outline();
        let points: usize = o.rings.iter().map(|r| r.len() / 2).sum();
        assert!(o.rings.len() > 100, "{} rings", o.rings.len());
        assert!((2_000..20_000).contains(&points), "{points} points");
        for ring in &o.rings {
            assert!(ring.len() % 2 == 0 && ring.len() >= 6, "{ring:?}");
            for p in ring.chunks_exact(2) {
                assert!((-1800..=1800).contains(&p[0]), "{p:?}");
                assert!((-900..=900).contains(&p[1]), "{p:?}");
            }
        }
        assert!(WORLD_JSON.len() < 200 * 1024, "{} bytes", WORLD_JSON.len());
    }

    #[test]
    fn svg_is_standalone_with_path_data() {
        let svg = world_svg();
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains(r#"viewBox="0 0 3600 1800""#));
        let d_start = svg.find(" d=\"M").expect("a path with data") + 4;
        let d = &svg[d_start..svg[d_start..].find('"').unwrap() + d_start];
        assert_eq!(d.matches('M').count(), outline().rings.len());
        assert_eq!(d.matches('z').count(), outline().rings.len());
        assert!(d.chars().all(|c| c.is_ascii_digit() || " -Mlz".contains(c)));
        // Same answer, same allocation.
        assert!(std::ptr::eq(svg, world_svg()));
    }

    #[test]
    fn path_data_decodes_back_to_the_rings() {
        // Replays the path (M absolute, l relative, implicit repeats) and compares.
        let o = outline();
        let svg = render(&o);
        let d_start = svg.find(" d=\"").unwrap() + 4;
        let d = &svg[d_start..svg[d_start..].find('"').unwrap() + d_start];
        let mut rings: Vec<Vec<i16>> = Vec::new();
        for sub in d.split('z').filter(|s| !s.is_empty()) {
            let sub = sub.strip_prefix('M').unwrap();
            let (head, tail) = sub.split_once('l').unwrap_or((sub, ""));
            let nums = |s: &str| -> Vec<i32> {
                s.replace('-', " -")
                    .split_whitespace()
                    .map(|n| n.parse().unwrap())
                    .collect()
            };
            let start = nums(head);
            let (mut x, mut y) = (start[0], start[1]);
            let mut ring = vec![(x - 1800) as i16, (900 - y) as i16];
            for step in nums(tail).chunks_exact(2) {
                x += step[0];
                y += step[1];
                ring.extend([(x - 1800) as i16, (900 - y) as i16]);
            }
            rings.push(ring);
        }
        assert_eq!(rings, o.rings);
    }

    #[test]
    fn pairs_are_compact() {
        let mut d = String::new();
        push_pair(&mut d, 'M', 10, 20);
        push_pair(&mut d, 'l', -1, 2);
        push_pair(&mut d, ' ', 3, -4);
        push_pair(&mut d, ' ', -5, -6);
        assert_eq!(d, "M10 20l-1 2 3-4-5-6");
    }
}
