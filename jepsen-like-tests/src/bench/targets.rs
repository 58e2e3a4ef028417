//! `moor-bench targets` (`make bench`): issue 15's targets P1–P8 measured in one run of this
//! program, each beside its reference from the same run (etcd, the fsync and loopback
//! floor, the ideal rollout time), then printed as one table. It asserts nothing: a missed
//! target is a row that says "missed", for a human to record in docs/BENCHMARKS.md.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use super::failover::{self, FailoverBench, FailoverFigures, Fault};
use super::kv::{self, KvFigures, KvLoad, Op, Placement};
use super::rollout::{self, RolloutBench, RolloutFigures};
use super::workload::RunResult;
use crate::harness::MemberSettings;

/// What to run; the defaults are the shapes.
#[derive(Debug, Clone)]
pub struct TargetsBench {
    /// Seconds per client count in the key/value runs.
    pub kv_duration: Duration,
    pub clients: Vec<usize>,
    /// The two rollout sizes (P3 at both; P4 at the first; P6 at the second).
    pub rollout_small: usize,
    pub rollout_large: usize,
    /// Failover runs per fault shape (P5 is a median).
    pub failover_runs: usize,
    pub tls: bool,
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub id: &'static str,
    pub measure: String,
    pub figure: String,
    pub target: &'static str,
    /// None: not measured in this run (e.g. etcd not installed).
    pub met: Option<bool>,
}

