//! The artefacts of a fault-injection run, written to one directory so a failing run can be
//! read without rerunning it:
//!
//! - `history.jsonl`: every op, one JSON object a line ([`crate::history::Op`]);
//! - `nemesis.jsonl`: every fault window ([`crate::history::NemesisEvent`]);
//! - `verdicts.json`: what the checkers said;
//! - `timeline.svg`: a self-contained picture (no scripts): one lane per process with each op
//!   a bar from invocation to completion coloured by outcome (unknown ops run to the end),
//!   fault windows as shaded bands labelled with the nemesis and whether it was installed, a
//!   seconds axis, a legend and a latency-over-time scatter. Hovering a bar or a band shows
//!   its details (an SVG `<title>`). Labels are drawn only where they fit, and at most
//!   [`MAX_BAR_LABELS`] of them, so ~10k ops stay readable.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

use crate::history::{write_jsonl, FaultStatus, NemesisEvent, Op, OpKind, Outcome};

/// Most op bars that get a text label; the rest keep only their tooltip.
pub const MAX_BAR_LABELS: usize = 400;

/// Writes history.jsonl, nemesis.jsonl, verdicts.json and timeline.svg into `dir` (created if
/// missing).
pub fn write_report(
    dir: &Path,
    ops: &[Op],
    nemesis: &[NemesisEvent],
    verdicts: &serde_json::Value,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    write_jsonl(&dir.join("history.jsonl"), ops)?;
    write_jsonl(&dir.join("nemesis.jsonl"), nemesis)?;
    let path = dir.join("verdicts.json");
    let text = serde_json::to_string_pretty(verdicts)?;
    std::fs::write(&path, text + "\n").with_context(|| format!("write {}", path.display()))?;
    let path = dir.join("timeline.svg");
    std::fs::write(&path, timeline_svg(ops, nemesis))
        .with_context(|| format!("write {}", path.display()))?;
    Ok(())
}

const WIDTH: f64 = 1600.0;
const LEFT: f64 = 110.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 56.0;
const FAULT_ROW_H: f64 = 14.0;
const SCATTER_H: f64 = 130.0;
const AXIS_H: f64 = 34.0;
/// Approximate width of one character of the 10px label font.
const CHAR_W: f64 = 6.0;

const COLOR_OK: &str = "#2e9d48";
const COLOR_FAIL: &str = "#d62728";
const COLOR_UNKNOWN: &str = "#f28e1c";

fn outcome_class(op: &Op) -> (&'static str, &'static str) {
    match op.effective_outcome() {
        Outcome::Ok => ("ok", COLOR_OK),
        Outcome::Fail => ("fail", COLOR_FAIL),
        Outcome::Unknown => ("unknown", COLOR_UNKNOWN),
    }
}

fn status_style(status: FaultStatus) -> (&'static str, &'static str) {
    match status {
        FaultStatus::Installed => ("installed", "#c0392b"),
        FaultStatus::Indeterminate => ("indeterminate", "#e6a100"),
        FaultStatus::Skipped => ("skipped", "#8c8c8c"),
    }
}

/// Escapes text for XML content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn fmt_opt(v: Option<i64>) -> String {
    v.map_or_else(|| "null".to_string(), |v| v.to_string())
}

/// A short label for a bar: "w 5", "r → 5", "cas 1→2", "add 7", "read-all".
fn short_label(op: &Op) -> String {
    match op.kind {
        OpKind::Read => match op.effective_outcome() {
            Outcome::Ok => format!(
                "r→{}",
                op.result
                    .as_ref()
                    .map_or_else(|| "null".to_string(), |r| r.to_string())
            ),
            _ => "r".to_string(),
        },
        OpKind::Write => format!("w {}", fmt_opt(op.value)),
        OpKind::Cas => format!("cas {}→{}", fmt_opt(op.expected), fmt_opt(op.value)),
        OpKind::Add => format!("add {}", fmt_opt(op.value)),
        OpKind::ReadAll => "read-all".to_string(),
    }
}

