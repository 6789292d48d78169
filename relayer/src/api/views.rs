//! What the API answers, and its OpenAPI document (derived from these types and the handlers'
//! annotations, so the document cannot drift from the code).

use serde::Serialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::telemetry::{
    LanePending, PathStatus, QuarantineEntry, QuarantineList, SideInfo, WalletInfo,
};

/// Every error: a sentence for people and a kind for programs.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
    /// `bad_request`, `unauthorized`, `forbidden`, `not_found`, `conflict`, `starting`,
    /// `chain_unavailable` or `timeout`.
    pub kind: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionView {
    pub version: String,
    pub git_commit: String,
    /// This instance's name when several share a PostgreSQL store.
    pub instance: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChainView {
    pub id: String,
    /// `cosmos` or `evm`.
    pub kind: String,
    /// The latest height Ferry saw (0 before the first).
    pub latest_height: u64,
    /// Whether the chain's RPC answered the last request.
    pub rpc_up: bool,
    /// The relayer wallet (the primary signer's), once sampled.
    pub wallet: Option<WalletInfo>,
    /// Every signer's wallet (`keys = [...]`), the primary first.
    pub signers: Vec<WalletInfo>,
    /// Relayer txs confirmed since start, and the fees they paid in the wallet's denom.
    pub txs_confirmed: u64,
    pub fees_paid: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChainsView {
    pub chains: Vec<ChainView>,
}

/// One direction of a path.
#[derive(Debug, Serialize, ToSchema)]
pub struct LaneView {
    /// `FROM->TO`.
    pub direction: String,
    /// The chain its messages go to.
    pub chain: String,
    /// Packets, acks and timeouts waiting to be delivered to `chain`.
    pub backlog: u64,
    pub oldest_age_seconds: f64,
    /// With a shared store: the instance that holds the lane's lease (none while free).
    pub owner: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PathView {
    pub name: String,
    pub chain_a: String,
    pub chain_b: String,
    pub state: PathStatus,
    /// Why it waits or restarts.
    pub reason: Option<String>,
    /// When it entered `state` (Unix seconds).
    pub since_unix: u64,
    /// Both ends, once resolved.
    pub sides: Vec<SideInfo>,
    pub lanes: Vec<LaneView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PathsView {
    pub paths: Vec<PathView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PendingView {
    pub lanes: Vec<LanePending>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClearView {
    pub path: String,
    /// A clearing round was asked for; it starts at once and scans every commitment.
    pub requested: bool,
}

/// Where a transfer stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransferStep {
    Sent,
    Received,
    Acknowledged,
    TimedOut,
    Refunded,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineEntry {
    pub step: TransferStep,
    pub done: bool,
    /// The source chain's height, for `sent`.
    pub height: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TransferView {
    pub tx_hash: String,
    pub source_chain: String,
    pub destination_chain: String,
    pub path: String,
    pub sequence: u64,
    pub source_channel: String,
    pub destination_channel: String,
    /// The furthest step reached.
    pub state: TransferStep,
    /// True once nothing more will happen.
    pub finished: bool,
    /// Whether the destination's acknowledgement says success (once known).
    pub ack_ok: Option<bool>,
    /// The error the acknowledgement carries.
    pub ack_error: Option<String>,
    pub timeline: Vec<TimelineEntry>,
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ferry relayer API",
        description = "The running relayer: its chains, paths, pending and quarantined packets, \
                       transfers, and clearing on demand. Served on `[telemetry] listen`."
    ),
    paths(
        super::routes::healthz,
        super::routes::readyz,
        super::routes::metrics_text,
        super::routes::version,
        super::routes::chains,
        super::routes::paths,
        super::routes::path,
        super::routes::clear,
        super::routes::pending,
        super::routes::quarantine_list,
        super::routes::transfer,
    ),
    components(schemas(
        ErrorBody,
        VersionView,
        ChainView,
        ChainsView,
        LaneView,
        PathView,
        PathsView,
        PendingView,
        ClearView,
        TransferStep,
        TimelineEntry,
        TransferView,
        PathStatus,
        SideInfo,
        WalletInfo,
        LanePending,
        QuarantineEntry,
        QuarantineList
    )),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;
