//! `kv-bench`: replicated puts per second and their latency on a running
//! `kv` cluster (1, 4 and 16 concurrent clients by default), next to the same
//! puts on a single lsmkit `Db` with synced writes, in the same run.
//! `cargo xtask cluster --nodes 3 --bench` starts a cluster and runs this.
//!
//! ```sh
//! kv-bench --nodes 127.0.0.1:21001,127.0.0.1:21002,127.0.0.1:21003 --db-dir /tmp/single
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;
use lsmkit::{Db, Options, WriteOptions};

/// Command-line flags.
#[derive(Parser)]
#[command(name = "kv-bench", about = "Replicated puts on a kv cluster against a single synced lsmkit Db")]
struct Args {
    /// Addresses of the cluster's nodes, comma-separated (loopback).
    #[arg(long, value_delimiter = ',', required = true)]
    nodes: Vec<std::net::SocketAddr>,
    /// Numbers of concurrent clients to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
    clients: Vec<usize>,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Rounds; each figure is the round with the median throughput.
    #[arg(long, default_value_t = 3)]
    rounds: u64,
    /// Bytes per value (keys are about 20 bytes).
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// Directory for the single-Db comparison (created; must not hold another database).
    #[arg(long)]
    db_dir: PathBuf,
}

/// What one measurement gives.
struct Figures {
    ops: u64,
    elapsed: Duration,
    latencies: Histogram<u64>,
}

impl Figures {
    fn per_second(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }
    fn percentile_ms(&self, q: f64) -> f64 {
        self.latencies.value_at_quantile(q) as f64 / 1000.0
    }
}

fn histogram() -> Histogram<u64> {
    // Microseconds from 1 µs to 60 s with 3 significant figures: valid bounds.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.nodes.iter().any(|n| !n.ip().is_loopback()) {
        eprintln!("kv-bench: only loopback nodes are allowed");
        return ExitCode::FAILURE;
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("kv-bench: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let duration = Duration::from_secs(args.seconds.max(1));
    let value = vec![b'v'; args.value_size];

    let db = Db::open(&args.db_dir, Options { create_if_missing: true, ..Options::default() })
        .map_err(|e| format!("cannot open {}: {e}", args.db_dir.display()))?;
    // The two systems take turns at each client count, round after round, so
    // that a change in the machine's load hits both rather than one; each
    // figure is the round with the median throughput.
    let mut replicated: Vec<Vec<Figures>> = args.clients.iter().map(|_| Vec::new()).collect();
    let mut single: Vec<Vec<Figures>> = args.clients.iter().map(|_| Vec::new()).collect();
    for round in 1..=args.rounds.max(1) {
        for (i, &clients) in args.clients.iter().enumerate() {
            let figures = runtime.block_on(replicated_puts(args, clients, duration, &value, round))?;
            report(round, clients, "3-node raft", &figures);
            replicated[i].push(figures);
            let figures = synced_puts(&db, clients, duration, &value, round)?;
            report(round, clients, "single Db (sync)", &figures);
            single[i].push(figures);
        }
    }
    let replicated: Vec<Figures> = replicated.into_iter().map(median).collect();
    let single: Vec<Figures> = single.into_iter().map(median).collect();

    println!(
        "| clients | 3-node raft puts/s | p50 ms | p99 ms | single Db (sync) puts/s | p50 ms | p99 ms |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for ((clients, r), s) in args.clients.iter().zip(&replicated).zip(&single) {
        println!(
            "| {clients} | {:.0} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} |",
            r.per_second(),
            r.percentile_ms(0.5),
            r.percentile_ms(0.99),
            s.per_second(),
            s.percentile_ms(0.5),
            s.percentile_ms(0.99)
        );
    }
    Ok(())
}

fn report(round: u64, clients: usize, what: &str, figures: &Figures) {
    eprintln!(
        "kv-bench: round {round}, {clients:>2} clients, {what}: {:>8.0} puts/s, p50 {:.2} ms, p99 {:.2} ms",
        figures.per_second(),
        figures.percentile_ms(0.5),
        figures.percentile_ms(0.99)
    );
}

/// The measurement with the median throughput.
fn median(mut rounds: Vec<Figures>) -> Figures {
    rounds.sort_by(|a, b| a.per_second().total_cmp(&b.per_second()));
    rounds.swap_remove(rounds.len() / 2)
}

/// The address of the node that reports itself leader.
async fn find_leader(client: &reqwest::Client, nodes: &[std::net::SocketAddr]) -> Result<String, String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        for node in nodes {
            let url = format!("http://{node}/cluster/metrics");
            let Ok(response) = client.get(&url).send().await else { continue };
            let Ok(metrics) = response.json::<serde_json::Value>().await else { continue };
            if metrics["state"] == "Leader" {
                return Ok(node.to_string());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("no node reports itself leader".into())
}

/// `clients` tasks each putting fresh keys through the leader, one at a time, for `duration`.
async fn replicated_puts(
    args: &Args,
    clients: usize,
    duration: Duration,
    value: &[u8],
    round: u64,
) -> Result<Figures, String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let leader = find_leader(&client, &args.nodes).await?;
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for task in 0..clients {
        let client = client.clone();
        let leader = leader.clone();
        let value = value.to_vec();
        tasks.push(tokio::spawn(async move {
            let mut latencies = histogram();
            let mut i = 0u64;
            while Instant::now() < deadline {
                let url = format!("http://{leader}/kv/bench-{round}-{clients:02}-{task:02}-{i:010}");
                let sent = Instant::now();
                let response =
                    client.put(&url).body(value.clone()).send().await.map_err(|e| e.to_string())?;
                if !response.status().is_success() {
                    return Err(format!("PUT {url}: HTTP {}", response.status()));
                }
                latencies.saturating_record(sent.elapsed().as_micros() as u64);
                i += 1;
            }
            Ok::<_, String>((i, latencies))
        }));
    }
    let mut figures = Figures { ops: 0, elapsed: Duration::ZERO, latencies: histogram() };
    for task in tasks {
        let (ops, latencies) = task.await.map_err(|e| e.to_string())??;
        figures.ops += ops;
        figures.latencies.add(&latencies).map_err(|e| e.to_string())?;
    }
    figures.elapsed = start.elapsed();
    Ok(figures)
}

/// `clients` threads each putting fresh keys into one `Db` with `sync: true`, for `duration`.
fn synced_puts(
    db: &Db,
    clients: usize,
    duration: Duration,
    value: &[u8],
    round: u64,
) -> Result<Figures, String> {
    let start = Instant::now();
    let deadline = start + duration;
    let results: Vec<Result<(u64, Histogram<u64>), String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|task| {
                scope.spawn(move || {
                    let mut latencies = histogram();
                    let mut i = 0u64;
                    let options = WriteOptions { sync: true, ..WriteOptions::default() };
                    while Instant::now() < deadline {
                        let key = format!("bench-{round}-{clients:02}-{task:02}-{i:010}");
                        let sent = Instant::now();
                        db.put_opt(options, key.as_bytes(), value).map_err(|e| e.to_string())?;
                        latencies.saturating_record(sent.elapsed().as_micros() as u64);
                        i += 1;
                    }
                    Ok((i, latencies))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a writer thread panicked".into())))
            .collect()
    });
    let mut figures = Figures { ops: 0, elapsed: start.elapsed(), latencies: histogram() };
    for result in results {
        let (ops, latencies) = result?;
        figures.ops += ops;
        figures.latencies.add(&latencies).map_err(|e| e.to_string())?;
    }
    Ok(figures)
}
