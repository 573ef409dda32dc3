//! The cross-engine view of a run: the median of repeated runs, and the
//! table of each workload's time per operation on every engine with the
//! ratio of lsmkit's time to each peer's run with the matched settings
//! (above 1: lsmkit is slower).

use super::engine::is_defaults_label;
use super::measurement::Measurement;

/// The median of `values` (the mean of the middle two for an even count;
/// `None` when empty).
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    Some(if values.len() % 2 == 1 { values[middle] } else { (values[middle - 1] + values[middle]) / 2.0 })
}

fn median_of<T>(runs: &[&Measurement], field: impl Fn(&Measurement) -> Option<T>) -> Option<f64>
where
    T: Into<f64>,
{
    let mut values: Vec<f64> = runs.iter().filter_map(|m| field(m).map(Into::into)).collect();
    median(&mut values)
}

/// The run whose time is the median (the lower one of an even count): the
/// tree it left is reported beside the median time.
fn median_time_run<'a>(same: &[&'a Measurement]) -> Option<&'a Measurement> {
    let mut by_time = same.to_vec();
    by_time.sort_by(|a, b| a.micros_per_op.total_cmp(&b.micros_per_op));
    by_time.get(by_time.len().saturating_sub(1) / 2).copied()
}

/// Combines several runs of one engine's suite (each a list of
/// measurements in workload order) into one list: every figure is the
/// median of its values across the runs.
pub fn median_runs(runs: &[Vec<Measurement>]) -> Vec<Measurement> {
    let Some(first) = runs.first() else { return Vec::new() };
    (0..first.len())
        .map(|i| {
            let same: Vec<&Measurement> = runs.iter().filter_map(|run| run.get(i)).collect();
            let as_u64 = |v: Option<f64>| v.map(|v| v.round() as u64);
            Measurement {
                engine: first[i].engine.clone(),
                benchmark: first[i].benchmark.clone(),
                num: first[i].num,
                micros_per_op: median_of(&same, |m| Some(m.micros_per_op)).unwrap_or(0.0),
                mb_per_s: median_of(&same, |m| m.mb_per_s),
                p50_us: median_of(&same, |m| Some(m.p50_us)).unwrap_or(0.0),
                p99_us: median_of(&same, |m| Some(m.p99_us)).unwrap_or(0.0),
                p999_us: median_of(&same, |m| Some(m.p999_us)).unwrap_or(0.0),
                disk_bytes_written: as_u64(median_of(&same, |m| m.disk_bytes_written.map(|v| v as f64))),
                write_amp: median_of(&same, |m| m.write_amp),
                settled_disk_bytes_written: as_u64(median_of(&same, |m| {
                    m.settled_disk_bytes_written.map(|v| v as f64)
                })),
                settled_write_amp: median_of(&same, |m| m.settled_write_amp),
                bytes_on_disk: as_u64(median_of(&same, |m| Some(m.bytes_on_disk as f64))).unwrap_or(0),
                peak_rss_bytes: as_u64(median_of(&same, |m| m.peak_rss_bytes.map(|v| v as f64))),
                files_per_level: median_time_run(&same).and_then(|m| m.files_per_level.clone()),
                message: first[i].message.clone(),
            }
        })
        .collect()
}

