//! The replicated key-value service under failure: three `kv` example node
//! processes on loopback, a stream of writes through the leader, the leader
//! killed with SIGKILL mid-stream, a new leader elected, every acknowledged
//! write readable on the survivors, the killed node restarted and caught up
//! from the log, then a follower killed, the leader's log snapshotted and
//! purged past it, and the follower restarted and caught up through a
//! chunked snapshot; at the end all three nodes hold identical contents.
//!
//! The node binary is the `kv` example, which `cargo test` builds into
//! `target/<profile>/examples/` whenever it runs without a target filter
//! (`cargo test --workspace`, `cargo test -p lsmkit-raft`). Run alone with
//! `--test cluster`, cargo builds no examples: build the node first
//! (`cargo build -p lsmkit-raft --example kv --profile test`), or the test
//! runs the one the last full `cargo test` left. The test does not run
//! cargo itself: a nested build resolves features for this package only,
//! not for the whole workspace as the enclosing `cargo test --workspace`
//! did, so it would rebuild every shared dependency a second time. Every node is killed when the test ends, even
//! on failure (the `Cluster` guard), and each node also exits by itself when
//! the test process goes away (its standard input closes). Failover and
//! catch-up times are printed (`-- --nocapture`), never asserted.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Longest the whole scenario may take before the test fails.
const OVERALL: Duration = Duration::from_secs(240);
/// Longest any single HTTP request may take.
const REQUEST: Duration = Duration::from_secs(5);
/// Longest any wait for a cluster state (leader, catch-up, snapshot) may take.
const WAIT: Duration = Duration::from_secs(60);

/// One node process and where it lives.
struct Node {
    id: u64,
    addr: SocketAddr,
    dir: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

/// The three nodes; dropping it kills every node still running.
struct Cluster {
    bin: PathBuf,
    nodes: Vec<Node>,
    _root: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if std::thread::panicking() {
            for node in &self.nodes {
                let text = std::fs::read_to_string(&node.log).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let tail = &lines[lines.len().saturating_sub(40)..];
                eprintln!(
                    "--- last lines of node {} ({}):\n{}",
                    node.id,
                    node.log.display(),
                    tail.join("\n")
                );
            }
        }
    }
}

impl Cluster {
    fn new() -> Cluster {
        let root = tempfile::tempdir().expect("temporary directory");
        let nodes = (1..=3u64)
            .map(|id| Node {
                id,
                addr: free_loopback_addr(),
                dir: root.path().join(format!("n{id}")),
                log: root.path().join(format!("n{id}.log")),
                child: None,
            })
            .collect();
        Cluster { bin: kv_binary(), nodes, _root: root }
    }

    fn node(&self, id: u64) -> &Node {
        &self.nodes[(id - 1) as usize]
    }

    /// Starts (or restarts) node `id` on its address and data directory.
    fn start(&mut self, id: u64) {
        let bin = self.bin.clone();
        let node = &mut self.nodes[(id - 1) as usize];
        assert!(node.child.is_none(), "node {id} is already running");
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(&node.log).expect("node log file");
        let child = Command::new(bin)
            .args(["--id", &id.to_string(), "--http", &node.addr.to_string(), "--dir"])
            .arg(&node.dir)
            .args(["--heartbeat-ms", "100", "--election-min-ms", "500", "--election-max-ms", "1000"])
            // Snapshots only when the test asks; then purge everything they cover,
            // and send them in small chunks so a transfer takes many requests.
            .args([
                "--snapshot-every",
                "0",
                "--keep-logs",
                "0",
                "--purge-batch",
                "1",
                "--snapshot-chunk",
                "4096",
            ])
            .arg("--exit-on-stdin-close")
            .stdin(Stdio::piped())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("start a kv node");
        node.child = Some(child);
    }

    /// SIGKILLs node `id`.
    fn kill(&mut self, id: u64) {
        let node = &mut self.nodes[(id - 1) as usize];
        let mut child = node.child.take().expect("node is running");
        child.kill().expect("SIGKILL");
        child.wait().expect("reap the killed node");
    }

