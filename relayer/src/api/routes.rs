//! The API's handlers. Each answers JSON (or text for probes and metrics); every error is an
//! [`ErrorBody`] with its status.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::views::*;
use super::ApiState;
use crate::chain::ChainError;
use crate::supervisor::Chain;
use crate::telemetry::{live, metrics, quarantine, QuarantineList};
use crate::transfer::TransferState;

/// A transfer lookup asks both chains a few questions; it gives up after this long.
const LOOKUP_LIMIT: Duration = Duration::from_secs(15);

/// An error answer.
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            message: message.into(),
        }
    }
    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    fn no_path(name: &str) -> ApiError {
        ApiError::not_found(format!("no configured path is named `{name}`"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.message,
            kind: self.kind.to_string(),
        };
        let mut r = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        r
    }
}

impl From<PathRejection> for ApiError {
    fn from(e: PathRejection) -> ApiError {
        ApiError::bad_request(format!("bad path: {}", e.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> ApiError {
        ApiError::bad_request(format!("bad query: {}", e.body_text()))
    }
}

type Answer<T> = Result<Json<T>, ApiError>;

#[utoipa::path(get, path = "/healthz", tag = "probes",
    responses((status = 200, description = "The process runs", body = String, content_type = "text/plain")))]
pub async fn healthz() -> &'static str {
    "ok\n"
}

#[utoipa::path(get, path = "/readyz", tag = "probes",
    responses(
        (status = 200, description = "Ready; paths still waited for are named, one per line", body = String, content_type = "text/plain"),
        (status = 503, description = "Not ready, with the reasons, one per line", body = String, content_type = "text/plain")))]
pub async fn readyz(State(s): State<Arc<ApiState>>) -> Response {
    let text = |t: String| ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], t);
    if s.ready.get() {
        (
            StatusCode::OK,
            text(format!("ready\n{}", s.ready.waiting_for())),
        )
            .into_response()
    } else {
        let body = format!("not ready\n{}{}", s.ready.reasons(), s.ready.waiting_for());
        (StatusCode::SERVICE_UNAVAILABLE, text(body)).into_response()
    }
}

#[utoipa::path(get, path = "/metrics", tag = "probes",
    responses((status = 200, description = "Prometheus text exposition (docs/METRICS.md)", body = String, content_type = "text/plain")))]
pub async fn metrics_text() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics().render(),
    )
        .into_response()
}

#[utoipa::path(get, path = "/v1/version", tag = "relayer",
    responses((status = 200, description = "This Ferry", body = VersionView)))]
pub async fn version(State(s): State<Arc<ApiState>>) -> Json<VersionView> {
    Json(VersionView {
        version: env!("CARGO_PKG_VERSION").into(),
        git_commit: option_env!("FERRY_GIT_COMMIT").unwrap_or("unknown").into(),
        instance: s.leases.get().map(|m| m.instance().to_string()),
    })
}

#[utoipa::path(get, path = "/v1/chains", tag = "relayer",
    responses((status = 200, description = "Every configured chain", body = ChainsView)))]
pub async fn chains(State(s): State<Arc<ApiState>>) -> Json<ChainsView> {
    let chains = s
        .chains
        .iter()
        .map(|(id, kind)| {
            let (latest_height, rpc_up) = metrics().chain_state(id).unwrap_or((0, false));
            let signers = live().wallets_of(id);
            let wallet = signers.first().cloned();
            let denom = wallet.as_ref().map(|w| w.denom.as_str());
            let (txs_confirmed, fees_paid) = metrics().chain_cost(id, denom);
            ChainView {
                id: id.clone(),
                kind: kind.to_string(),
                latest_height,
                rpc_up,
                wallet,
                signers,
                txs_confirmed,
                fees_paid,
            }
        })
        .collect();
    Json(ChainsView { chains })
}

