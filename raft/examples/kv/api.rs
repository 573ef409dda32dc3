//! The HTTP routes of a `kv` node (axum).
//!
//! Clients:
//! - `PUT /kv/{key}` (body: the value), `DELETE /kv/{key}`: replicated writes,
//!   answered once the entry is committed and applied on the leader; on a
//!   follower, `307 Temporary Redirect` to the same path on the leader
//!   (`curl -L` follows it) with the leader's id and address in a JSON body;
//! - `GET /kv/{key}`: the value (raw bytes) or 404, linearizable: the leader
//!   confirms with a quorum that it still leads and waits until its state
//!   machine has applied everything committed before answering
//!   (`Raft::ensure_linearizable`); followers redirect to the leader.
//!   `?consistency=local` reads this node's state machine as it is;
//! - `GET /scan?start=a&end=b&limit=n`: the pairs with `start <= key < end`
//!   in key order as JSON `[{"key": …, "value": …}]` (bytes shown as UTF-8,
//!   invalid sequences replaced), same consistency rules as `GET /kv`.
//!
//! Administration:
//! - `POST /cluster/init` with `{"1": "127.0.0.1:21001", …}` (no body, `{}`
//!   or `null`: a cluster of this node alone);
//! - `POST /cluster/add-learner` with `{"id": 2, "addr": "127.0.0.1:21002"}`;
//! - `POST /cluster/change-membership` with `[1, 2, 3]`;
//! - `GET /cluster/metrics`: openraft's metrics of this node as JSON;
//! - `POST /admin/snapshot`: build a snapshot now (and purge the log it covers).
//!
//! Raft RPCs between nodes: `POST /raft/append`, `/raft/vote`, `/raft/snapshot`
//! (see `network.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use lsmkit_raft::{Request, TypeConfig};
use openraft::error::{CheckIsLeaderError, ClientWriteError, ForwardToLeader, RaftError};
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use openraft::BasicNode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::App;
use crate::network::{ChunkHeader, SNAPSHOT_CHUNK_HEADER};

/// Largest request body accepted (values, append-entries batches, snapshot chunks).
const BODY_LIMIT: usize = 64 << 20;

/// All routes of a node.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/kv/{*key}", get(get_key).put(put_key).delete(delete_key))
        .route("/scan", get(scan))
        .route("/cluster/init", post(init))
        .route("/cluster/add-learner", post(add_learner))
        .route("/cluster/change-membership", post(change_membership))
        .route("/cluster/metrics", get(metrics))
        .route("/admin/snapshot", post(snapshot_now))
        .route("/raft/append", post(raft_append))
        .route("/raft/vote", post(raft_vote))
        .route("/raft/snapshot", post(raft_snapshot))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(app)
}

/// An answer other than success.
enum ApiError {
    /// Not the leader: redirect to it (same path), or 503 if no leader is known.
    NotLeader { leader_id: Option<u64>, leader_addr: Option<String>, uri: Uri },
    /// Raft did not answer within the request timeout, or could not reach a majority.
    Unavailable(String),
    /// The request is malformed.
    BadRequest(String),
    /// Anything else.
    Internal(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::NotLeader { leader_id, leader_addr: Some(addr), uri } => {
                let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
                let location = format!("http://{addr}{path}");
                let body = json!({"error": "not the leader", "leader_id": leader_id, "leader_addr": addr});
                (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, location)], Json(body)).into_response()
            }
            ApiError::NotLeader { leader_id, leader_addr: None, .. } => {
                let body = json!({"error": "no leader known yet", "leader_id": leader_id});
                (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
            }
            ApiError::Unavailable(message) => {
                (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "error": message }))).into_response()
            }
            ApiError::BadRequest(message) => {
                (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
            }
            ApiError::Internal(message) => {
                (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({ "error": message }))).into_response()
            }
        }
    }
}

