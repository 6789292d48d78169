//! The attestor's HTTP API (axum): `GET /healthz`, `GET /metrics`, `GET /v1/info`,
//! `POST /v1/attest/state` (EIP-712) and `POST /v1/attest/ibc/state`, `POST /v1/attest/ibc/packets`
//! (the ibc-go attestations format). Errors are JSON `{"error": "<sentence>", "kind": "<kind>"}` with the
//! status of [`Kind::status`]. Request bodies are capped at [`MAX_BODY`] bytes.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use super::ibc::{IbcPacketsRequest, IbcStateRequest};
use super::refusal::{Kind, Refusal};
use super::{AttestRequest, Attestor};

/// Largest request body accepted (an attestation request is about 150 bytes).
pub const MAX_BODY: usize = 16 * 1024;

pub fn router(att: Arc<Attestor>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/v1/info", get(info))
        .route("/v1/attest/state", post(attest))
        .route("/v1/attest/ibc/state", post(attest_ibc_state))
        .route("/v1/attest/ibc/packets", post(attest_ibc_packets))
        .fallback(|| async {
            let r = Refusal::new(
                Kind::BadRequest,
                "no such route: the API is GET /healthz, GET /metrics, GET /v1/info, \
                 POST /v1/attest/state, POST /v1/attest/ibc/state and POST /v1/attest/ibc/packets",
            );
            (StatusCode::NOT_FOUND, body(&r))
        })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(att)
}

fn body(r: &Refusal) -> Json<serde_json::Value> {
    Json(json!({ "error": r.message, "kind": r.kind.label() }))
}

fn refusal(r: &Refusal) -> (StatusCode, Json<serde_json::Value>) {
    let status = StatusCode::from_u16(r.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, body(r))
}

async fn metrics(State(att): State<Arc<Attestor>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        att.metrics.render(),
    )
        .into_response()
}

async fn info(State(att): State<Arc<Attestor>>) -> Response {
    Json(att.info()).into_response()
}

/// A body axum could not take as the request: 400, 413 (too large), 415 (not JSON) or 422
/// (wrong fields), as axum says, counted as a bad request.
fn rejected(att: &Attestor, e: JsonRejection, shape: &str) -> Response {
    att.metrics.bad_request(Kind::BadRequest);
    rejection(e, shape)
}

fn rejection(e: JsonRejection, shape: &str) -> Response {
    let r = Refusal::new(
        Kind::BadRequest,
        format!("the body must be JSON {shape}: {}", e.body_text()),
    );
    let mut response = (e.status(), body(&r)).into_response();
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        // The rest of the body was never read, so this connection cannot carry another request.
        // Saying so keeps a pooling client from sending its next request into a closing socket.
        response.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
    }
    response
}

fn answer<T: serde::Serialize>(result: Result<T, Refusal>) -> Response {
    match result {
        Ok(signed) => Json(signed).into_response(),
        Err(r) => refusal(&r).into_response(),
    }
}

async fn attest(
    State(att): State<Arc<Attestor>>,
    request: Result<Json<AttestRequest>, JsonRejection>,
) -> Response {
    match request {
        Ok(Json(req)) => answer(att.attest(req).await),
        Err(e) => rejected(
            &att,
            e,
            "{\"chain\": \"eip155:<id>\", \"height\": N, \"domain\": {\"host_chain_id\": N, \
             \"light_client\": \"0x…\"}}",
        ),
    }
}

async fn attest_ibc_state(
    State(att): State<Arc<Attestor>>,
    request: Result<Json<IbcStateRequest>, JsonRejection>,
) -> Response {
    match request {
        Ok(Json(req)) => answer(att.attest_ibc_state(req).await),
        Err(e) => rejected(&att, e, "{\"chain\": \"<caip2>\", \"height\": N}"),
    }
}

async fn attest_ibc_packets(
    State(att): State<Arc<Attestor>>,
    request: Result<Json<IbcPacketsRequest>, JsonRejection>,
) -> Response {
    match request {
        Ok(Json(req)) => answer(att.attest_ibc_packets(req).await),
        Err(e) => rejected(
            &att,
            e,
            "{\"chain\": \"<caip2>\", \"height\": N, \"keys\": [\"0x<raw key>\", …]}",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Over a real socket: a body over the cap gets 413 with `Connection: close`, and the same
    /// client's next request is answered (it was flaky before: `IncompleteMessage` on a reused
    /// connection the server had dropped).
    #[tokio::test]
    async fn too_large_closes_the_connection() {
        let app = Router::new()
            .route(
                "/post",
                post(
                    |r: Result<Json<serde_json::Value>, JsonRejection>| async move {
                        match r {
                            Ok(_) => StatusCode::OK.into_response(),
                            Err(e) => rejection(e, "{}"),
                        }
                    },
                ),
            )
            .route("/get", get(|| async { "ok" }))
            .layer(DefaultBodyLimit::max(MAX_BODY));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let http = reqwest::Client::new();
        for _ in 0..20 {
            let r = http
                .post(format!("{base}/post"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(format!("{{\"x\": \"{}\"}}", "x".repeat(MAX_BODY * 4)))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
            assert_eq!(r.headers()[header::CONNECTION], "close");
            let text = http.get(format!("{base}/get")).send().await.unwrap();
            assert_eq!(text.text().await.unwrap(), "ok");
        }
        server.abort();
    }
}
