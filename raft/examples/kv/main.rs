//! `kv`: one node of a replicated key-value store — lsmkit under openraft,
//! an HTTP API (axum) for clients and administrators, and the raft network
//! between nodes over HTTP (reqwest).
//!
//! ```sh
//! cargo run -p lsmkit-raft --example kv -- --id 1 --http 127.0.0.1:21001 --dir /tmp/n1
//! ```
//!
//! The routes are listed in `api.rs`; `cargo xtask cluster --nodes 3` starts
//! three of these and joins them into a cluster (README.md, "Replicated
//! key-value service").

mod api;
mod app;
mod network;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use openraft::{Config, SnapshotPolicy};

/// Command-line flags of one node.
#[derive(Parser, Debug)]
#[command(name = "kv", about = "One node of the lsmkit-raft replicated key-value store")]
struct Args {
    /// Raft node id (a positive integer, unique in the cluster).
    #[arg(long)]
    id: u64,
    /// Address the HTTP API and raft RPCs listen on; must be a loopback address.
    #[arg(long, default_value = "127.0.0.1:21001")]
    http: SocketAddr,
    /// Directory of this node's raft log and state machine (created if missing).
    #[arg(long)]
    dir: PathBuf,
    /// Interval between the leader's heartbeats, in milliseconds.
    #[arg(long, default_value_t = 100)]
    heartbeat_ms: u64,
    /// Lower bound of the randomized election timeout, in milliseconds.
    #[arg(long, default_value_t = 600)]
    election_min_ms: u64,
    /// Upper bound of the randomized election timeout, in milliseconds.
    #[arg(long, default_value_t = 1200)]
    election_max_ms: u64,
    /// Build a snapshot after this many log entries since the last one
    /// (0: only when asked through `POST /admin/snapshot`).
    #[arg(long, default_value_t = 20_000)]
    snapshot_every: u64,
    /// Log entries kept after a snapshot is built (older ones are purged).
    #[arg(long, default_value_t = 2_000)]
    keep_logs: u64,
    /// Purge the log once at least this many entries can go.
    #[arg(long, default_value_t = 256)]
    purge_batch: u64,
    /// Size of one snapshot chunk on the wire, in bytes.
    #[arg(long, default_value_t = 256 * 1024)]
    snapshot_chunk: u64,
    /// Exit when standard input is closed (the parent process is gone);
    /// used by `cargo xtask cluster` and the cluster test.
    #[arg(long)]
    exit_on_stdin_close: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if !args.http.ip().is_loopback() {
        eprintln!(
            "kv: --http {} is not a loopback address; this example listens on loopback only",
            args.http
        );
        return ExitCode::FAILURE;
    }
    if args.id == 0 {
        eprintln!("kv: --id must be a positive integer");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("kv: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("kv: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Opens the stores, starts raft and serves HTTP until the process is told to stop.
async fn run(args: Args) -> Result<(), String> {
    let config = Config {
        cluster_name: "lsmkit-kv".to_string(),
        heartbeat_interval: args.heartbeat_ms,
        election_timeout_min: args.election_min_ms,
        election_timeout_max: args.election_max_ms,
        snapshot_policy: if args.snapshot_every == 0 {
            SnapshotPolicy::Never
        } else {
            SnapshotPolicy::LogsSinceLast(args.snapshot_every)
        },
        max_in_snapshot_log_to_keep: args.keep_logs,
        purge_batch_size: args.purge_batch.max(1),
        snapshot_max_chunk_size: args.snapshot_chunk.max(1),
        ..Config::default()
    };
    let config = Arc::new(config.validate().map_err(|e| format!("raft configuration: {e}"))?);

    let app = app::App::open(args.id, args.http, &args.dir, config).await?;
    let listener = tokio::net::TcpListener::bind(args.http)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.http))?;
    eprintln!("kv: node {} listening on http://{} with data in {}", args.id, args.http, args.dir.display());

    let raft = app.raft.clone();
    let router = api::router(Arc::new(app));
    let stop = shutdown_signal(args.exit_on_stdin_close);
    let served = axum::serve(listener, router).with_graceful_shutdown(stop).await;
    // Stop raft before the stores are dropped so the last writes reach disk in order.
    let stopped = raft.shutdown().await;
    served.map_err(|e| format!("HTTP server: {e}"))?;
    stopped.map_err(|e| format!("raft shutdown: {e}"))
}

/// Resolves on SIGINT or SIGTERM, or when standard input closes if `stdin_lifeline` is set.
async fn shutdown_signal(stdin_lifeline: bool) {
    use tokio::signal::unix::{signal, SignalKind};

    let lifeline = async move {
        if stdin_lifeline {
            use tokio::io::AsyncReadExt;
            let mut stdin = tokio::io::stdin();
            let mut buf = [0u8; 64];
            // Anything read is ignored; only end of input (or an error) stops the node.
            while let Ok(n) = stdin.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        } else {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
        _ = lifeline => {}
    }
    eprintln!("kv: stopping");
}
