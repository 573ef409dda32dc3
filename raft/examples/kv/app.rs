//! The state of one `kv` node shared by every HTTP handler: the raft
//! instance, a handle on the lsmkit state machine for reads, and the node's
//! own id and address.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lsmkit_raft::{StateMachineStore, TypeConfig};

use crate::network::Network;

/// The raft instance of this example.
pub type Raft = openraft::Raft<TypeConfig>;

/// One node: raft plus a read handle on its state machine.
pub struct App {
    /// This node's raft id.
    pub id: u64,
    /// The address this node listens on (what other nodes and clients use).
    pub addr: SocketAddr,
    /// The raft instance.
    pub raft: Raft,
    /// The state machine, for reads (raft owns the writing side).
    pub state_machine: StateMachineStore,
    /// Longest time a client request waits for raft before it is answered 503.
    pub request_timeout: Duration,
}

impl App {
    /// Opens (or creates) the stores in `dir` and starts raft on them.
    pub async fn open(
        id: u64,
        addr: SocketAddr,
        dir: &Path,
        config: Arc<openraft::Config>,
    ) -> Result<App, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        // Opening recovers two lsmkit databases: blocking work, off the async threads.
        let owned = dir.to_path_buf();
        let (log_store, state_machine) = tokio::task::spawn_blocking(move || lsmkit_raft::open_stores(owned))
            .await
            .map_err(|e| format!("opening the stores panicked: {e}"))?
            .map_err(|e| format!("cannot open the stores in {}: {e}", dir.display()))?;
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(500))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        let raft = Raft::new(id, config, Network::new(client), log_store, state_machine.clone())
            .await
            .map_err(|e| format!("cannot start raft: {e}"))?;
        Ok(App { id, addr, raft, state_machine, request_timeout: Duration::from_secs(10) })
    }
}
