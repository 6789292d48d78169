//! The server over a real socket: probes, errors, auth on writes, the connection bound, and the
//! OpenAPI document covering every route.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::telemetry::live;

const TOKEN: &str = "test-token-0123456789abcdef";

fn token() -> Token {
    let dir = std::env::temp_dir().join(format!("ferry-api-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("t");
    std::fs::write(&p, TOKEN).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    let t = Token::load(&p).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    t
}

fn state(token: Option<Token>) -> Arc<ApiState> {
    let ready = Readiness::default();
    ready.set(true);
    Arc::new(ApiState {
        ready,
        chains: BTreeMap::from([
            ("api-a".to_string(), "cosmos"),
            ("api-e".to_string(), "evm"),
        ]),
        open: OnceLock::new(),
        leases: OnceLock::new(),
        token,
        console: false,
    })
}

async fn start(state: Arc<ApiState>, max: usize) -> String {
    let (addr, _task) = serve("127.0.0.1:0".parse().unwrap(), max, state)
        .await
        .unwrap();
    format!("http://{addr}")
}

async fn get(base: &str, path: &str) -> (u16, String) {
    let r = reqwest::get(format!("{base}{path}")).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn probes_version_chains_and_errors() {
    let base = start(state(None), 8).await;
    assert_eq!(get(&base, "/healthz").await, (200, "ok\n".into()));
    assert_eq!(get(&base, "/readyz").await.0, 200);
    let (status, body) = get(&base, "/metrics").await;
    assert!(status == 200 && body.contains("ferry_build_info"), "{body}");
    let v: Value = serde_json::from_str(&get(&base, "/v1/version").await.1).unwrap();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    let v: Value = serde_json::from_str(&get(&base, "/v1/chains").await.1).unwrap();
    let ids: Vec<_> = v["chains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].clone())
        .collect();
    assert_eq!(ids, vec!["api-a", "api-e"]);

    // Errors are JSON with a kind, never a bare status.
    let (status, body) = get(&base, "/v1/nope").await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((status, v["kind"].as_str()), (404, Some("not_found")));
    let (status, body) = get(&base, "/v1/transfers/unknown-chain/00").await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = get(&base, "/v1/transfers/api-e/0x1234").await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (status, v["kind"].as_str()),
        (400, Some("bad_request")),
        "{body}"
    );
    // A well-formed hash before the chains are open: 503, said so.
    let (status, body) = get(&base, &format!("/v1/transfers/api-a/{}", "ab".repeat(32))).await;
    assert_eq!(status, 503, "{body}");
    let (status, _) = get(&base, "/v1/paths/no-such-path").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn writes_need_the_token_and_clearing_wakes_the_path() {
    let http = reqwest::Client::new();
    let post = |base: String, path: &'static str, auth: Option<&'static str>| {
        let http = http.clone();
        async move {
            let mut r = http.post(format!("{base}{path}"));
            if let Some(a) = auth {
                r = r.header("authorization", a);
            }
            let r = r.send().await.unwrap();
            let www = r.headers().get("www-authenticate").is_some();
            (r.status().as_u16(), www)
        }
    };
    // No token file: writes are off.
    let off = start(state(None), 8).await;
    assert_eq!(post(off, "/v1/paths/api-p/clear", None).await, (403, false));

    let base = start(state(Some(token())), 8).await;
    assert_eq!(
        post(base.clone(), "/v1/paths/api-p/clear", None).await,
        (401, true)
    );
    let wrong = Some("Bearer test-token-0123456789abcdeX");
    assert_eq!(
        post(base.clone(), "/v1/paths/api-p/clear", wrong).await,
        (401, true)
    );
    let right = Some("Bearer test-token-0123456789abcdef");
    assert_eq!(
        post(base.clone(), "/v1/paths/api-p/clear", right).await.0,
        404
    );

    live().path_waiting("api-p", "api-a", "api-e", Some("no open channel".into()));
    assert_eq!(
        post(base.clone(), "/v1/paths/api-p/clear", right).await.0,
        409
    );
    let wake = Arc::new(tokio::sync::Notify::new());
    live().set_clear("api-p", wake.clone());
    live().path_relaying("api-p", None);
    assert_eq!(
        post(base.clone(), "/v1/paths/api-p/clear", right).await.0,
        202
    );
    tokio::time::timeout(Duration::from_secs(1), wake.notified())
        .await
        .expect("the clearing task was woken");

    let v: Value = serde_json::from_str(&get(&base, "/v1/paths/api-p").await.1).unwrap();
    assert_eq!(v["state"], "relaying", "{v}");
}

#[tokio::test]
async fn connections_beyond_the_bound_wait_until_one_closes() {
    let base = start(state(None), 2).await;
    let addr = base.trim_start_matches("http://").to_string();
    // Two idle connections take both permits.
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let target = addr.clone();
    let ask = || async move {
        let mut s = tokio::net::TcpStream::connect(&target).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.map(|_| out)
    };
    let third = tokio::spawn(ask());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !third.is_finished(),
        "a third connection was served while two were held"
    );
    drop(held.pop());
    let out = tokio::time::timeout(Duration::from_secs(5), third)
        .await
        .expect("served once a connection closed")
        .unwrap()
        .unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
}

#[test]
fn the_document_names_every_route_and_the_bearer_scheme() {
    let doc = serde_json::to_value(openapi()).unwrap();
    let paths: Vec<_> = doc["paths"].as_object().unwrap().keys().cloned().collect();
    for p in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/v1/version",
        "/v1/chains",
        "/v1/paths",
        "/v1/paths/{path}",
        "/v1/paths/{path}/clear",
        "/v1/packets/pending",
        "/v1/quarantine",
        "/v1/transfers/{chain}/{tx_hash}",
    ] {
        assert!(paths.contains(&p.to_string()), "{p} missing from {paths:?}");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // This instance's document lists its chains where a chain is named.
    let ids = ["api-a".to_string(), "api-e".to_string()];
    let doc = serde_json::to_value(openapi_for(ids.iter())).unwrap();
    let params = &doc["paths"]["/v1/transfers/{chain}/{tx_hash}"]["get"]["parameters"];
    assert_eq!(params[0]["name"], "chain");
    assert_eq!(
        params[0]["schema"]["enum"],
        serde_json::json!(["api-a", "api-e"])
    );
    assert!(params[1]["schema"]["pattern"].is_string(), "{params}");
}

#[tokio::test]
async fn the_console_is_served_only_when_on_with_a_strict_policy() {
    let off = start(state(None), 8).await;
    assert_eq!(get(&off, "/").await.0, 404);
    let mut on = state(None);
    Arc::get_mut(&mut on).unwrap().console = true;
    let base = start(on, 8).await;
    for (path, ctype) in [
        ("/", "text/html"),
        ("/console.js", "text/javascript"),
        ("/console.css", "text/css"),
        ("/favicon.svg", "image/svg+xml"),
    ] {
        let r = reqwest::get(format!("{base}{path}")).await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
        let h = r.headers();
        assert!(
            h["content-type"].to_str().unwrap().starts_with(ctype),
            "{path}"
        );
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
    }
    // The page loads nothing from elsewhere.
    let page = get(&base, "/").await.1;
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "{page}"
    );
}