/// A Markdown table: one row per workload (in run order), micros/op for
/// each engine run, then `lsmkit/peer` time ratios when lsmkit is among the
/// engines (against each peer's matched run only: a peer with its own
/// defaults differs in more than the engine), then p99 latency, write
/// amplification and bytes on disk per engine run.
pub fn table(per_engine: &[Vec<Measurement>]) -> String {
    let engines: Vec<&str> =
        per_engine.iter().filter_map(|run| run.first()).map(|m| m.engine.as_str()).collect();
    let lsmkit = engines.iter().position(|e| *e == "lsmkit");
    let peers: Vec<usize> =
        (0..engines.len()).filter(|&e| Some(e) != lsmkit && !is_defaults_label(engines[e])).collect();
    let mut header = vec!["workload".to_string()];
    header.extend(engines.iter().map(|e| format!("{e} µs/op")));
    if lsmkit.is_some() {
        header.extend(peers.iter().map(|&p| format!("lsmkit/{}", engines[p])));
    }
    header.extend(engines.iter().map(|e| format!("{e} p99 µs")));
    header.extend(engines.iter().map(|e| format!("{e} WA")));
    header.extend(engines.iter().map(|e| format!("{e} settled WA")));
    header.extend(engines.iter().map(|e| format!("{e} MB")));
    let mut lines = vec![format!("| {} |", header.join(" | ")), format!("|{}", "---|".repeat(header.len()))];
    let rows = per_engine.iter().map(Vec::len).max().unwrap_or(0);
    for row in 0..rows {
        // A skipped workload (an engine without the feature it needs)
        // shows as such, with no figures.
        let cell = |e: usize| per_engine.get(e).and_then(|run| run.get(row)).filter(|m| !m.is_skipped());
        let skipped =
            |e: usize| per_engine.get(e).and_then(|run| run.get(row)).is_some_and(|m| m.is_skipped());
        let name = (0..engines.len())
            .find_map(|e| per_engine.get(e).and_then(|run| run.get(row)).map(|m| m.benchmark.clone()))
            .unwrap_or_default();
        let mut cells = vec![name];
        cells.extend((0..engines.len()).map(|e| match cell(e) {
            Some(m) => format!("{:.3}", m.micros_per_op),
            None if skipped(e) => "skipped".into(),
            None => "-".into(),
        }));
        if let Some(l) = lsmkit {
            for &p in &peers {
                cells.push(match (cell(l), cell(p)) {
                    (Some(ours), Some(theirs)) if theirs.micros_per_op > 0.0 => {
                        format!("{:.2}", ours.micros_per_op / theirs.micros_per_op)
                    }
                    _ => "-".into(),
                });
            }
        }
        cells.extend((0..engines.len()).map(|e| cell(e).map_or("-".into(), |m| format!("{:.1}", m.p99_us))));
        cells.extend(
            (0..engines.len())
                .map(|e| cell(e).and_then(|m| m.write_amp).map_or("-".into(), |w| format!("{w:.2}"))),
        );
        cells
            .extend((0..engines.len()).map(|e| {
                cell(e).and_then(|m| m.settled_write_amp).map_or("-".into(), |w| format!("{w:.2}"))
            }));
        cells.extend(
            (0..engines.len()).map(|e| {
                cell(e).map_or("-".into(), |m| format!("{:.1}", m.bytes_on_disk as f64 / 1_048_576.0))
            }),
        );
        lines.push(format!("| {} |", cells.join(" | ")));
    }
    let rss: Vec<String> = per_engine
        .iter()
        .filter_map(|run| run.first())
        .map(|m| {
            format!(
                "{} {}",
                m.engine,
                m.peak_rss_bytes.map_or("?".into(), |b| format!("{:.1} MB", b as f64 / 1_048_576.0))
            )
        })
        .collect();
    lines.push(String::new());
    lines.push(format!("Peak RSS: {}", rss.join(", ")));
    lines.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::measurement::tests::sample;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&mut [7.0]), Some(7.0));
        assert_eq!(median(&mut []), None);
    }

    #[test]
    fn median_runs_takes_each_figure_separately() {
        let run = |micros: f64, p99: f64, rss: u64| {
            vec![Measurement {
                p99_us: p99,
                peak_rss_bytes: Some(rss),
                ..sample("lsmkit", "fillseq", micros)
            }]
        };
        let merged = median_runs(&[run(5.0, 10.0, 300), run(1.0, 30.0, 100), run(3.0, 20.0, 200)]);
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].micros_per_op, 3.0);
        assert_eq!(merged[0].p99_us, 20.0);
        assert_eq!(merged[0].peak_rss_bytes, Some(200));
        // The tree shown is the one the median-time run left.
        let shaped = |micros: f64, files: u64| Measurement {
            files_per_level: Some(vec![files]),
            ..sample("lsmkit", "fillseq", micros)
        };
        let merged = median_runs(&[vec![shaped(5.0, 50)], vec![shaped(1.0, 10)], vec![shaped(3.0, 30)]]);
        assert_eq!(merged[0].files_per_level, Some(vec![30]));
        assert_eq!(median_runs(&[]), Vec::new());
    }

    #[test]
    fn table_shows_lsmkit_to_peer_ratios() {
        let lsmkit = vec![sample("lsmkit", "fillseq", 3.0), sample("lsmkit", "readrandom", 2.0)];
        let leveldb = vec![sample("leveldb", "fillseq", 2.0), sample("leveldb", "readrandom", 4.0)];
        let table = table(&[lsmkit, leveldb]);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("| workload | lsmkit µs/op | leveldb µs/op | lsmkit/leveldb |"));
        assert!(lines[2].starts_with("| fillseq | 3.000 | 2.000 | 1.50 |"), "{}", lines[2]);
        assert!(lines[3].starts_with("| readrandom | 2.000 | 4.000 | 0.50 |"), "{}", lines[3]);
        assert!(table.contains("Peak RSS: lsmkit 50.0 MB, leveldb 50.0 MB"));
    }

    #[test]
    fn skipped_workloads_show_as_skipped_without_ratios() {
        let lsmkit = vec![sample("lsmkit", "countermerge", 3.0), sample("lsmkit", "counterrmw", 6.0)];
        let leveldb = vec![
            Measurement::skipped("leveldb", "countermerge", "leveldb has no merge operator"),
            sample("leveldb", "counterrmw", 4.0),
        ];
        let table = table(&[lsmkit, leveldb]);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[2].starts_with("| countermerge | 3.000 | skipped | - | 9.5 | - |"), "{}", lines[2]);
        assert!(lines[3].starts_with("| counterrmw | 6.000 | 4.000 | 1.50 |"), "{}", lines[3]);
    }

    #[test]
    fn ratios_compare_with_matched_runs_only() {
        let lsmkit = vec![sample("lsmkit", "readrandom", 2.0)];
        let leveldb = vec![sample("leveldb", "readrandom", 4.0)];
        let leveldb_defaults = vec![sample("leveldb-defaults", "readrandom", 1.0)];
        let table = table(&[lsmkit, leveldb, leveldb_defaults]);
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[0].starts_with(
                "| workload | lsmkit µs/op | leveldb µs/op | leveldb-defaults µs/op | lsmkit/leveldb | lsmkit p99 µs"
            ),
            "{}",
            lines[0]
        );
        assert!(!lines[0].contains("lsmkit/leveldb-defaults"));
        assert!(lines[2].starts_with("| readrandom | 2.000 | 4.000 | 1.000 | 0.50 | 9.5 |"), "{}", lines[2]);
    }
}