impl ApiError {
    fn forward(to: ForwardToLeader<u64, BasicNode>, uri: Uri) -> ApiError {
        ApiError::NotLeader { leader_id: to.leader_id, leader_addr: to.leader_node.map(|n| n.addr), uri }
    }
}

/// Runs a raft call with the node's request timeout.
async fn bounded<T>(app: &App, call: impl Future<Output = T>) -> Result<T, ApiError> {
    tokio::time::timeout(app.request_timeout, call)
        .await
        .map_err(|_| ApiError::Unavailable("raft did not answer in time (no majority reachable?)".into()))
}

/// `?consistency=…` of the read routes.
#[derive(Deserialize, Default)]
struct ReadQuery {
    /// `linearizable` (default) or `local`.
    consistency: Option<String>,
}

/// Before a read: unless `local` was asked for, make sure this node leads and
/// its state machine has applied everything committed so far.
async fn read_barrier(app: &App, consistency: Option<&str>, uri: Uri) -> Result<(), ApiError> {
    match consistency {
        None | Some("linearizable") => {}
        Some("local") => return Ok(()),
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "consistency must be linearizable or local, not {other}"
            )))
        }
    }
    match bounded(app, app.raft.ensure_linearizable()).await? {
        Ok(_) => Ok(()),
        Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(to))) => Err(ApiError::forward(to, uri)),
        Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(e))) => {
            Err(ApiError::Unavailable(e.to_string()))
        }
        Err(e) => Err(ApiError::Internal(e.to_string())),
    }
}

async fn get_key(
    State(app): State<Arc<App>>,
    Path(key): Path<String>,
    Query(query): Query<ReadQuery>,
    uri: Uri,
) -> Result<Response, ApiError> {
    read_barrier(&app, query.consistency.as_deref(), uri).await?;
    let state_machine = app.state_machine.clone();
    let found = tokio::task::spawn_blocking(move || state_machine.get(key.as_bytes()))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    match found {
        Ok(Some(value)) => Ok(([(header::CONTENT_TYPE, "application/octet-stream")], value).into_response()),
        Ok(None) => Ok((StatusCode::NOT_FOUND, Json(json!({"error": "not found"}))).into_response()),
        Err(e) => Err(ApiError::Internal(e.to_string())),
    }
}

/// `?start=&end=&limit=` of `GET /scan`.
#[derive(Deserialize)]
struct ScanQuery {
    start: Option<String>,
    end: Option<String>,
    limit: Option<usize>,
    consistency: Option<String>,
}

/// One pair of a scan answer.
#[derive(Serialize)]
struct Pair {
    key: String,
    value: String,
}

async fn scan(
    State(app): State<Arc<App>>,
    Query(query): Query<ScanQuery>,
    uri: Uri,
) -> Result<Response, ApiError> {
    read_barrier(&app, query.consistency.as_deref(), uri).await?;
    let start = query.start.unwrap_or_default();
    let limit = query.limit.unwrap_or(usize::MAX);
    let state_machine = app.state_machine.clone();
    let end = query.end;
    let pairs = tokio::task::spawn_blocking(move || {
        state_machine.scan(start.as_bytes(), end.as_deref().map(str::as_bytes), limit)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let pairs: Vec<Pair> = pairs
        .into_iter()
        .map(|(key, value)| Pair {
            key: String::from_utf8_lossy(&key).into_owned(),
            value: String::from_utf8_lossy(&value).into_owned(),
        })
        .collect();
    Ok(Json(pairs).into_response())
}

/// Submits a write and waits until it is applied on the leader.
async fn write(app: &App, request: Request, uri: Uri) -> Result<Response, ApiError> {
    match bounded(app, app.raft.client_write(request)).await? {
        Ok(done) => Ok(Json(json!({"index": done.log_id.index, "leader": app.id})).into_response()),
        Err(RaftError::APIError(ClientWriteError::ForwardToLeader(to))) => Err(ApiError::forward(to, uri)),
        Err(e) => Err(ApiError::Internal(e.to_string())),
    }
}

async fn put_key(
    State(app): State<Arc<App>>,
    Path(key): Path<String>,
    uri: Uri,
    value: Bytes,
) -> Result<Response, ApiError> {
    write(&app, Request::Put { key: key.into_bytes(), value: value.to_vec() }, uri).await
}

async fn delete_key(
    State(app): State<Arc<App>>,
    Path(key): Path<String>,
    uri: Uri,
) -> Result<Response, ApiError> {
    write(&app, Request::Delete { key: key.into_bytes() }, uri).await
}

async fn init(State(app): State<Arc<App>>, body: Bytes) -> Result<Response, ApiError> {
    let given: Option<BTreeMap<u64, String>> = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("expected {{\"id\": \"addr\", …}} or nothing: {e}")))?
    };
    let mut nodes: BTreeMap<u64, BasicNode> =
        given.unwrap_or_default().into_iter().map(|(id, addr)| (id, BasicNode { addr })).collect();
    if nodes.is_empty() {
        nodes.insert(app.id, BasicNode { addr: app.addr.to_string() });
    }
    let result = bounded(&app, app.raft.initialize(nodes)).await?;
    Ok(raft_answer(result))
}

