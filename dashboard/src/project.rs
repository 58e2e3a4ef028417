//! Where things are on the map: the projection from latitude/longitude to the plane, the
//! part of the world a [`View`] shows, and boxes in degrees.
//!
//! # Why equirectangular
//!
//! The map uses the equirectangular projection (plate carrée): `x = (lon + 180) / 360 · W`,
//! `y = (90 − lat) / 180 · H`. It is a linear map, so:
//! - it needs no trigonometry, here or in the page's JavaScript, and the same two lines give
//!   the same answer in both;
//! - its inverse is exact, so turning a drag of so many pixels, or the point under the mouse
//!   wheel, back into degrees for zoom and pan is one multiplication, with no drift;
//! - a square grid cell in degrees is a square on screen, so the server's grid aggregation
//!   (see `aggregate`) draws as a regular grid;
//! - the world outline is drawn once in this plane (`world`) and zoom and pan are nothing but
//!   the SVG `viewBox`.
//!
//! What it costs: shapes far from the equator are stretched east–west (Scandinavia looks
//! wide). For a map whose job is "which sites are red, and where", that is a fair price.
//!
//! The world SVG and the page use the plane [`Plane::WORLD`], 3600 × 1800 units: one unit is
//! a tenth of a degree, the resolution the outline is stored at.
//!
//! The view does not wrap around the antimeridian: the world is one rectangle from −180° to
//! 180°, and a view is clamped to stay inside it.

use serde::{Deserialize, Serialize};

/// A rectangle of width × height units onto which the whole world is projected.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plane {
    pub width: f64,
    pub height: f64,
}

impl Plane {
    /// The plane of the world SVG and the page: one unit is a tenth of a degree.
    pub const WORLD: Plane = Plane {
        width: 3600.0,
        height: 1800.0,
    };

    /// `(x, y)` of a point; `y` grows southwards, as on screen.
    pub fn project(&self, lat: f64, lon: f64) -> (f64, f64) {
        (
            (lon + 180.0) / 360.0 * self.width,
            (90.0 - lat) / 180.0 * self.height,
        )
    }

    /// `(lat, lon)` of a point of the plane: the exact inverse of [`Plane::project`].
    pub fn unproject(&self, x: f64, y: f64) -> (f64, f64) {
        (
            90.0 - y / self.height * 180.0,
            x / self.width * 360.0 - 180.0,
        )
    }
}

/// A rectangle in degrees. `west <= east` and `south <= north`: boxes never cross the
/// antimeridian.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BBox {
    pub west: f64,
    pub south: f64,
    pub east: f64,
    pub north: f64,
}

impl BBox {
    /// The whole world.
    pub const WORLD: BBox = BBox {
        west: -180.0,
        south: -90.0,
        east: 180.0,
        north: 90.0,
    };

    /// Whether the point is inside or on the edge.
    pub fn contains(&self, lat: f64, lon: f64) -> bool {
        (self.south..=self.north).contains(&lat) && (self.west..=self.east).contains(&lon)
    }

    /// This box grown by `fraction` of its width and height on every side, clipped to the
    /// world.
    pub fn grown(&self, fraction: f64) -> BBox {
        let dx = (self.east - self.west) * fraction;
        let dy = (self.north - self.south) * fraction;
        BBox {
            west: (self.west - dx).max(-180.0),
            south: (self.south - dy).max(-90.0),
            east: (self.east + dx).min(180.0),
            north: (self.north + dy).min(90.0),
        }
    }
}

/// What the map shows: a zoom level and the centre of the view.
///
/// At zoom `z` the view spans `360 / 2^z` degrees of longitude and `180 / 2^z` of latitude:
/// zoom 0 is the whole world, and each level halves both. The page keeps its map at the
/// same 2:1 aspect, so this is also what the user sees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct View {
    /// `0..=View::MAX_ZOOM`; larger values are treated as the maximum.
    pub zoom: u8,
    pub center_lat: f64,
    pub center_lon: f64,
}

impl Default for View {
    fn default() -> Self {
        View::WORLD
    }
}

impl View {
    /// The deepest zoom: a view 1.4° wide, a grid cell of 0.05° (about 5 km).
    pub const MAX_ZOOM: u8 = 8;