fn fmt_duration(ns: u64) -> String {
    if ns >= 1_000_000_000 {
        format!("{:.3}s", ns as f64 / 1e9)
    } else if ns >= 1_000_000 {
        format!("{:.3}ms", ns as f64 / 1e6)
    } else {
        format!("{:.1}µs", ns as f64 / 1e3)
    }
}

fn tooltip(op: &Op) -> String {
    let mut t = format!(
        "op {} process {} {:?} key {}",
        op.id, op.process, op.kind, op.key
    );
    if let Some(e) = op.expected {
        let _ = write!(t, " expected {e}");
    }
    if let Some(v) = op.value {
        let _ = write!(t, " value {v}");
    }
    if let Some(r) = &op.result {
        let mut r = r.to_string();
        if r.len() > 200 {
            let cut = (0..=200)
                .rev()
                .find(|&i| r.is_char_boundary(i))
                .unwrap_or(0);
            r.truncate(cut);
            r.push('…');
        }
        let _ = write!(t, " result {r}");
    }
    let outcome = match op.outcome {
        Some(Outcome::Ok) => "ok",
        Some(Outcome::Fail) => "fail",
        Some(Outcome::Unknown) => "unknown",
        None => "never completed (unknown)",
    };
    let _ = write!(t, " — {outcome}");
    match op.complete_ns {
        Some(c) => {
            let _ = write!(
                t,
                ", latency {} (at {:.6}s)",
                fmt_duration(c.saturating_sub(op.invoke_ns)),
                op.invoke_ns as f64 / 1e9
            );
        }
        None => {
            let _ = write!(t, ", invoked at {:.6}s", op.invoke_ns as f64 / 1e9);
        }
    }
    if let Some(e) = &op.error {
        let _ = write!(t, ", error: {e}");
    }
    t
}

/// A tick step in seconds giving about `target` ticks over `span_s`.
fn tick_step(span_s: f64, target: f64) -> f64 {
    let raw = (span_s / target).max(1e-9);
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * mag)
}

/// Assigns each interval (in pixels) the first row where it overlaps nothing.
fn pack_rows(intervals: &[(f64, f64)]) -> (Vec<usize>, usize) {
    let mut order: Vec<usize> = (0..intervals.len()).collect();
    order.sort_by(|&a, &b| intervals[a].0.total_cmp(&intervals[b].0));
    let mut row_end: Vec<f64> = Vec::new();
    let mut rows = vec![0; intervals.len()];
    for i in order {
        let (start, end) = intervals[i];
        let row = match row_end.iter().position(|&e| e + 4.0 <= start) {
            Some(r) => r,
            None => {
                row_end.push(f64::NEG_INFINITY);
                row_end.len() - 1
            }
        };
        row_end[row] = end;
        rows[i] = row;
    }
    (rows, row_end.len())
}

/// The timeline picture; see the module docs.
pub fn timeline_svg(ops: &[Op], nemesis: &[NemesisEvent]) -> String {
    let layout = Layout::new(ops, nemesis);
    let mut s = String::with_capacity(4096 + ops.len() * 220);
    write_header(&mut s, &layout, ops.len(), nemesis.len());
    write_legend(&mut s);
    write_time_axis(&mut s, &layout);
    write_fault_windows(&mut s, &layout, nemesis);
    write_lanes(&mut s, &layout);
    write_op_bars(&mut s, &layout, ops);
    write_latency_scatter(&mut s, &layout, ops);
    s.push_str("</svg>\n");
    s
}

/// The history's clock mapped onto the plot's width.
struct TimeScale {
    /// The clock runs from 0 to this (the last thing that happened, at least 1).
    end_ns: u64,
    plot_w: f64,
}

impl TimeScale {
    /// From 0 to the last invocation, completion or fault window edge of the run.
    fn of_run(ops: &[Op], nemesis: &[NemesisEvent]) -> TimeScale {
        let mut end_ns = 1u64;
        for op in ops {
            end_ns = end_ns.max(op.invoke_ns).max(op.complete_ns.unwrap_or(0));
        }
        for ev in nemesis {
            end_ns = end_ns.max(ev.start_ns).max(ev.end_ns.unwrap_or(0));
        }
        TimeScale {
            end_ns,
            plot_w: WIDTH - LEFT - RIGHT,
        }
    }

