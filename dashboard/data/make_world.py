#!/usr/bin/env python3
"""Make dashboard/data/world-110m.json, the world outline of Moor's map view.

Input: Natural Earth 1:110m Admin 0 Countries (public domain), as shipped in the geopandas
0.14.4 wheel under geopandas/datasets/naturalearth_lowres/ (the last geopandas release that
still ships it). Pass either the wheel itself or the extracted .shp file:

    pip download geopandas==0.14.4 --no-deps -d /tmp/ne
    pip install pyshp
    python3 dashboard/data/make_world.py /tmp/ne/geopandas-0.14.4-py3-none-any.whl \
        > dashboard/data/world-110m.json

Simplification, in this order, for every polygon ring of every country:
  1. Douglas-Peucker with a tolerance of TOLERANCE degrees (in plain lon/lat, the same
     plane the map draws in: equirectangular);
  2. coordinates rounded to 0.1 degree, and points that became equal to the previous one
     dropped;
  3. rings with fewer than 3 distinct points, or an area under MIN_AREA square degrees,
     dropped (tiny islands: invisible at the map's scale, and the site dots are what matter).

Output (JSON, one ring per line so diffs stay readable):
    {"source": ..., "licence": ..., "unit": ..., "tolerance_deg": ..., "min_area_deg2": ...,
     "points": N, "rings": [[lon, lat, lon, lat, ...], ...]}
Coordinates are integers in tenths of a degree (lon -1800..1800, lat -900..900); each ring
is open (its last point is not a copy of its first). Rings are ordered as in the input.
Only pyshp and the standard library are needed.
"""

import io
import json
import sys
import zipfile

import shapefile  # pyshp

TOLERANCE = 0.2  # degrees
MIN_AREA = 0.6  # square degrees
MEMBER = "geopandas/datasets/naturalearth_lowres/naturalearth_lowres"


def open_reader(path):
    if path.endswith(".whl") or path.endswith(".zip"):
        wheel = zipfile.ZipFile(path)
        parts = {ext: io.BytesIO(wheel.read(MEMBER + "." + ext)) for ext in ("shp", "shx", "dbf")}
        return shapefile.Reader(shp=parts["shp"], shx=parts["shx"], dbf=parts["dbf"])
    return shapefile.Reader(path)


def seg_dist2(p, a, b):
    """Squared distance from p to the segment a-b (to the point a when a == b)."""
    ax, ay = a
    dx, dy = b[0] - ax, b[1] - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((p[0] - ax) * dx + (p[1] - ay) * dy) / length2))
    qx, qy = ax + t * dx - p[0], ay + t * dy - p[1]
    return qx * qx + qy * qy


def douglas_peucker(points, tol):
    """Iterative Douglas-Peucker: keeps the ends, and every point farther than tol."""
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    tol2 = tol * tol
    while stack:
        lo, hi = stack.pop()
        best, best_i = -1.0, -1
        for i in range(lo + 1, hi):
            d = seg_dist2(points[i], points[lo], points[hi])
            if d > best:
                best, best_i = d, i
        if best_i >= 0 and best > tol2:
            keep[best_i] = True
            stack.append((lo, best_i))
            stack.append((best_i, hi))
    return [p for p, k in zip(points, keep) if k]


def area(ring):
    """Absolute shoelace area of a ring of integer tenths, in square degrees."""
    s = 0
    for i in range(len(ring)):
        x1, y1 = ring[i]
        x2, y2 = ring[(i + 1) % len(ring)]
        s += x1 * y2 - x2 * y1
    return abs(s) / 2 / 100.0


def simplify(points):
    # A shapefile ring is closed (last == first); Douglas-Peucker on the closed polyline keeps
    # that point, which is then dropped to leave an open ring.
    kept = douglas_peucker(points, TOLERANCE)
    ring = []
    for lon, lat in kept:
        q = (round(lon * 10), round(lat * 10))
        if not ring or ring[-1] != q:
            ring.append(q)
    if len(ring) > 1 and ring[0] == ring[-1]:
        ring.pop()
    if len(set(ring)) < 3 or area(ring) < MIN_AREA:
        return None
    return ring


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_world.py <geopandas-0.14.4 wheel | naturalearth_lowres.shp>")
    reader = open_reader(sys.argv[1])
    rings, points_in = [], 0
    for shape in reader.shapes():
        bounds = list(shape.parts) + [len(shape.points)]
        for start, end in zip(bounds, bounds[1:]):
            part = shape.points[start:end]
            points_in += len(part)
            ring = simplify(part)
            if ring is not None:
                rings.append(ring)
    points = sum(len(r) for r in rings)
    print(
        f"{points_in} points in, {points} points in {len(rings)} rings out",
        file=sys.stderr,
    )
    head = {
        "source": "Natural Earth 1:110m Admin 0 Countries (geopandas 0.14.4 naturalearth_lowres)",
        "licence": "public domain",
        "unit": "0.1 degree; rings of [lon, lat, ...], open",
        "tolerance_deg": TOLERANCE,
        "min_area_deg2": MIN_AREA,
        "points": points,
    }
    out = json.dumps(head, separators=(",", ":"))[:-1] + ',"rings":[\n'
    out += ",\n".join(
        json.dumps([c for p in ring for c in p], separators=(",", ":")) for ring in rings
    )
    out += "\n]}\n"
    sys.stdout.write(out)


if __name__ == "__main__":
    main()
