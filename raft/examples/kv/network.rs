//! The raft network of the `kv` example: openraft's RPCs (append entries,
//! vote, install snapshot) sent as HTTP requests with reqwest.
//!
//! Append-entries and vote travel as JSON. A snapshot travels in chunks:
//! openraft reads one chunk of the snapshot file at a time
//! (`snapshot_max_chunk_size`) and hands it to [`Connection::install_snapshot`],
//! which sends the chunk's bytes as the raw request body and its metadata
//! (vote, snapshot meta, offset, done) as JSON in a header, so no more than one
//! chunk is ever held in memory on the sending side.

use lsmkit_raft::TypeConfig;
use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, SnapshotMeta, Vote};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Header carrying a snapshot chunk's metadata ([`ChunkHeader`] as JSON).
pub const SNAPSHOT_CHUNK_HEADER: &str = "x-lsmkit-snapshot-chunk";

/// Everything of an [`InstallSnapshotRequest`] except the chunk's bytes.
#[derive(Serialize, Deserialize)]
pub struct ChunkHeader {
    /// The sending leader's vote.
    pub vote: Vote<u64>,
    /// Which snapshot the chunk belongs to.
    pub meta: SnapshotMeta<u64, BasicNode>,
    /// Byte offset of the chunk in the snapshot file.
    pub offset: u64,
    /// Whether this is the last chunk.
    pub done: bool,
}

/// Creates a [`Connection`] per target node; all share one HTTP connection pool.
#[derive(Clone)]
pub struct Network {
    client: reqwest::Client,
}

impl Network {
    /// A network over the given HTTP client.
    pub fn new(client: reqwest::Client) -> Network {
        Network { client }
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Connection;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> Connection {
        Connection { client: self.client.clone(), target, base: format!("http://{}", node.addr) }
    }
}

/// The raft RPCs to one node.
pub struct Connection {
    client: reqwest::Client,
    target: u64,
    base: String,
}

type RpcResult<T, E = openraft::error::Infallible> = Result<T, RPCError<u64, BasicNode, RaftError<u64, E>>>;

impl Connection {
    /// Sends `request` to `path` and decodes the node's `Result` answer.
    async fn send<Resp, E>(&self, request: reqwest::RequestBuilder, option: &RPCOption) -> RpcResult<Resp, E>
    where
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let response = request.timeout(option.hard_ttl()).send().await.map_err(|e| {
            if e.is_connect() {
                // The node is down: openraft backs off instead of retrying at once.
                RPCError::Unreachable(Unreachable::new(&e))
            } else {
                RPCError::Network(NetworkError::new(&e))
            }
        })?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            let err = std::io::Error::other(format!("HTTP {status} from node {}: {text}", self.target));
            return Err(RPCError::Network(NetworkError::new(&err)));
        }
        let answer: Result<Resp, RaftError<u64, E>> =
            response.json().await.map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        answer.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for Connection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<u64>> {
        let request = self.client.post(format!("{}/raft/append", self.base)).json(&rpc);
        self.send(request, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<u64>, InstallSnapshotError> {
        let header = ChunkHeader { vote: rpc.vote, meta: rpc.meta, offset: rpc.offset, done: rpc.done };
        let header = serde_json::to_string(&header).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let request = self
            .client
            .post(format!("{}/raft/snapshot", self.base))
            .header(SNAPSHOT_CHUNK_HEADER, header)
            .body(rpc.data);
        self.send(request, &option).await
    }

    async fn vote(&mut self, rpc: VoteRequest<u64>, option: RPCOption) -> RpcResult<VoteResponse<u64>> {
        let request = self.client.post(format!("{}/raft/vote", self.base)).json(&rpc);
        self.send(request, &option).await
    }
}