    /// The x pixel of a time on the history's clock (times past the end sit at the end).
    fn x(&self, ns: u64) -> f64 {
        LEFT + self.plot_w * (ns.min(self.end_ns) as f64 / self.end_ns as f64)
    }

    /// The x pixels a fault window covers: to the end of the run if it never healed, and at
    /// least one pixel wide.
    fn fault_span(&self, ev: &NemesisEvent) -> (f64, f64) {
        let x0 = self.x(ev.start_ns);
        let x1 = self.x(ev.end_ns.unwrap_or(self.end_ns)).max(x0 + 1.0);
        (x0, x1)
    }
}

/// Where the timeline's parts sit: the fault label rows, the process lanes, the latency
/// scatter and the axis, top to bottom.
struct Layout {
    time: TimeScale,
    /// Lane of each process, in process order.
    processes: BTreeMap<u64, usize>,
    lane_h: f64,
    bar_h: f64,
    /// The label row of each fault window.
    fault_rows: Vec<usize>,
    faults_top: f64,
    lanes_top: f64,
    lanes_h: f64,
    scatter_top: f64,
    axis_top: f64,
    height: f64,
}

impl Layout {
    /// Measures the run and stacks the parts of the picture.
    fn new(ops: &[Op], nemesis: &[NemesisEvent]) -> Layout {
        let time = TimeScale::of_run(ops, nemesis);
        // Lanes: one per process, in process order.
        let processes: BTreeMap<u64, usize> = {
            let mut ps: Vec<u64> = ops.iter().map(|op| op.process).collect();
            ps.sort_unstable();
            ps.dedup();
            ps.into_iter().enumerate().map(|(i, p)| (p, i)).collect()
        };
        let lane_h = (640.0 / processes.len().max(1) as f64).clamp(4.0, 18.0);
        let bar_h = (lane_h - 2.0).max(2.0);

        // Fault labels are packed into rows above the lanes.
        let fault_px: Vec<(f64, f64)> = nemesis
            .iter()
            .map(|ev| {
                let (x0, x1) = time.fault_span(ev);
                let text_w = fault_label(ev).chars().count() as f64 * CHAR_W;
                (x0, x1.max(x0 + text_w))
            })
            .collect();
        let (fault_rows, n_fault_rows) = pack_rows(&fault_px);

        let faults_top = TOP;
        let lanes_top = faults_top + n_fault_rows as f64 * FAULT_ROW_H + 6.0;
        let lanes_h = processes.len() as f64 * lane_h;
        let scatter_top = lanes_top + lanes_h + 12.0;
        let axis_top = scatter_top + SCATTER_H;
        Layout {
            time,
            processes,
            lane_h,
            bar_h,
            fault_rows,
            faults_top,
            lanes_top,
            lanes_h,
            scatter_top,
            axis_top,
            height: axis_top + AXIS_H,
        }
    }

    /// The top of lane `lane`.
    fn lane_y(&self, lane: usize) -> f64 {
        self.lanes_top + lane as f64 * self.lane_h
    }
}

/// A fault window's label: its name and whether it was installed.
fn fault_label(ev: &NemesisEvent) -> String {
    format!("{} ({})", ev.name, status_style(ev.status).0)
}