    /// The whole world.
    pub const WORLD: View = View {
        zoom: 0,
        center_lat: 0.0,
        center_lon: 0.0,
    };

    /// `(longitude span, latitude span)` in degrees at this view's zoom.
    pub fn span(&self) -> (f64, f64) {
        let scale = f64::from(1u32 << self.zoom.min(Self::MAX_ZOOM));
        (360.0 / scale, 180.0 / scale)
    }

    /// The same view with its zoom at most [`View::MAX_ZOOM`] and its centre moved (the
    /// least) so that the view lies inside the world; a centre that is not a number becomes
    /// 0.
    pub fn clamped(&self) -> View {
        let zoom = self.zoom.min(Self::MAX_ZOOM);
        let (w, h) = View { zoom, ..*self }.span();
        let clamp = |v: f64, half_world: f64, half_view: f64| {
            let v = if v.is_finite() { v } else { 0.0 };
            v.clamp(-half_world + half_view, half_world - half_view)
        };
        View {
            zoom,
            center_lat: clamp(self.center_lat, 90.0, h / 2.0),
            center_lon: clamp(self.center_lon, 180.0, w / 2.0),
        }
    }

    /// What the (clamped) view shows.
    pub fn bbox(&self) -> BBox {
        let v = self.clamped();
        let (w, h) = v.span();
        BBox {
            west: v.center_lon - w / 2.0,
            south: v.center_lat - h / 2.0,
            east: v.center_lon + w / 2.0,
            north: v.center_lat + h / 2.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn projection_round_trips() {
        for plane in [
            Plane::WORLD,
            Plane {
                width: 1024.0,
                height: 512.0,
            },
        ] {
            for lat in [-90.0, -45.5, 0.0, 12.345, 89.999, 90.0] {
                for lon in [-180.0, -73.98, 0.0, 2.35, 151.2, 180.0] {
                    let (x, y) = plane.project(lat, lon);
                    assert!((0.0..=plane.width).contains(&x));
                    assert!((0.0..=plane.height).contains(&y));
                    let (lat2, lon2) = plane.unproject(x, y);
                    assert!(close(lat, lat2) && close(lon, lon2), "{lat},{lon}");
                }
            }
        }
    }

    #[test]
    fn corners_and_centre() {
        let p = Plane::WORLD;
        assert_eq!(p.project(90.0, -180.0), (0.0, 0.0));
        assert_eq!(p.project(-90.0, 180.0), (3600.0, 1800.0));
        assert_eq!(p.project(0.0, 0.0), (1800.0, 900.0));
        // One unit is a tenth of a degree.
        assert_eq!(p.project(-10.0, 10.0), (1900.0, 1000.0));
    }

    #[test]
    fn views_stay_inside_the_world() {
        let v = View {
            zoom: 0,
            center_lat: 40.0,
            center_lon: -100.0,
        };
        assert_eq!(v.bbox(), BBox::WORLD);

        let v = View {
            zoom: 2,
            center_lat: 80.0,
            center_lon: 179.0,
        };
        let b = v.bbox();
        assert!(close(b.east, 180.0) && close(b.west, 90.0), "{b:?}");
        assert!(close(b.north, 90.0) && close(b.south, 45.0), "{b:?}");

        let v = View {
            zoom: 200,
            center_lat: f64::NAN,
            center_lon: 10.0,
        };
        let c = v.clamped();
        assert_eq!(c.zoom, View::MAX_ZOOM);
        assert_eq!(c.center_lat, 0.0);
        assert_eq!(c.center_lon, 10.0);
        let (w, h) = c.span();
        assert!(close(w, 360.0 / 256.0) && close(h, 180.0 / 256.0));
    }

    #[test]
    fn grown_boxes_are_clipped() {
        let b = BBox {
            west: -10.0,
            south: 0.0,
            east: 10.0,
            north: 10.0,
        };
        let g = b.grown(0.25);
        assert_eq!(
            g,
            BBox {
                west: -15.0,
                south: -2.5,
                east: 15.0,
                north: 12.5
            }
        );
        assert_eq!(BBox::WORLD.grown(0.5), BBox::WORLD);
        assert!(g.contains(12.5, 15.0) && !g.contains(12.6, 0.0));
    }
}
