//! Ferry's HTTP server (axum): probes (`/healthz`, `/readyz`), `/metrics`, the REST API under
//! `/v1` described by `/openapi.json`, and the optional web console at `/`. It binds
//! `[telemetry] listen` (127.0.0.1 by default), serves at most `max_connections` connections at
//! once, caps request bodies, and takes writes only with the bearer token from `token_file`.

mod listener;
mod ready;
mod routes;
mod token;
mod views;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use utoipa::OpenApi;

pub use ready::Readiness;
pub use routes::ApiError;
pub use token::{Token, TokenError};
pub use views::ApiDoc;

use crate::config::{ChainKind, Config};
use crate::supervisor::Chain;

/// Largest request body taken (the API's writes carry none).
pub const MAX_BODY: usize = 4 * 1024;

/// What the handlers read.
pub struct ApiState {
    pub ready: Readiness,
    /// Configured chains and their kind (`cosmos`, `evm`), by id.
    pub chains: BTreeMap<String, &'static str>,
    /// The open chains, once the supervisor opened them.
    pub open: OnceLock<Vec<(crate::ibc::ChainId, Chain)>>,
    /// The lease manager, with a shared store.
    pub leases: OnceLock<Arc<crate::lease::LeaseManager>>,
    pub token: Option<Token>,
    pub console: bool,
}

impl ApiState {
    pub fn new(cfg: &Config, ready: Readiness, token: Option<Token>) -> ApiState {
        let chains = cfg
            .chains
            .iter()
            .map(|c| {
                let kind = match c.kind {
                    ChainKind::Cosmos => "cosmos",
                    ChainKind::Evm => "evm",
                };
                (c.id.to_string(), kind)
            })
            .collect();
        ApiState {
            ready,
            chains,
            open: OnceLock::new(),
            leases: OnceLock::new(),
            token,
            console: cfg.telemetry.console,
        }
    }
}

/// The OpenAPI document, as served at `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document for this instance: parameters that name a chain list the configured chains.
pub fn openapi_for<'a>(chains: impl Iterator<Item = &'a String>) -> utoipa::openapi::OpenApi {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let ids: Vec<String> = chains.cloned().collect();
    let mut doc = openapi();
    for item in doc.paths.paths.values_mut() {
        for op in [&mut item.get, &mut item.post].into_iter().flatten() {
            for p in op.parameters.iter_mut().flatten() {
                if p.name == "chain" && !ids.is_empty() {
                    let schema = ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some(ids.clone()));
                    p.schema = Some(schema.into());
                }
            }
        }
    }
    doc
}

pub fn router(state: Arc<ApiState>) -> Router {
    let doc = openapi_for(state.chains.keys());
    let r = Router::new()
        .route("/healthz", get(routes::healthz))
        .route("/readyz", get(routes::readyz))
        .route("/metrics", get(routes::metrics_text))
        .route(
            "/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { axum::Json(doc) }
            }),
        )
        .route("/v1/version", get(routes::version))
        .route("/v1/chains", get(routes::chains))
        .route("/v1/paths", get(routes::paths))
        .route("/v1/paths/{path}", get(routes::path))
        .route("/v1/paths/{path}/clear", post(routes::clear))
        .route("/v1/packets/pending", get(routes::pending))
        .route("/v1/quarantine", get(routes::quarantine_list))
        .route("/v1/transfers/{chain}/{tx_hash}", get(routes::transfer));
    let r = if state.console {
        r.merge(crate::console::router())
    } else {
        r
    };
    let r = r.fallback(|| async {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such route: see /openapi.json",
        )
    });
    r.layer(DefaultBodyLimit::max(MAX_BODY)).with_state(state)
}

/// Bind and serve until the task is dropped. Returns the bound address (port 0 picks one).
pub async fn serve(
    addr: SocketAddr,
    max_connections: usize,
    state: Arc<ApiState>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = listener::Bounded::bind(addr, max_connections).await?;
    let local = axum::serve::Listener::local_addr(&listener)?;
    let app = router(state);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    });
    Ok((local, task))
}

#[cfg(test)]
mod tests;
