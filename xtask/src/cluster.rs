//! `cargo xtask cluster --nodes 3 [--bench]`: builds the `kv` example of
//! lsmkit-raft, starts that many node processes on loopback, joins them into
//! one raft cluster (initialize node 1, add the others as learners, make them
//! all voters), prints the curl commands to try it, and stops every node on
//! Ctrl-C. With `--bench`, runs the `kv-bench` load generator against the
//! cluster instead of waiting, then stops.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Flags of `cargo xtask cluster`.
#[derive(clap::Args)]
pub struct ClusterFlags {
    /// Number of nodes (each a `kv` process).
    #[arg(long, default_value_t = 3)]
    pub nodes: u64,
    /// HTTP port of node 1; node i listens on base_port + i - 1 (127.0.0.1 only).
    #[arg(long, default_value_t = 21001)]
    pub base_port: u16,
    /// Parent of the nodes' data directories (default: a temporary directory removed at exit).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Build and run the debug build of the nodes instead of the release build.
    #[arg(long)]
    pub debug: bool,
    /// Run the replicated-write benchmark (`kv-bench`) against the cluster, then stop.
    #[arg(long)]
    pub bench: bool,
    /// Seconds per benchmark step (with --bench).
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Benchmark rounds; each figure is the round with the median throughput (with --bench).
    #[arg(long, default_value_t = 3)]
    pub rounds: u64,
}

/// Set by the SIGINT handler.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_signal: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// The node processes; dropping it stops them all.
struct Nodes {
    children: Vec<(u64, Child)>,
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            // Closing stdin lets a node stop cleanly (--exit-on-stdin-close);
            // kill whatever has not gone after a grace period.
            drop(child.stdin.take());
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for (id, child) in &mut self.children {
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        eprintln!("cluster: node {id} did not stop in time and was killed");
                        break;
                    }
                }
            }
        }
    }
}

/// Runs the task.
pub fn run(flags: ClusterFlags) -> Result<(), String> {
    if flags.nodes == 0 {
        return Err("--nodes must be at least 1".into());
    }
    let last_port = u64::from(flags.base_port) + flags.nodes - 1;
    if last_port > u64::from(u16::MAX) {
        return Err("--base-port + --nodes goes past port 65535".into());
    }
    // SAFETY: `on_sigint` only stores to an atomic, which is async-signal-safe,
    // and the handler address stays valid for the life of the process.
    let previous = unsafe { libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t) };
    if previous == libc::SIG_ERR {
        return Err("cannot install the SIGINT handler".into());
    }

    let profile = if flags.debug { "debug" } else { "release" };
    let mut examples = vec!["kv"];
    if flags.bench {
        examples.push("kv-bench");
    }
    build_examples(&examples, flags.debug)?;
    let bin_dir = target_dir().join(profile).join("examples");

    let temp;
    let data_root = match &flags.dir {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::Builder::new()
                .prefix("lsmkit-cluster-")
                .tempdir()
                .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
            temp.path().to_path_buf()
        }
    };
    let addrs: Vec<SocketAddr> =
        (0..flags.nodes).map(|i| SocketAddr::from(([127, 0, 0, 1], flags.base_port + i as u16))).collect();
    for addr in &addrs {
        if TcpStream::connect_timeout(addr, Duration::from_millis(200)).is_ok() {
            return Err(format!("{addr} is already in use; pick another --base-port"));
        }
    }

    let mut nodes = Nodes { children: Vec::new() };
    for (i, addr) in addrs.iter().enumerate() {
        let id = i as u64 + 1;
        let dir = data_root.join(format!("n{id}"));
        let log = std::fs::File::create(data_root.join(format!("n{id}.log")))
            .map_err(|e| format!("cannot create the log of node {id}: {e}"))?;
        let child = Command::new(bin_dir.join("kv"))
            .args(["--id", &id.to_string(), "--http", &addr.to_string(), "--exit-on-stdin-close", "--dir"])
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            // Its own process group: Ctrl-C reaches xtask, which stops the nodes in order.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start node {id} ({}): {e}", bin_dir.join("kv").display()))?;
        nodes.children.push((id, child));
    }
    for (addr, (id, _)) in addrs.iter().zip(&nodes.children) {
        wait_until(Duration::from_secs(20), || http(*addr, "GET", "/cluster/metrics", b"").is_ok()).map_err(
            |()| {
                format!(
                    "node {id} did not answer on {addr} within 20 s (see {}/n{id}.log)",
                    data_root.display()
                )
            },
        )?;
    }

    let leader = addrs[0];
    expect_ok(http(leader, "POST", "/cluster/init", b""), "initialize node 1")?;
    wait_until(Duration::from_secs(20), || {
        http(leader, "GET", "/cluster/metrics", b"")
            .is_ok_and(|(_, body)| body.contains("\"state\":\"Leader\""))
    })
    .map_err(|()| "node 1 did not become leader within 20 s".to_string())?;
    for (i, addr) in addrs.iter().enumerate().skip(1) {
        let body = format!("{{\"id\":{},\"addr\":\"{addr}\"}}", i + 1);
        expect_ok(http(leader, "POST", "/cluster/add-learner", body.as_bytes()), "add a learner")?;
    }
    let members: Vec<String> = (1..=flags.nodes).map(|id| id.to_string()).collect();
    let members = format!("[{}]", members.join(","));
    expect_ok(
        http(leader, "POST", "/cluster/change-membership", members.as_bytes()),
        "change the membership",
    )?;
    eprintln!("cluster: {} nodes up, node 1 leads; data and logs in {}", flags.nodes, data_root.display());

    if flags.bench {
        let list: Vec<String> = addrs.iter().map(ToString::to_string).collect();
        let status = Command::new(bin_dir.join("kv-bench"))
            .args([
                "--nodes",
                &list.join(","),
                "--seconds",
                &flags.seconds.to_string(),
                "--rounds",
                &flags.rounds.to_string(),
                "--db-dir",
            ])
            .arg(data_root.join("single-db"))
            .status()
            .map_err(|e| format!("cannot run kv-bench: {e}"))?;
        return if status.success() { Ok(()) } else { Err(format!("kv-bench failed ({status})")) };
    }

    print_try_it(&addrs);
    while !INTERRUPTED.load(Ordering::SeqCst) {
        for (id, child) in &mut nodes.children {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("node {id} exited ({status}); see {}/n{id}.log", data_root.display()));
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("\ncluster: stopping the nodes");
    drop(nodes);
    Ok(())
}