    fn addrs(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(|n| n.addr).collect()
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_loopback_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address")
}

/// The `kv` example cargo built next to this test's executable (see the
/// module documentation for when that happens).
fn kv_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/cluster-<hash> → target/<profile>/examples/kv
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile> directory");
    let bin = profile_dir.join("examples").join("kv");
    assert!(
        bin.exists(),
        "the kv example is not at {}: run `cargo test -p lsmkit-raft` (which builds examples), or \
         `cargo build -p lsmkit-raft --example kv --profile test` before `--test cluster`",
        bin.display()
    );
    bin
}

/// The writes acknowledged so far: the value each key must have (`None`: deleted).
type Model = BTreeMap<String, Option<String>>;

/// An HTTP client that does not follow redirects (the test follows them itself).
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(REQUEST)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client")
}

async fn metrics(client: &reqwest::Client, addr: SocketAddr) -> Option<Value> {
    let response = client.get(format!("http://{addr}/cluster/metrics")).send().await.ok()?;
    response.json().await.ok()
}

fn applied_index(metrics: &Value) -> Option<u64> {
    metrics["last_applied"]["index"].as_u64()
}

async fn post_json(client: &reqwest::Client, addr: SocketAddr, path: &str, body: &Value) -> Value {
    let response =
        client.post(format!("http://{addr}{path}")).json(body).send().await.expect("admin request");
    let status = response.status();
    let answer: Value = response.json().await.expect("admin answer is JSON");
    assert!(status.is_success(), "POST {path} on {addr}: HTTP {status}: {answer}");
    answer
}

/// Polls every 20 ms until `probe` returns something or `WAIT` has passed.
async fn wait_for<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The node among `addrs` that reports itself leader, with its term.
async fn find_leader(client: &reqwest::Client, addrs: &[SocketAddr]) -> Option<(u64, SocketAddr, u64)> {
    for &addr in addrs {
        if let Some(m) = metrics(client, addr).await {
            if m["state"] == "Leader" {
                return Some((m["id"].as_u64()?, addr, m["current_term"].as_u64()?));
            }
        }
    }
    None
}

/// Writes one key (a put, or a delete with `value` `None`), following
/// redirects and retrying on other nodes until some leader acknowledges it.
/// Retrying is safe: the same put or delete applied twice leaves the same state.
async fn write(
    client: &reqwest::Client,
    addrs: &[SocketAddr],
    leader: &Mutex<SocketAddr>,
    key: &str,
    value: Option<&str>,
) {
    let deadline = Instant::now() + WAIT;
    let mut target = *leader.lock().expect("leader guess");
    let mut next = 0;
    loop {
        assert!(Instant::now() < deadline, "no leader acknowledged the write of {key} in time");
        let url = format!("http://{target}/kv/{key}");
        let sent = match value {
            Some(v) => client.put(&url).body(v.to_string()).send().await,
            None => client.delete(&url).send().await,
        };
        match sent {
            Ok(response) if response.status().is_success() => {
                *leader.lock().expect("leader guess") = target;
                return;
            }
            Ok(response) if response.status() == reqwest::StatusCode::TEMPORARY_REDIRECT => {
                let body: Value = response.json().await.unwrap_or(Value::Null);
                if let Some(addr) = body["leader_addr"].as_str().and_then(|a| a.parse().ok()) {
                    target = addr;
                    continue;
                }
            }
            // No leader known, timed out, or the node is down: try the next node.
            _ => {}
        }
        next = (next + 1) % addrs.len();
        target = addrs[next];
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The write stream: key `k<n>` gets a put; every 5th step deletes the key
/// written 3 steps earlier. Each acknowledged write is recorded in `model`
/// with the time it was acknowledged.
struct Writer {
    next: u64,
    model: Model,
    acks: Vec<Instant>,
}

impl Writer {
    async fn step(
        &mut self,
        client: &reqwest::Client,
        addrs: &[SocketAddr],
        leader: &Mutex<SocketAddr>,
        tag: &str,
    ) {
        let n = self.next;
        self.next += 1;
        if n % 5 == 4 {
            let key = format!("k{:06}", n - 3);
            write(client, addrs, leader, &key, None).await;
            self.model.insert(key, None);
        } else {
            let key = format!("k{n:06}");
            let value = format!("v{n}-{tag}");
            write(client, addrs, leader, &key, Some(&value)).await;
            self.model.insert(key, Some(value));
        }
        self.acks.push(Instant::now());
    }

    async fn steps(
        &mut self,
        count: u64,
        client: &reqwest::Client,
        addrs: &[SocketAddr],
        leader: &Mutex<SocketAddr>,
        tag: &str,
    ) {
        for _ in 0..count {
            self.step(client, addrs, leader, tag).await;
        }
    }

    /// The keys that must exist, with their values.
    fn expected(&self) -> BTreeMap<String, String> {
        self.model.iter().filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v))).collect()
    }
}

