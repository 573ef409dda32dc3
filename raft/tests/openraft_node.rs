//! lsmkit-raft under real openraft nodes in one process: three `Raft`s
//! joined by an in-memory router. A node that joins after the log was
//! purged gets the state by snapshot transfer (openraft streams the archive
//! file in chunks into `begin_receiving_snapshot`'s file, then
//! `install_snapshot`), and a node restarted on its reopened stores
//! catches up. All state machines end equal.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lsmkit_raft::{open_stores, NodeId, Request, StateMachineStore, TypeConfig};
use openraft::error::{InstallSnapshotError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, Config, Raft, SnapshotPolicy};

/// Bounds every wait; reached only if the cluster is broken.
const WAIT: Duration = Duration::from_secs(60);

type Nodes = Arc<Mutex<HashMap<NodeId, Raft<TypeConfig>>>>;

/// Routes RPCs to the in-process node they are for.
#[derive(Clone, Default)]
struct Router {
    nodes: Nodes,
}

struct Connection {
    target: NodeId,
    nodes: Nodes,
}

impl Connection {
    /// The target node, if it is up.
    fn node(&self) -> Option<Raft<TypeConfig>> {
        self.nodes.lock().expect("router lock").get(&self.target).cloned()
    }
}

/// The error for an RPC to a node that is down.
fn down<E: std::error::Error>(target: NodeId) -> RPCError<NodeId, BasicNode, E> {
    let e = std::io::Error::new(std::io::ErrorKind::NotConnected, format!("node {target} is down"));
    RPCError::Unreachable(Unreachable::new(&e))
}

impl RaftNetworkFactory<TypeConfig> for Router {
    type Network = Connection;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> Connection {
        Connection { target, nodes: Arc::clone(&self.nodes) }
    }
}

impl RaftNetwork<TypeConfig> for Connection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        let Some(node) = self.node() else { return Err(down(self.target)) };
        node.append_entries(rpc).await.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        let Some(node) = self.node() else { return Err(down(self.target)) };
        node.install_snapshot(rpc).await.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        let Some(node) = self.node() else { return Err(down(self.target)) };
        node.vote(rpc).await.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

fn config() -> Arc<Config> {
    let config = Config {
        heartbeat_interval: 50,
        election_timeout_min: 300,
        election_timeout_max: 600,
        // Small snapshots and chunks: several of each in a short test.
        snapshot_policy: SnapshotPolicy::LogsSinceLast(30),
        snapshot_max_chunk_size: 1024,
        max_in_snapshot_log_to_keep: 0,
        purge_batch_size: 1,
        ..Config::default()
    };
    Arc::new(config.validate().expect("valid config"))
}

/// Starts node `id` on the stores in `dir` and registers it with the router.
async fn start(id: NodeId, dir: &Path, router: &Router) -> (Raft<TypeConfig>, StateMachineStore) {
    let (log, sm) = open_stores(dir).expect("open stores");
    let raft = Raft::new(id, config(), router.clone(), log, sm.clone()).await.expect("start raft");
    router.nodes.lock().expect("router lock").insert(id, raft.clone());
    (raft, sm)
}

/// Writes through the leader; returns the previous value and the entry's index.
async fn put(raft: &Raft<TypeConfig>, key: &str, value: &str) -> (Option<Vec<u8>>, u64) {
    let request = Request::Put { key: key.into(), value: value.into() };
    let response = raft.client_write(request).await.expect("client write");
    (response.data.previous, response.log_id.index)
}

fn everything(sm: &StateMachineStore) -> Vec<(Vec<u8>, Vec<u8>)> {
    sm.scan(b"", None, usize::MAX).expect("scan")
}

#[test]
fn three_nodes_with_snapshot_transfer_and_restart() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let tmp = tempfile::tempdir().unwrap();
        let router = Router::default();
        let dir = |id: NodeId| tmp.path().join(format!("node-{id}"));

        // Node 1 alone: writes enough for snapshots and a purged log.
        let (n1, sm1) = start(1, &dir(1), &router).await;
        n1.initialize(BTreeMap::from([(1, BasicNode::default())])).await.unwrap();
        n1.wait(Some(WAIT)).current_leader(1, "node 1 leads").await.unwrap();
        for i in 0..100 {
            let (previous, _) = put(&n1, &format!("key-{:03}", i % 60), &format!("v{i}")).await;
            let expected = (i >= 60).then(|| format!("v{}", i - 60).into_bytes());
            assert_eq!(previous, expected);
        }
        let metrics = n1.wait(Some(WAIT)).metrics(|m| m.purged.is_some(), "log purged").await.unwrap();
        assert!(metrics.snapshot.is_some());
        assert!(sm1.current_snapshot_meta().is_some());

        // Nodes 2 and 3 join: the entries they need are purged, so they
        // get the snapshot, then the rest of the log.
        let (n2, sm2) = start(2, &dir(2), &router).await;
        let (n3, sm3) = start(3, &dir(3), &router).await;
        n1.add_learner(2, BasicNode::default(), true).await.unwrap();
        n1.add_learner(3, BasicNode::default(), true).await.unwrap();
        n1.change_membership(BTreeSet::from([1, 2, 3]), false).await.unwrap();
        // A learner may report itself caught up a moment before its metrics
        // show the snapshot it installed: wait for them, then check the
        // state machine holds that snapshot.
        for (raft, sm, what) in
            [(&n2, &sm2, "node 2 installed a snapshot"), (&n3, &sm3, "node 3 installed a snapshot")]
        {
            raft.wait(Some(WAIT)).metrics(|m| m.snapshot.is_some(), what).await.unwrap();
            assert!(sm.current_snapshot_meta().is_some(), "{what}");
        }
        let mut last = 0;
        for i in 100..150 {
            last = put(&n1, &format!("key-{:03}", i % 70), &format!("v{i}")).await.1;
        }
        for raft in [&n2, &n3] {
            raft.wait(Some(WAIT)).applied_index_at_least(Some(last), "follower applied").await.unwrap();
        }
        assert_eq!(everything(&sm2), everything(&sm1));
        assert_eq!(everything(&sm3), everything(&sm1));
        assert_eq!(everything(&sm1).len(), 70);

        // Node 3 stops; writes go on; it restarts on its reopened stores
        // and catches up.
        router.nodes.lock().unwrap().remove(&3);
        n3.shutdown().await.unwrap();
        drop((n3, sm3));
        for i in 150..200 {
            last = put(&n1, &format!("late-{i}"), "x").await.1;
        }
        let (n3, sm3) = start(3, &dir(3), &router).await;
        n3.wait(Some(WAIT)).applied_index_at_least(Some(last), "restarted node applied").await.unwrap();
        assert_eq!(everything(&sm3), everything(&sm1));
        assert_eq!(sm3.get(b"late-199").unwrap(), Some(b"x".to_vec()));

        for raft in [n1, n2, n3] {
            raft.shutdown().await.unwrap();
        }
    });
}