/// The curl lines a newcomer can paste.
fn print_try_it(addrs: &[SocketAddr]) {
    let a = addrs[0];
    let b = addrs.get(1).copied().unwrap_or(a);
    let c = addrs.get(2).copied().unwrap_or(b);
    println!("Try it (Ctrl-C stops every node):");
    println!("  curl -X PUT --data-binary red http://{a}/kv/fruit:apple");
    println!("  curl -X PUT --data-binary yellow http://{a}/kv/fruit:banana");
    println!("  curl http://{a}/kv/fruit:apple");
    println!("  curl 'http://{a}/scan?start=fruit:&end=fruit;'");
    println!("  curl -X DELETE http://{a}/kv/fruit:apple");
    println!("  curl -L -X PUT --data-binary green http://{b}/kv/fruit:lime   # a follower redirects to the leader");
    println!(
        "  curl 'http://{b}/scan?consistency=local'                      # what the follower has applied"
    );
    println!("  curl -i http://{c}/kv/fruit:lime                              # the redirect itself");
    println!("  curl http://{a}/cluster/metrics");
}

/// Builds the given examples of lsmkit-raft.
fn build_examples(examples: &[&str], debug: bool) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.args([
        "build",
        "--manifest-path",
        &workspace_root().join("Cargo.toml").to_string_lossy(),
        "-p",
        "lsmkit-raft",
    ]);
    if !debug {
        command.arg("--release");
    }
    for example in examples {
        command.args(["--example", example]);
    }
    let status = command.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("building the {} example(s) failed ({status})", examples.join(", ")))
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Cargo's target directory: `CARGO_TARGET_DIR` or the workspace's `target/`.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir),
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    }
}

/// Polls `ready` every 100 ms until it holds or `limit` has passed.
fn wait_until(limit: Duration, mut ready: impl FnMut() -> bool) -> Result<(), ()> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if ready() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(())
}

fn expect_ok(answer: Result<(u16, String), String>, what: &str) -> Result<(), String> {
    match answer {
        Ok((200, _)) => Ok(()),
        Ok((status, body)) => Err(format!("cannot {what}: HTTP {status}: {body}")),
        Err(e) => Err(format!("cannot {what}: {e}")),
    }
}

/// One HTTP/1.1 request on a fresh connection; returns the status and the body.
fn http(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> Result<(u16, String), String> {
    let timeout = Duration::from_secs(30);
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| format!("{addr}: {e}"))?;
    stream.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    stream.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    let content_type = if body.is_empty() { "" } else { "content-type: application/json\r\n" };
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n{content_type}content-length: {}\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body))
        .map_err(|e| format!("{addr}: {e}"))?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).map_err(|e| format!("{addr}: {e}"))?;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| format!("{addr}: truncated HTTP answer"))?;
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        return Err(format!("{addr}: chunked HTTP answers are not supported here"));
    }
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{addr}: malformed status line"))?;
    Ok((status, body.to_string()))
}