/// GET `path` on `addr`; a linearizable read on a node that is no longer the
/// leader answers 307, and the request is sent to the leader it names.
async fn get_following(client: &reqwest::Client, mut addr: SocketAddr, path: &str) -> reqwest::Response {
    for _ in 0..5 {
        let response = client.get(format!("http://{addr}{path}")).send().await.expect("GET request");
        if response.status() != reqwest::StatusCode::TEMPORARY_REDIRECT {
            return response;
        }
        let body: Value = response.json().await.expect("redirect body");
        addr = body["leader_addr"].as_str().and_then(|a| a.parse().ok()).expect("redirect names the leader");
    }
    panic!("GET {path}: too many redirects");
}

/// The full contents of a node's state machine: linearizable through the
/// leader, or `local` (what this node has applied).
async fn scan(client: &reqwest::Client, addr: SocketAddr, local: bool) -> BTreeMap<String, String> {
    let path = if local { "/scan?consistency=local" } else { "/scan" };
    let response = get_following(client, addr, path).await;
    assert!(response.status().is_success(), "scan on {addr}: HTTP {}", response.status());
    let pairs: Vec<Value> = response.json().await.expect("scan answer");
    pairs
        .into_iter()
        .map(|p| {
            (p["key"].as_str().expect("key").to_string(), p["value"].as_str().expect("value").to_string())
        })
        .collect()
}

/// Waits until node `addr` has applied at least `index`; returns how long it took from `since`.
async fn caught_up(
    client: &reqwest::Client,
    addr: SocketAddr,
    index: u64,
    since: Instant,
) -> (Duration, Value) {
    let m = wait_for(&format!("{addr} to apply index {index}"), || async {
        let m = metrics(client, addr).await?;
        (applied_index(&m)? >= index).then_some(m)
    })
    .await;
    (since.elapsed(), m)
}

#[test]
fn leader_failover_and_catch_up() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut cluster = Cluster::new();
    let outcome = runtime.block_on(async { tokio::time::timeout(OVERALL, scenario(&mut cluster)).await });
    assert!(outcome.is_ok(), "the scenario did not finish within {OVERALL:?}");
    drop(cluster);
}