/// Lane owners by lane name, when leases are in use (read from the store off the runtime).
async fn owners(s: &ApiState) -> std::collections::BTreeMap<String, String> {
    let Some(m) = s.leases.get().cloned() else {
        return Default::default();
    };
    match tokio::task::spawn_blocking(move || m.snapshot()).await {
        Ok(Ok((rows, _))) => rows
            .into_iter()
            .filter(|r| r.expires_in_ms.is_some_and(|ms| ms > 0))
            .filter_map(|r| Some((r.lane, r.owner?)))
            .collect(),
        _ => Default::default(),
    }
}

async fn path_views(s: &ApiState, only: Option<&str>) -> Vec<PathView> {
    let owners = owners(s).await;
    live()
        .paths()
        .into_iter()
        .filter(|(name, _)| only.is_none_or(|o| o == name))
        .map(|(name, e)| {
            let lanes = live()
                .pending(Some(&name))
                .into_iter()
                .map(|l| LaneView {
                    owner: owners
                        .get(&crate::lease::lane_name(&name, &l.chain))
                        .cloned(),
                    direction: l.direction,
                    chain: l.chain,
                    backlog: l.total as u64,
                    oldest_age_seconds: l.oldest_age_seconds,
                })
                .collect();
            PathView {
                sides: e.side_info(),
                name,
                chain_a: e.chain_a,
                chain_b: e.chain_b,
                state: e.status,
                reason: e.reason,
                since_unix: e.since_unix,
                lanes,
            }
        })
        .collect()
}

#[utoipa::path(get, path = "/v1/paths", tag = "relayer",
    responses((status = 200, description = "Every configured path: state, ends, backlog per direction, owner", body = PathsView)))]
pub async fn paths(State(s): State<Arc<ApiState>>) -> Json<PathsView> {
    Json(PathsView {
        paths: path_views(&s, None).await,
    })
}

#[utoipa::path(get, path = "/v1/paths/{path}", tag = "relayer",
    params(("path" = String, Path, description = "The path's name in the config")),
    responses(
        (status = 200, description = "One path", body = PathView),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 404, description = "No such path", body = ErrorBody)))]
pub async fn path(
    State(s): State<Arc<ApiState>>,
    name: Result<Path<String>, PathRejection>,
) -> Answer<PathView> {
    let Path(name) = name?;
    path_views(&s, Some(&name))
        .await
        .pop()
        .map(Json)
        .ok_or_else(|| ApiError::no_path(&name))
}

/// Whether `headers` carry the bearer token (compared in constant time).
fn authorized(s: &ApiState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = &s.token else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this API takes no writes: set `[telemetry] token_file` to allow them",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if token.matches(given) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send `Authorization: Bearer <token>` with the token in `[telemetry] token_file`",
        ))
    }
}

#[utoipa::path(post, path = "/v1/paths/{path}/clear", tag = "relayer",
    params(("path" = String, Path, description = "The path's name in the config")),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "A clearing round starts at once", body = ClearView),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "No token, or a wrong one", body = ErrorBody),
        (status = 403, description = "Writes are off (no token file configured)", body = ErrorBody),
        (status = 404, description = "No such path", body = ErrorBody),
        (status = 409, description = "The path is not relaying yet", body = ErrorBody)))]
pub async fn clear(
    State(s): State<Arc<ApiState>>,
    headers: HeaderMap,
    name: Result<Path<String>, PathRejection>,
) -> Result<(StatusCode, Json<ClearView>), ApiError> {
    authorized(&s, &headers)?;
    let Path(name) = name?;
    let entry = live().path(&name).ok_or_else(|| ApiError::no_path(&name))?;
    let wake = entry.clear.ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("path `{name}` is not relaying yet; clearing starts when it does"),
        )
    })?;
    wake.notify_one();
    tracing::info!(path = %name, "clearing asked for over the API");
    Ok((
        StatusCode::ACCEPTED,
        Json(ClearView {
            path: name,
            requested: true,
        }),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct PendingQuery {
    /// Only this path's lanes.
    path: Option<String>,
}

#[utoipa::path(get, path = "/v1/packets/pending", tag = "packets",
    params(PendingQuery),
    responses(
        (status = 200, description = "What each lane has still to deliver", body = PendingView),
        (status = 400, description = "Malformed request", body = ErrorBody)))]