/// Runs every measure and returns the rows (printing each bench's own lines as it goes).
pub async fn run(b: &TargetsBench, etcd: Option<&Path>) -> Result<Vec<Row>> {
    let dir = tempfile::Builder::new().prefix("moor-targets-").tempdir()?;
    let settings = MemberSettings {
        insecure_plaintext: !b.tls,
        ..MemberSettings::default()
    };
    let kv = kv::run(
        &KvLoad {
            ops: vec![Op::Write, Op::Read],
            duration: b.kv_duration,
            clients: b.clients.clone(),
            value_bytes: 256,
            connections: 16,
            placement: Placement::Spread,
            settings,
        },
        etcd,
        dir.path(),
    )
    .await?;
    let mut rows = kv_rows(&kv, &b.clients);
    let small = rollout_at(b, b.rollout_small).await?;
    let large = rollout_at(b, b.rollout_large).await?;
    rows.extend(rollout_rows(b, &small, &large));
    for fault in [Fault::Kill, Fault::KillRestart] {
        let f = failover::run(&FailoverBench {
            runs: b.failover_runs,
            environments: 30,
            step_latency_ms: 50,
            tls: b.tls,
            fault,
            pause: Duration::ZERO,
            raft: Vec::new(),
        })
        .await?;
        rows.extend(failover_rows(fault, &f));
    }
    let paused = failover::run(&FailoverBench {
        runs: b.failover_runs.div_ceil(2),
        environments: 30,
        step_latency_ms: 50,
        tls: b.tls,
        fault: Fault::Pause,
        pause: Duration::from_secs(3),
        raft: Vec::new(),
    })
    .await?;
    rows.push(pause_row(&paused));
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

/// One install rollout of `n` environments × 3 steps of 20 ms, parallel 1000.
async fn rollout_at(b: &TargetsBench, n: usize) -> Result<(RolloutBench, RolloutFigures)> {
    let bench = RolloutBench {
        environments: n,
        steps: 3,
        step_latency_ms: 20,
        parallel: 1000,
        kill_leader_at: None,
        timeout: Duration::from_secs(3600),
        tls: b.tls,
        snapshot_every_entries: None,
    };
    let f = rollout::run(&bench).await?;
    println!(
        "rollout {n}: wall {:.2}s ideal {:.2}s ratio {:.2}; {:.0} µs CPU per step; peak RSS {:?} MiB; elections during it {}",
        f.wall_s,
        f.ideal_s,
        f.ratio(),
        f.cpu_us_per_step(&bench),
        f.peak_rss_mib,
        f.elections
    );
    Ok((bench, f))
}

/// P1 (writes), P2 (one writer against the floor) and P8 (reads).
fn kv_rows(kv: &KvFigures, clients: &[usize]) -> Vec<Row> {
    let mut rows = Vec::new();
    for (id, op) in [("P1", Op::Write), ("P8", Op::Read)] {
        for &n in clients {
            let moor = KvFigures::find(&kv.moor, op, n);
            let etcd = KvFigures::find(&kv.etcd, op, n);
            rows.push(versus_etcd(id, op, n, moor, etcd));
        }
    }
    if let Some(one) = KvFigures::find(&kv.moor, Op::Write, 1) {
        let floor = kv.floor.write_floor_ms();
        let ratio = one.p50_ms() / floor.max(1e-9);
        rows.push(Row {
            id: "P2",
            measure: "one writer's p50 ÷ (fsync p50 + loopback RTT p50)".into(),
            figure: format!("{:.2} ms ÷ {floor:.3} ms = {ratio:.1}×", one.p50_ms()),
            target: "≤ 5×",
            met: Some(ratio <= 5.0),
        });
    }
    rows
}

/// A Moor-vs-etcd row: throughput ≥ 1.5× etcd's, p99 no worse (writes) / no errors (reads).
fn versus_etcd(
    id: &'static str,
    op: Op,
    clients: usize,
    moor: Option<&RunResult>,
    etcd: Option<&RunResult>,
) -> Row {
    let measure = format!(
        "{}s/s, {clients} client{} spread, vs etcd",
        op.noun(),
        if clients == 1 { "" } else { "s" }
    );
    let shown = |r: &RunResult| {
        format!(
            "{:.0}/s (p50 {:.2}, p99 {:.2} ms{})",
            r.ops_per_sec(),
            r.p50_ms(),
            r.p99_ms(),
            if r.errors > 0 {
                format!(", {} errors", r.errors)
            } else {
                String::new()
            }
        )
    };
    let target = match op {
        Op::Write => "≥ 1.5× etcd, p99 ≤ etcd's",
        Op::Read => "≥ 1.5× etcd, 0 errors",
    };
    let (figure, met) = match (moor, etcd) {
        (Some(m), Some(e)) => {
            let ratio = m.ops_per_sec() / e.ops_per_sec().max(1e-9);
            let second = match op {
                Op::Write => m.p99_ms() <= e.p99_ms(),
                Op::Read => m.errors == 0,
            };
            (
                format!("{} vs {}: {ratio:.2}×", shown(m), shown(e)),
                Some(ratio >= 1.5 && second),
            )
        }
        (Some(m), None) => (format!("{} (etcd not run)", shown(m)), None),
        _ => ("not run".into(), None),
    };
    Row {
        id,
        measure,
        figure,
        target,
        met,
    }
}

/// P3 at both sizes, P4 at the small one, P6 at the large one.
fn rollout_rows(
    b: &TargetsBench,
    (sb, small): &(RolloutBench, RolloutFigures),
    (_, large): &(RolloutBench, RolloutFigures),
) -> Vec<Row> {
    let ratio_row = |n: usize, f: &RolloutFigures, limit: f64, target| Row {
        id: "P3",
        measure: format!(
            "install rollout wall ÷ ideal, {n} environments, 3 × 20 ms, parallel 1000"
        ),
        figure: format!("{:.2} s ÷ {:.2} s = {:.2}×", f.wall_s, f.ideal_s, f.ratio()),
        target,
        met: Some(f.ratio() <= limit),
    };
    let cpu = small.cpu_us_per_step(sb);
    let peak = large
        .peak_rss_mib
        .iter()
        .map(|(_, m)| *m)
        .max()
        .unwrap_or(0);
    vec![
        ratio_row(b.rollout_small, small, 1.15, "≤ 1.15× (at 10k)"),
        ratio_row(b.rollout_large, large, 1.3, "≤ 1.3× (at 100k)"),
        Row {
            id: "P4",
            measure: format!(
                "CPU per workflow step, members + sitesim, {} environments",
                b.rollout_small
            ),
            figure: format!("{cpu:.0} µs"),
            target: "≤ 30 µs",
            met: Some(cpu <= 30.0),
        },
        Row {
            id: "P6",
            measure: format!("peak RSS per member, {} environments", b.rollout_large),
            figure: format!("{peak} MiB (largest member)"),
            target: "≤ 0.4 GiB (410 MiB)",
            met: Some(peak as f64 <= 409.6),
        },
    ]
}

/// P5 for one fault shape: medians of fault → first write and → first re-dispatched step.
fn failover_rows(fault: Fault, f: &FailoverFigures) -> Vec<Row> {
    let ms = |v: Option<u64>| {
        v.map(|m| format!("{m} ms"))
            .unwrap_or_else(|| "none".into())
    };
    let within = |v: Option<u64>, limit: u64| Some(v.is_some_and(|m| m <= limit));
    let runs = f.runs.len();
    vec![
        Row {
            id: "P5",
            measure: format!(
                "{} → first accepted write, median of {runs}",
                fault.describe()
            ),
            figure: format!(
                "{}{}",
                ms(f.median_write_ms()),
                match f.runs_without_write() {
                    0 => String::new(),
                    n => format!(" ({n} runs without one)"),
                }
            ),
            target: "≤ 0.6 s",
            met: within(f.median_write_ms(), 600),
        },
        Row {
            id: "P5",
            measure: format!(
                "{} → first re-dispatched step, median of {runs}",
                fault.describe()
            ),
            figure: ms(f.median_step_ms()),
            target: "≤ 1.0 s",
            met: within(f.median_step_ms(), 1000),
        },
    ]
}

/// P5's paused-leader shape: the return must not tear down peer connections nor cause
/// elections.
fn pause_row(f: &FailoverFigures) -> Row {
    let goaways = f.goaway_lines();
    let elections = f.elections_after_resume();
    Row {
        id: "P5",
        measure: format!(
            "leader paused 3 s, {} runs: write {}, GOAWAYs and elections after its return",
            f.runs.len(),
            f.median_write_ms()
                .map(|m| format!("median {m} ms"))
                .unwrap_or_else(|| "none".into())
        ),
        figure: format!("{goaways} GOAWAY lines, {elections} elections"),
        target: "0 GOAWAY, 0 elections",
        met: Some(goaways == 0 && elections == 0),
    }
}

/// The table in Markdown, as docs/BENCHMARKS.md records it.
pub fn render(rows: &[Row]) -> String {
    let mut out = String::from(
        "| id | measure | this run | target | met |\n| --- | --- | --- | --- | --- |\n",
    );
    for r in rows {
        let met = match r.met {
            Some(true) => "met",
            Some(false) => "missed",
            None => "not measured",
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {met} |\n",
            r.id, r.measure, r.figure, r.target
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::Histogram;

    fn result(clients: usize, ok: u64, errors: u64, latency_us: u64) -> RunResult {
        let mut latency = Histogram::new(3).unwrap();
        latency.record(latency_us).unwrap();
        RunResult {
            clients,
            ok,
            errors,
            first_error: None,
            elapsed: Duration::from_secs(1),
            latency,
        }
    }

    #[test]
    fn a_write_row_needs_both_the_ratio_and_the_tail() {
        let etcd = result(1, 1000, 0, 2000);
        let fast_and_short = result(1, 1600, 0, 1000);
        let fast_but_long_tail = result(1, 1600, 0, 3000);
        let slow = result(1, 1400, 0, 1000);
        let met = |m: &RunResult| versus_etcd("P1", Op::Write, 1, Some(m), Some(&etcd)).met;
        assert_eq!(met(&fast_and_short), Some(true));
        assert_eq!(met(&fast_but_long_tail), Some(false));
        assert_eq!(met(&slow), Some(false));
        assert_eq!(
            versus_etcd("P1", Op::Write, 1, Some(&slow), None).met,
            None,
            "without etcd the row is not judged"
        );
    }

    #[test]
    fn a_read_row_is_missed_on_any_error() {
        let etcd = result(64, 1000, 0, 2000);
        let with_errors = result(64, 2000, 3, 1000);
        let row = versus_etcd("P8", Op::Read, 64, Some(&with_errors), Some(&etcd));
        assert_eq!(row.met, Some(false));
        assert!(row.figure.contains("3 errors"), "{}", row.figure);
    }

    #[test]
    fn the_table_says_met_missed_or_not_measured() {
        let rows = [
            Row {
                id: "P2",
                measure: "m".into(),
                figure: "f".into(),
                target: "t",
                met: Some(true),
            },
            Row {
                id: "P4",
                measure: "m".into(),
                figure: "f".into(),
                target: "t",
                met: Some(false),
            },
            Row {
                id: "P8",
                measure: "m".into(),
                figure: "f".into(),
                target: "t",
                met: None,
            },
        ];
        let t = render(&rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 5);
        assert!(lines[2].ends_with("| met |"), "{}", lines[2]);
        assert!(lines[3].ends_with("| missed |"), "{}", lines[3]);
        assert!(lines[4].ends_with("| not measured |"), "{}", lines[4]);
    }
}