async fn scenario(cluster: &mut Cluster) {
    let http = client();
    let addrs = cluster.addrs();
    for id in 1..=3 {
        cluster.start(id);
    }
    for &addr in &addrs {
        wait_for(&format!("{addr} to answer"), || metrics(&http, addr)).await;
    }

    // Form the cluster: node 1 alone, then 2 and 3 as learners, then all voters.
    post_json(&http, addrs[0], "/cluster/init", &Value::Null).await;
    wait_for("node 1 to lead", || async { find_leader(&http, &addrs[..1]).await }).await;
    for id in 2..=3u64 {
        let body = serde_json::json!({"id": id, "addr": cluster.node(id).addr.to_string()});
        post_json(&http, addrs[0], "/cluster/add-learner", &body).await;
    }
    post_json(&http, addrs[0], "/cluster/change-membership", &serde_json::json!([1, 2, 3])).await;

    // A stream of writes; the leader is SIGKILLed while it runs.
    let (old_leader, leader_addr, old_term) = find_leader(&http, &addrs).await.expect("a leader");
    let leader = Arc::new(Mutex::new(leader_addr));
    let writer = Arc::new(tokio::sync::Mutex::new(Writer { next: 0, model: Model::new(), acks: Vec::new() }));
    let stop = Arc::new(AtomicBool::new(false));
    let stream = {
        let (http, addrs, leader, writer, stop) =
            (http.clone(), addrs.clone(), leader.clone(), writer.clone(), stop.clone());
        tokio::spawn(async move {
            let mut w = writer.lock().await;
            while !stop.load(Ordering::SeqCst) {
                w.step(&http, &addrs, &leader, "a").await;
            }
        })
    };
    // Let about 300 writes through, then kill the leader under load.
    wait_for("about 300 acknowledged writes", || async {
        (leader_progress(&http, leader_addr).await >= 300).then_some(())
    })
    .await;
    cluster.kill(old_leader);
    let killed_at = Instant::now();
    let survivors: Vec<SocketAddr> = addrs.iter().copied().filter(|&a| a != leader_addr).collect();
    let (new_leader, new_leader_addr, new_term) = wait_for("a new leader", || async {
        find_leader(&http, &survivors).await.filter(|l| l.2 > old_term)
    })
    .await;
    let election = killed_at.elapsed();
    // Keep writing for a while through the new leader, then stop the stream.
    let target = wait_for("writes after the failover", || async {
        let m = metrics(&http, new_leader_addr).await?;
        (applied_index(&m)? > 0).then_some(m["last_log_index"].as_u64()? + 300)
    })
    .await;
    wait_for("300 more writes", || async {
        (leader_progress(&http, new_leader_addr).await >= target).then_some(())
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    tokio::time::timeout(WAIT, stream).await.expect("the write stream stops").expect("the write stream ran");
    let mut writer = Arc::try_unwrap(writer).ok().expect("sole owner of the writer").into_inner();
    let first_ack_after =
        writer.acks.iter().find(|&&t| t > killed_at).copied().expect("a write acknowledged after the kill");
    let unavailable = first_ack_after - killed_at;
    println!(
        "failover: node {old_leader} (term {old_term}) killed after {} acknowledged writes; node {new_leader} leads term {new_term} after {:.0} ms; first write acknowledged {:.0} ms after the kill",
        writer.acks.iter().filter(|&&t| t <= killed_at).count(),
        election.as_secs_f64() * 1000.0,
        unavailable.as_secs_f64() * 1000.0,
    );

    // Every acknowledged write is readable on the survivors.
    let expected = writer.expected();
    assert!(expected.len() > 300, "the stream wrote too little: {}", expected.len());
    assert_eq!(scan(&http, new_leader_addr, false).await, expected, "linearizable scan on the new leader");
    for (key, value) in writer.model.iter().step_by(7) {
        let response = get_following(&http, new_leader_addr, &format!("/kv/{key}")).await;
        match value {
            Some(v) => {
                assert_eq!(response.status(), reqwest::StatusCode::OK, "GET {key}");
                assert_eq!(response.text().await.expect("body"), *v, "GET {key}");
            }
            None => assert_eq!(response.status(), reqwest::StatusCode::NOT_FOUND, "GET deleted {key}"),
        }
    }
    let leader_index = metrics(&http, new_leader_addr)
        .await
        .and_then(|m| m["last_log_index"].as_u64())
        .expect("leader index");
    for &addr in &survivors {
        caught_up(&http, addr, leader_index, Instant::now()).await;
        assert_eq!(scan(&http, addr, true).await, expected, "local scan on survivor {addr}");
    }
    // A follower redirects writes to the leader.
    let follower = survivors.iter().copied().find(|&a| a != new_leader_addr).expect("a follower");
    let response = http.put(format!("http://{follower}/kv/redirected")).body("x").send().await.expect("PUT");
    assert_eq!(response.status(), reqwest::StatusCode::TEMPORARY_REDIRECT);
    let body: Value = response.json().await.expect("redirect body");
    assert_eq!(body["leader_id"].as_u64(), Some(new_leader));

    // The killed node restarts and catches up from the log (no snapshot exists anywhere).
    let restarted_at = Instant::now();
    cluster.start(old_leader);
    let (from_log, m) = caught_up(&http, leader_addr, leader_index, restarted_at).await;
    assert!(m["snapshot"].is_null(), "node {old_leader} caught up from the log, not a snapshot: {m}");
    assert_eq!(scan(&http, leader_addr, true).await, expected, "local scan on the restarted node");
    println!(
        "catch-up from the log: node {old_leader} applied {leader_index} entries {:.0} ms after its restart",
        from_log.as_secs_f64() * 1000.0
    );

    // A follower goes down; the leader writes on, snapshots and purges its log past it.
    let lagging = old_leader;
    cluster.kill(lagging);
    let lagging_index = leader_index;
    let guess = Mutex::new(new_leader_addr);
    writer.steps(400, &http, &addrs, &guess, "b").await;
    // Leadership may have moved since (a slow machine can miss heartbeats): ask whoever leads now.
    let live: Vec<SocketAddr> = addrs.iter().copied().filter(|&a| a != leader_addr).collect();
    let (_, new_leader_addr, _) = wait_for("the current leader", || find_leader(&http, &live)).await;
    post_json(&http, new_leader_addr, "/admin/snapshot", &Value::Null).await;
    let purged = wait_for("the leader to snapshot and purge its log", || async {
        let m = metrics(&http, new_leader_addr).await?;
        let purged = m["purged"]["index"].as_u64()?;
        (purged > lagging_index).then_some(purged)
    })
    .await;
    let leader_index = metrics(&http, new_leader_addr)
        .await
        .and_then(|m| m["last_log_index"].as_u64())
        .expect("leader index");

    // It restarts and can only catch up through the snapshot.
    let restarted_at = Instant::now();
    cluster.start(lagging);
    let (from_snapshot, m) = caught_up(&http, leader_addr, leader_index, restarted_at).await;
    let installed = m["snapshot"]["index"].as_u64();
    assert!(
        installed.is_some_and(|i| i >= purged),
        "node {lagging} must have installed a snapshot covering index {purged}: {m}"
    );
    println!(
        "catch-up through a snapshot: node {lagging} was at {lagging_index}, the leader purged up to {purged}; applied {leader_index} {:.0} ms after its restart",
        from_snapshot.as_secs_f64() * 1000.0
    );

    // Replication goes on afterwards, and all three nodes converge.
    writer.steps(50, &http, &addrs, &guess, "c").await;
    let expected = writer.expected();
    let final_index = metrics(&http, new_leader_addr)
        .await
        .and_then(|m| m["last_log_index"].as_u64())
        .expect("leader index");
    let mut contents = Vec::new();
    for &addr in &addrs {
        caught_up(&http, addr, final_index, Instant::now()).await;
        contents.push(scan(&http, addr, true).await);
    }
    for (addr, content) in addrs.iter().zip(&contents) {
        assert_eq!(*content, expected, "final contents of {addr}");
    }
    assert_eq!(scan(&http, new_leader_addr, false).await, expected, "final linearizable scan");
}

/// The leader's last log index (0 if unknown): a progress measure of the write stream.
async fn leader_progress(client: &reqwest::Client, addr: SocketAddr) -> u64 {
    metrics(client, addr).await.and_then(|m| m["last_log_index"].as_u64()).unwrap_or(0)
}