pub async fn pending(q: Result<Query<PendingQuery>, QueryRejection>) -> Answer<PendingView> {
    let Query(q) = q?;
    Ok(Json(PendingView {
        lanes: live().pending(q.path.as_deref()),
    }))
}

#[utoipa::path(get, path = "/v1/quarantine", tag = "packets",
    responses((status = 200, description = "Packet messages held back because they made their batch fail", body = QuarantineList)))]
pub async fn quarantine_list() -> Json<QuarantineList> {
    Json(quarantine().list())
}

/// A tx hash in the chain's own form: 64 hex digits on Cosmos, `0x` and 64 on EVM.
fn check_hash(kind: &str, hash: &str) -> Result<(), ApiError> {
    let hex = match kind {
        "evm" => hash.strip_prefix("0x"),
        _ => Some(hash),
    };
    match hex {
        Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(()),
        _ if kind == "evm" => Err(ApiError::bad_request(format!(
            "`{hash}` is not an EVM tx hash (0x and 64 hex digits)"
        ))),
        _ => Err(ApiError::bad_request(format!(
            "`{hash}` is not a Cosmos tx hash (64 hex digits)"
        ))),
    }
}

fn chain_error(e: ChainError) -> ApiError {
    match e {
        ChainError::TxNotFound { .. } | ChainError::NoPacketInTx { .. } => {
            ApiError::not_found(e.to_string())
        }
        other => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "chain_unavailable",
            format!("the chain did not answer: {other}"),
        ),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TransferParams {
    /// The chain the transfer was sent on (one of the configured chains).
    chain: String,
    /// The transfer tx's hash in the chain's own form: 64 hex digits on Cosmos, `0x` and 64 on EVM.
    #[param(pattern = r"^(0x)?[0-9a-fA-F]{64}$")]
    tx_hash: String,
}

#[utoipa::path(get, path = "/v1/transfers/{chain}/{tx_hash}", tag = "transfers",
    params(TransferParams),
    responses(
        (status = 200, description = "Where the transfer stands, step by step", body = TransferView),
        (status = 400, description = "Malformed hash or request", body = ErrorBody),
        (status = 404, description = "No such chain, tx, packet or path", body = ErrorBody),
        (status = 502, description = "A chain did not answer", body = ErrorBody),
        (status = 503, description = "Ferry is still opening its chains", body = ErrorBody),
        (status = 504, description = "The lookup took too long", body = ErrorBody)))]
pub async fn transfer(
    State(s): State<Arc<ApiState>>,
    p: Result<Path<TransferParams>, PathRejection>,
) -> Answer<TransferView> {
    let Path(TransferParams { chain, tx_hash }) = p?;
    let kind = s
        .chains
        .get(&chain)
        .ok_or_else(|| ApiError::not_found(format!("no configured chain is named `{chain}`")))?;
    check_hash(kind, &tx_hash)?;
    let open = s.open.get().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "starting",
            "Ferry is still opening its chains",
        )
    })?;
    let handle = open
        .iter()
        .find(|(id, _)| id.as_str() == chain)
        .map(|(_, c)| c.clone())
        .ok_or_else(|| ApiError::not_found(format!("chain `{chain}` is not open")))?;
    tokio::time::timeout(LOOKUP_LIMIT, lookup(handle, &chain, &tx_hash))
        .await
        .unwrap_or_else(|_| {
            Err(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                format!("looking up {tx_hash} took over {}s", LOOKUP_LIMIT.as_secs()),
            ))
        })
        .map(Json)
}