/// The XML prolog, the `<svg>` element with its stylesheet, the background and the title.
fn write_header(s: &mut String, layout: &Layout, n_ops: usize, n_faults: usize) {
    let height = layout.height;
    let _ = write!(
        s,
        r##"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0}" viewBox="0 0 {WIDTH} {height:.0}" font-family="sans-serif" font-size="10">
<style>
.lane-label {{ fill: #333; }}
.bar {{ shape-rendering: crispEdges; }}
.bar.unknown {{ fill-opacity: 0.55; }}
.bar-label {{ fill: #fff; font-size: 9px; pointer-events: none; }}
.fault-band {{ fill-opacity: 0.13; }}
.fault-label {{ font-size: 10px; }}
.grid {{ stroke: #e4e4e4; stroke-width: 1; }}
.axis {{ stroke: #555; stroke-width: 1; }}
.dot {{ fill-opacity: 0.6; }}
</style>
<rect x="0" y="0" width="{WIDTH}" height="{height:.0}" fill="#fff"/>
<text x="{LEFT}" y="16" font-size="13" font-weight="bold">Moor fault-injection run: {} ops, {} processes, {} fault windows, {:.3}s</text>
"##,
        n_ops,
        layout.processes.len(),
        n_faults,
        layout.time.end_ns as f64 / 1e9
    );
}

/// One swatch per op outcome and per fault status, in a row under the title.
fn write_legend(s: &mut String) {
    let mut lx = LEFT;
    let legend_y = 34.0;
    for (name, color, opacity) in [
        ("ok", COLOR_OK, 1.0),
        ("fail", COLOR_FAIL, 1.0),
        ("unknown (runs to the end)", COLOR_UNKNOWN, 0.55),
        (
            "fault installed",
            status_style(FaultStatus::Installed).1,
            0.3,
        ),
        (
            "fault indeterminate",
            status_style(FaultStatus::Indeterminate).1,
            0.3,
        ),
        ("fault skipped", status_style(FaultStatus::Skipped).1, 0.3),
    ] {
        let _ = writeln!(
            s,
            r##"<g class="legend"><rect x="{lx:.1}" y="{:.1}" width="14" height="10" fill="{color}" fill-opacity="{opacity}"/><text x="{:.1}" y="{:.1}">{}</text></g>"##,
            legend_y - 9.0,
            lx + 18.0,
            legend_y,
            esc(name)
        );
        lx += 18.0 + name.chars().count() as f64 * CHAR_W + 16.0;
    }
}

/// Grid lines and the seconds axis.
fn write_time_axis(s: &mut String, layout: &Layout) {
    let (plot_w, faults_top, axis_top) = (layout.time.plot_w, layout.faults_top, layout.axis_top);
    let span_s = layout.time.end_ns as f64 / 1e9;
    let step = tick_step(span_s, 12.0);
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10()).ceil() as usize
    };
    s.push_str("<g class=\"time-axis\">\n");
    let _ = writeln!(
        s,
        r##"<line class="axis" x1="{LEFT}" y1="{axis_top:.1}" x2="{:.1}" y2="{axis_top:.1}"/>"##,
        WIDTH - RIGHT
    );
    let mut k = 0u64;
    loop {
        let t = k as f64 * step;
        if t > span_s * (1.0 + 1e-9) || k > 1000 {
            break;
        }
        let tx = LEFT + plot_w * (t / span_s);
        let _ = writeln!(
            s,
            r##"<line class="grid" x1="{tx:.1}" y1="{faults_top:.1}" x2="{tx:.1}" y2="{axis_top:.1}"/><line class="axis" x1="{tx:.1}" y1="{axis_top:.1}" x2="{tx:.1}" y2="{:.1}"/><text x="{tx:.1}" y="{:.1}" text-anchor="middle">{t:.decimals$}s</text>"##,
            axis_top + 4.0,
            axis_top + 16.0
        );
        k += 1;
    }
    let _ = writeln!(
        s,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">time since the run started (s)</text>"##,
        LEFT + plot_w / 2.0,
        axis_top + 30.0
    );
    s.push_str("</g>\n");
}

/// Fault windows: a band across the lanes and the scatter, and a label row above.
fn write_fault_windows(s: &mut String, layout: &Layout, nemesis: &[NemesisEvent]) {
    s.push_str("<g class=\"faults\">\n");
    for (i, ev) in nemesis.iter().enumerate() {
        let (status, color) = status_style(ev.status);
        let (x0, x1) = layout.time.fault_span(ev);
        let label_y = layout.faults_top + layout.fault_rows[i] as f64 * FAULT_ROW_H;
        let end = ev.end_ns.map_or_else(
            || "never healed".to_string(),
            |e| format!("{:.3}s", e as f64 / 1e9),
        );
        let title = esc(&format!(
            "{} — {status}: {} [{:.3}s .. {end}]",
            ev.name,
            ev.detail,
            ev.start_ns as f64 / 1e9
        ));
        let _ = writeln!(
            s,
            r##"<g class="fault {status}"><title>{title}</title><rect class="fault-band" x="{x0:.1}" y="{label_y:.1}" width="{:.1}" height="{:.1}" fill="{color}"/><text class="fault-label" x="{:.1}" y="{:.1}" fill="{color}">{}</text></g>"##,
            x1 - x0,
            layout.axis_top - label_y,
            x0 + 2.0,
            label_y + 10.0,
            esc(&fault_label(ev))
        );
    }
    s.push_str("</g>\n");
}

/// Process lanes: every other one shaded, labelled as often as the label font fits.
fn write_lanes(s: &mut String, layout: &Layout) {
    let (plot_w, lane_h) = (layout.time.plot_w, layout.lane_h);
    s.push_str("<g class=\"lanes\">\n");
    // Lane labels need about 11px; label every label_every-th lane.
    let label_every =
        ((layout.processes.len() as f64 / (layout.lanes_h / 11.0).max(1.0)).ceil() as usize).max(1);
    for (&p, &lane) in &layout.processes {
        let y = layout.lane_y(lane);
        if lane % 2 == 1 {
            let _ = writeln!(
                s,
                "<rect x=\"{LEFT}\" y=\"{y:.1}\" width=\"{plot_w:.1}\" height=\"{lane_h:.1}\" fill=\"#000\" fill-opacity=\"0.03\"/>"
            );
        }
        if lane / label_every * label_every == lane {
            let _ = writeln!(
                s,
                r##"<text class="lane-label" x="{:.1}" y="{:.1}" text-anchor="end">process {p}</text>"##,
                LEFT - 6.0,
                y + lane_h / 2.0 + 3.5
            );
        }
    }
    s.push_str("</g>\n");
}

/// Which ops get a text label: those whose bar can hold it, thinned to every stride-th so
/// at most [`MAX_BAR_LABELS`] are drawn, spread over the run.
fn bar_labels(layout: &Layout, ops: &[Op]) -> Vec<bool> {
    let fits: Vec<bool> = ops
        .iter()
        .map(|op| {
            let w = layout.time.x(op.complete_ns.unwrap_or(layout.time.end_ns))
                - layout.time.x(op.invoke_ns);
            layout.bar_h >= 8.0 && w >= short_label(op).chars().count() as f64 * CHAR_W + 4.0
        })
        .collect();
    let fitting = fits.iter().filter(|&&f| f).count();
    let label_stride = fitting.div_ceil(MAX_BAR_LABELS).max(1);
    // Every label_stride-th op that fits gets its label.
    let mut fitting_until_label = 0usize;
    fits.into_iter()
        .map(|fit| {
            if !fit {
                return false;
            }
            let labelled = fitting_until_label == 0;
            fitting_until_label = if fitting_until_label == 0 {
                label_stride - 1
            } else {
                fitting_until_label - 1
            };
            labelled
        })
        .collect()
}

/// Op bars from invocation to completion (unknown ops to the end), coloured by outcome,
/// with a tooltip each and the labels [`bar_labels`] chose.
fn write_op_bars(s: &mut String, layout: &Layout, ops: &[Op]) {
    let (lane_h, bar_h) = (layout.lane_h, layout.bar_h);
    s.push_str("<g class=\"ops\">\n");
    for (op, labelled) in ops.iter().zip(bar_labels(layout, ops)) {
        let (class, color) = outcome_class(op);
        let lane = layout.processes.get(&op.process).copied().unwrap_or(0);
        let y = layout.lane_y(lane) + (lane_h - bar_h) / 2.0;
        let done = match op.effective_outcome() {
            // An unknown op may take effect any time later: its bar runs to the end.
            Outcome::Unknown => layout.time.end_ns,
            _ => op.complete_ns.unwrap_or(layout.time.end_ns),
        };
        let x0 = layout.time.x(op.invoke_ns);
        let w = (layout.time.x(done) - x0).max(1.0);
        let _ = write!(
            s,
            r##"<rect class="bar {class}" x="{x0:.1}" y="{y:.1}" width="{w:.1}" height="{bar_h:.1}" fill="{color}"><title>{}</title></rect>"##,
            esc(&tooltip(op))
        );
        if labelled {
            let _ = write!(
                s,
                r##"<text class="bar-label" x="{:.1}" y="{:.1}">{}</text>"##,
                x0 + 2.0,
                y + bar_h / 2.0 + 3.0,
                esc(&short_label(op))
            );
        }
        s.push('\n');
    }
    s.push_str("</g>\n");
}

/// Latency over time, log scale: one dot per completed op at its invocation time.
fn write_latency_scatter(s: &mut String, layout: &Layout, ops: &[Op]) {
    let (scatter_top, plot_w) = (layout.scatter_top, layout.time.plot_w);
    let latencies: Vec<(&Op, u64)> = ops
        .iter()
        .filter_map(|op| Some((op, op.complete_ns?.saturating_sub(op.invoke_ns).max(1))))
        .collect();
    let _ = writeln!(
        s,
        r##"<g class="latency"><rect x="{LEFT}" y="{scatter_top:.1}" width="{plot_w:.1}" height="{:.1}" fill="none" stroke="#ccc"/><text x="{:.1}" y="{:.1}" text-anchor="end">latency</text><text x="{:.1}" y="{:.1}" text-anchor="end">(log)</text>"##,
        SCATTER_H - 8.0,
        LEFT - 6.0,
        scatter_top + SCATTER_H / 2.0 - 4.0,
        LEFT - 6.0,
        scatter_top + SCATTER_H / 2.0 + 8.0
    );
    if let (Some(min), Some(max)) = (
        latencies.iter().map(|&(_, l)| l).min(),
        latencies.iter().map(|&(_, l)| l).max(),
    ) {
        let (lo, hi) = (
            (min as f64).log10(),
            (max as f64).log10().max((min as f64).log10() + 1e-9),
        );
        let inner_top = scatter_top + 4.0;
        let inner_h = SCATTER_H - 16.0;
        let y_of = |l: u64| inner_top + inner_h * (1.0 - ((l as f64).log10() - lo) / (hi - lo));
        for (value, anchor_y) in [(max, y_of(max) + 4.0), (min, y_of(min))] {
            let _ = writeln!(
                s,
                r##"<text x="{:.1}" y="{anchor_y:.1}" text-anchor="end" fill="#666">{}</text>"##,
                LEFT - 6.0,
                fmt_duration(value)
            );
        }
        for (op, l) in latencies {
            let (class, color) = outcome_class(op);
            let _ = writeln!(
                s,
                r##"<circle class="dot {class}" cx="{:.1}" cy="{:.1}" r="1.6" fill="{color}"/>"##,
                layout.time.x(op.invoke_ns),
                y_of(l)
            );
        }
    }
    s.push_str("</g>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{History, OpKind};

    /// A minimal XML well-formedness check: tags balance, attributes are quoted, entities are
    /// the predefined ones, no stray '<' or '&'. Returns the element names in document order.
    fn parse_xml(doc: &str) -> Result<Vec<String>, String> {
        let mut stack: Vec<String> = Vec::new();
        let mut elements = Vec::new();
        let mut rest = doc;
        let mut root_seen = false;
        while let Some(lt) = rest.find('<') {
            check_text(&rest[..lt])?;
            rest = &rest[lt..];
            if let Some(r) = rest.strip_prefix("<?") {
                let end = r.find("?>").ok_or("unterminated <?")?;
                rest = &r[end + 2..];
                continue;
            }
            if let Some(r) = rest.strip_prefix("<!--") {
                let end = r.find("-->").ok_or("unterminated comment")?;
                rest = &r[end + 3..];
                continue;
            }
            let gt = find_tag_end(rest).ok_or("unterminated tag")?;
            let tag = &rest[1..gt];
            rest = &rest[gt + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                let open = stack.pop().ok_or(format!("</{name}> closes nothing"))?;
                if open != name.trim() {
                    return Err(format!("<{open}> closed by </{name}>"));
                }
                continue;
            }
            let self_closing = tag.ends_with('/');
            let body = tag.trim_end_matches('/');
            let name_end = body.find(|c: char| c.is_whitespace()).unwrap_or(body.len());
            let name = &body[..name_end];
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '-' || c == ':')
            {
                return Err(format!("bad element name in <{tag}>"));
            }
            check_attributes(&body[name_end..])?;
            if stack.is_empty() {
                if root_seen {
                    return Err("second root element".into());
                }
                root_seen = true;
            }
            elements.push(name.to_string());
            if !self_closing {
                stack.push(name.to_string());
            }
        }
        check_text(rest)?;
        if !rest.trim().is_empty() && stack.is_empty() {
            return Err("text after the root element".into());
        }
        match stack.last() {
            Some(open) => Err(format!("<{open}> never closed")),
            None if !root_seen => Err("no root element".into()),
            None => Ok(elements),
        }
    }

    fn find_tag_end(s: &str) -> Option<usize> {
        let mut quote = None;
        for (i, c) in s.char_indices().skip(1) {
            match (quote, c) {
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, '>') => return Some(i),
                (None, '<') => return None,
                _ => {}
            }
        }
        None
    }

    fn check_text(text: &str) -> Result<(), String> {
        let mut rest = text;
        while let Some(amp) = rest.find('&') {
            rest = &rest[amp + 1..];
            let semi = rest.find(';').ok_or("bare &")?;
            let entity = &rest[..semi];
            let numeric = entity.strip_prefix('#').is_some_and(|n| {
                n.strip_prefix('x').map_or_else(
                    || n.parse::<u32>().is_ok(),
                    |h| u32::from_str_radix(h, 16).is_ok(),
                )
            });
            if !numeric && !matches!(entity, "amp" | "lt" | "gt" | "quot" | "apos") {
                return Err(format!("unknown entity &{entity};"));
            }
            rest = &rest[semi + 1..];
        }
        if text.contains('>') && text.contains("]]>") {
            return Err("]]> in text".into());
        }
        Ok(())
    }

    fn check_attributes(mut attrs: &str) -> Result<(), String> {
        loop {
            attrs = attrs.trim_start();
            if attrs.is_empty() {
                return Ok(());
            }
            let eq = attrs
                .find('=')
                .ok_or(format!("attribute without value: {attrs}"))?;
            let name = attrs[..eq].trim();
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(format!("bad attribute name {name:?}"));
            }
            let value = attrs[eq + 1..].trim_start();
            let quote = value.chars().next().ok_or("missing attribute value")?;
            if quote != '"' && quote != '\'' {
                return Err(format!("unquoted attribute {name}"));
            }
            let close = value[1..].find(quote).ok_or("unterminated attribute")?;
            let content = &value[1..1 + close];
            if content.contains('<') {
                return Err(format!("'<' in attribute {name}"));
            }
            check_text(content)?;
            attrs = &value[close + 2..];
        }
    }

    #[test]
    fn the_xml_check_rejects_broken_documents() {
        assert!(parse_xml("<a><b/></a>").is_ok());
        assert!(parse_xml("<a><b></a>").is_err());
        assert!(parse_xml("<a x=1/>").is_err());
        assert!(parse_xml("<a>&nbsp;</a>").is_err());
        assert!(parse_xml("<a>x & y</a>").is_err());
        assert!(parse_xml("<a/><b/>").is_err());
        assert!(parse_xml("<a title=\"x<y\"/>").is_err());
    }

    fn sample() -> (Vec<Op>, Vec<NemesisEvent>) {
        let h = History::new();
        let a = h.invoke(0, OpKind::Write, "k<&>\"'", Some(1), None);
        let b = h.invoke(1, OpKind::Read, "k", None, None);
        let c = h.invoke(2, OpKind::Cas, "k", Some(3), Some(1));
        h.invoke(3, OpKind::Add, "s", Some(7), None); // never completes
        let d = h.invoke(4, OpKind::ReadAll, "s", None, None);
        h.complete(a, Outcome::Ok, None, None);
        h.complete(b, Outcome::Ok, Some(serde_json::json!(1)), None);
        h.complete(c, Outcome::Fail, None, Some("mismatch \u{1}<x>".into()));
        h.complete(d, Outcome::Unknown, None, Some("deadline".into()));
        let mut ops = h.ops();
        // Spread them out so bars are wide enough to carry labels.
        for (i, op) in ops.iter_mut().enumerate() {
            op.invoke_ns = i as u64 * 1_000_000_000;
            op.complete_ns = op.complete_ns.map(|_| op.invoke_ns + 800_000_000);
        }
        let nemesis = vec![
            NemesisEvent {
                name: "partition".into(),
                detail: "{n1} | {n2, n3}".into(),
                status: FaultStatus::Installed,
                start_ns: 500_000_000,
                end_ns: Some(2_000_000_000),
            },
            NemesisEvent {
                name: "kill -9".into(),
                detail: "n2 & <restart>".into(),
                status: FaultStatus::Indeterminate,
                start_ns: 1_000_000_000,
                end_ns: None,
            },
            NemesisEvent {
                name: "pause".into(),
                detail: "no privileges".into(),
                status: FaultStatus::Skipped,
                start_ns: 3_000_000_000,
                end_ns: Some(3_500_000_000),
            },
        ];
        (ops, nemesis)
    }

    #[test]
    fn writes_all_four_files_and_a_well_formed_timeline() {
        let (ops, nemesis) = sample();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        let verdicts = serde_json::json!({"linearizable": {"ok": true}});
        write_report(&out, &ops, &nemesis, &verdicts).unwrap();

        assert_eq!(
            History::read_jsonl(&out.join("history.jsonl")).unwrap(),
            ops
        );
        let back: Vec<NemesisEvent> =
            crate::history::read_jsonl(&out.join("nemesis.jsonl")).unwrap();
        assert_eq!(back, nemesis);
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("verdicts.json")).unwrap())
                .unwrap();
        assert_eq!(v, verdicts);

        let svg = std::fs::read_to_string(out.join("timeline.svg")).unwrap();
        let elements = parse_xml(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
        assert_eq!(elements[0], "svg");
        assert_eq!(svg.matches("class=\"fault-band\"").count(), nemesis.len());
        for status in ["fault installed", "fault indeterminate", "fault skipped"] {
            assert!(svg.contains(&format!("class=\"{status}\"")), "{status}");
        }
        assert_eq!(svg.matches("<rect class=\"bar ").count(), ops.len());
        assert_eq!(svg.matches("class=\"bar unknown\"").count(), 2);
        assert_eq!(svg.matches("class=\"bar fail\"").count(), 1);
        // Four completed ops, four latency dots.
        assert_eq!(svg.matches("<circle class=\"dot").count(), 4);
        assert!(svg.contains("kill -9 (indeterminate)"));
        assert!(svg.contains("r→1"), "read label drawn");
        assert!(!svg.contains("<script"));
    }

    #[test]
    fn odd_input_gives_a_well_formed_timeline() {
        // Nothing at all.
        parse_xml(&timeline_svg(&[], &[])).unwrap();
        // A fault with no ops, an op at time 0 that never completed.
        let (ops, nemesis) = sample();
        parse_xml(&timeline_svg(&[], &nemesis)).unwrap();
        let mut op = ops[3].clone();
        op.invoke_ns = 0;
        parse_xml(&timeline_svg(&[op], &[])).unwrap();
    }

    #[test]
    fn many_ops_keep_labels_bounded() {
        let mut ops = Vec::new();
        for i in 0..10_000u64 {
            ops.push(Op {
                id: i,
                process: i % 10,
                kind: OpKind::Write,
                key: "k".into(),
                value: Some(i as i64),
                expected: None,
                result: None,
                invoke_ns: i * 100,
                complete_ns: Some(i * 100 + 90),
                outcome: Some(Outcome::Ok),
                error: None,
            });
        }
        // Stretch a few hundred ops wide so they would all fit a label.
        for op in ops.iter_mut().step_by(10) {
            op.complete_ns = Some(op.invoke_ns + 200_000);
        }
        let svg = timeline_svg(&ops, &[]);
        parse_xml(&svg).unwrap();
        let labels = svg.matches("class=\"bar-label\"").count();
        assert!(labels > 0 && labels <= MAX_BAR_LABELS, "{labels}");
        assert_eq!(svg.matches("<rect class=\"bar ").count(), ops.len());
    }
}