/// Body of `POST /cluster/add-learner`.
#[derive(Deserialize)]
struct Learner {
    id: u64,
    addr: String,
}

async fn add_learner(
    State(app): State<Arc<App>>,
    Json(learner): Json<Learner>,
) -> Result<Response, ApiError> {
    let node = BasicNode { addr: learner.addr };
    let result = bounded(&app, app.raft.add_learner(learner.id, node, true)).await?;
    Ok(raft_answer(result.map(|done| json!({"index": done.log_id.index}))))
}

async fn change_membership(
    State(app): State<Arc<App>>,
    Json(members): Json<BTreeSet<u64>>,
) -> Result<Response, ApiError> {
    let result = bounded(&app, app.raft.change_membership(members, false)).await?;
    Ok(raft_answer(result.map(|done| json!({"index": done.log_id.index}))))
}

/// An administrative answer: 200 with the result, or 409 with raft's error
/// (not the leader, already initialized, …) as JSON.
fn raft_answer<T: Serialize, E: Serialize + std::fmt::Display>(result: Result<T, E>) -> Response {
    match result {
        Ok(value) => Json(json!({ "ok": value })).into_response(),
        Err(e) => (StatusCode::CONFLICT, Json(json!({"error": e.to_string(), "detail": e}))).into_response(),
    }
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let metrics = app.raft.metrics().borrow().clone();
    Json(metrics).into_response()
}

async fn snapshot_now(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    bounded(&app, app.raft.trigger().snapshot()).await?.map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(json!({"ok": "snapshot requested"})).into_response())
}

async fn raft_append(
    State(app): State<Arc<App>>,
    Json(rpc): Json<AppendEntriesRequest<TypeConfig>>,
) -> Response {
    Json(app.raft.append_entries(rpc).await).into_response()
}

async fn raft_vote(State(app): State<Arc<App>>, Json(rpc): Json<VoteRequest<u64>>) -> Response {
    Json(app.raft.vote(rpc).await).into_response()
}

async fn raft_snapshot(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    data: Bytes,
) -> Result<Response, ApiError> {
    let header = headers
        .get(SNAPSHOT_CHUNK_HEADER)
        .ok_or_else(|| ApiError::BadRequest(format!("missing {SNAPSHOT_CHUNK_HEADER} header")))?;
    let chunk: ChunkHeader = serde_json::from_slice(header.as_bytes())
        .map_err(|e| ApiError::BadRequest(format!("bad {SNAPSHOT_CHUNK_HEADER} header: {e}")))?;
    let rpc = InstallSnapshotRequest {
        vote: chunk.vote,
        meta: chunk.meta,
        offset: chunk.offset,
        data: data.to_vec(),
        done: chunk.done,
    };
    Ok(Json(app.raft.install_snapshot(rpc).await).into_response())
}