async fn lookup(handle: Chain, chain: &str, tx_hash: &str) -> Result<TransferView, ApiError> {
    let (packet, height) = match &handle {
        Chain::Cosmos(c) => crate::transfer::packet_of_tx(c, tx_hash).await,
        Chain::Evm(e) => crate::transfer::evm::packet_of_tx(e, tx_hash).await,
    }
    .map_err(chain_error)?;
    let (path, (src, dst)) = live()
        .paths()
        .into_iter()
        .find_map(|(name, e)| {
            let (a, b) = e.sides?;
            let (src, dst) = if a.id() == chain { (a, b) } else { (b, a) };
            (src.id() == chain
                && src.port == packet.source_port
                && src.channel == packet.source_channel)
                .then_some((name, (src, dst)))
        })
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "tx {tx_hash} sent packet {} on {}/{}, which no relaying path carries",
                packet.sequence, packet.source_port, packet.source_channel
            ))
        })?;
    let st = crate::transfer::status_of(&*src.chain, &*dst.chain, tx_hash, packet, height)
        .await
        .map_err(chain_error)?;
    Ok(view(path, dst.id().to_string(), st))
}

/// The API's form of a transfer's status: the furthest step and the timeline up to its end.
fn view(
    path: String,
    destination_chain: String,
    st: crate::transfer::TransferStatus,
) -> TransferView {
    use TransferStep::*;
    let (state, ack_ok, ack_error) = match &st.state {
        TransferState::Sent => (Sent, None, None),
        TransferState::Received { ack_ok } => (Received, *ack_ok, None),
        TransferState::Acknowledged { ok, error } => (Acknowledged, Some(*ok), error.clone()),
        TransferState::TimedOut => (TimedOut, None, None),
        TransferState::TimedOutRefunded => (Refunded, None, None),
    };
    let steps: &[TransferStep] = match state {
        TimedOut | Refunded => &[Sent, TimedOut, Refunded],
        _ => &[Sent, Received, Acknowledged],
    };
    let reached = steps.iter().position(|s| *s == state).unwrap_or(0);
    let timeline = steps
        .iter()
        .enumerate()
        .map(|(i, step)| TimelineEntry {
            step: *step,
            done: i <= reached,
            height: (*step == Sent).then_some(st.send_height),
        })
        .collect();
    TransferView {
        finished: st.state.is_final(),
        tx_hash: st.tx_hash,
        source_chain: st.source_chain,
        destination_chain,
        path,
        sequence: st.sequence,
        source_channel: st.source_channel.to_string(),
        destination_channel: st.destination_channel.to_string(),
        state,
        ack_ok,
        ack_error,
        timeline,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_checked_in_the_chains_own_form() {
        let h = "ab".repeat(32);
        assert!(check_hash("cosmos", &h).is_ok());
        assert!(check_hash("cosmos", &format!("0x{h}")).is_err());
        assert!(check_hash("evm", &format!("0x{h}")).is_ok());
        assert!(check_hash("evm", &h).is_err());
        assert!(check_hash("cosmos", "zz").is_err());
        assert!(check_hash("evm", &format!("0x{}", "g".repeat(64))).is_err());
    }

    #[test]
    fn a_timeline_runs_to_the_state_reached() {
        let st = |state| crate::transfer::TransferStatus {
            tx_hash: "T".into(),
            source_chain: "a".into(),
            sequence: 4,
            source_channel: "channel-0".parse().unwrap(),
            destination_channel: "channel-1".parse().unwrap(),
            send_height: 17,
            state,
        };
        let v = view(
            "p".into(),
            "b".into(),
            st(TransferState::Received { ack_ok: None }),
        );
        let done: Vec<_> = v.timeline.iter().map(|t| (t.step, t.done)).collect();
        use TransferStep::*;
        assert_eq!(
            done,
            vec![(Sent, true), (Received, true), (Acknowledged, false)]
        );
        assert_eq!(v.timeline[0].height, Some(17));
        assert!(!v.finished);
        let v = view("p".into(), "b".into(), st(TransferState::TimedOutRefunded));
        assert!(v.finished && v.timeline.iter().all(|t| t.done));
        assert_eq!(v.timeline.last().unwrap().step, Refunded);
        let v = view(
            "p".into(),
            "b".into(),
            st(TransferState::Acknowledged {
                ok: false,
                error: Some("insufficient funds".into()),
            }),
        );
        assert_eq!((v.state, v.ack_ok), (Acknowledged, Some(false)));
    }
}
