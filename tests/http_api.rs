//! The HTTP API and the web console on a live devnet: a transfer followed through
//! `/v1/transfers` to "acknowledged", chains, paths, pending packets, clearing on demand with the
//! bearer token, schemathesis property-testing every operation against Ferry's own
//! `/openapi.json` (no 5xx, every response as the document says), and the console in headless
//! Chromium (Playwright) tracking a transfer sent while the page is open.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ferry_tests::{eventually, tool_missing, TestNet, SIGTERM};
use serde_json::Value;

const TOKEN: &str = "api-test-token-5f1c0e9a7b3d";

/// `[telemetry] token_file` (a 0600 file in Ferry's home) and the console on.
fn enable_writes_and_console(home: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let token = home.join("api-token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let cfg = home.join("config.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.contains("console = true\n"), "devnet config changed");
    let text = text.replace(
        "console = true\n",
        "console = true\ntoken_file = \"api-token\"\n",
    );
    std::fs::write(&cfg, text).unwrap();
}

async fn get_json(url: &str) -> (u16, Value) {
    let r = reqwest::get(url).await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// schemathesis from Ferry's tool cache (`make deps` installs it), else from PATH.
fn schemathesis() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from)?;
    let cached = home.join(".cache/ferry/venv/bin/schemathesis");
    if cached.exists() {
        return Some(cached);
    }
    let found = Command::new("schemathesis").arg("--version").output();
    found
        .ok()
        .filter(|o| o.status.success())
        .map(|_| PathBuf::from("schemathesis"))
}

#[tokio::test(flavor = "multi_thread")]
async fn api_follows_a_transfer_and_conforms_to_its_document() {
    let net = TestNet::start("api").await;
    net.ferry_ok(&["--json", "create", "path", "l3-settlement"]);
    enable_writes_and_console(net.home());
    let mut relayer = net.start_relayer("relayer.log");
    assert!(
        relayer.wait_log("relaying path", Duration::from_secs(60)),
        "relayer did not start:\n{}",
        relayer.log_text()
    );
    let base = net.metrics_url().replace("/metrics", "");

    // The console in a real browser: every path shown, a transfer sent while the page is open
    // tracked to "acknowledged", no errors in the page.
    let user = net.address("user");
    run_console(&net, &base, &user).await;

    // A transfer sent without waiting, followed through the API to its end.
    let sent = net.transfer("l3-appchain-1", "700samoleans", &user, &["--key", "user"]);
    let tx = sent["tx_hash"].as_str().expect("tx hash").to_string();
    let url = format!("{base}/v1/transfers/l3-appchain-1/{tx}");
    let done = eventually(
        "the transfer acknowledged",
        Duration::from_secs(90),
        || async {
            let (status, v) = get_json(&url).await;
            assert_eq!(status, 200, "{v}");
            (v["state"] == "acknowledged").then_some(v)
        },
    )
    .await;
    assert_eq!(done["finished"], true, "{done}");
    assert_eq!(done["ack_ok"], true, "{done}");
    assert_eq!(done["path"], "l3-settlement");
    assert_eq!(done["destination_chain"], "settlement-1");
    let steps: Vec<_> = done["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step"].as_str().unwrap(), s["done"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        steps,
        vec![("sent", true), ("received", true), ("acknowledged", true)]
    );
    // An unknown tx of the right form is a 404, said so.
    let (status, v) = get_json(&format!(
        "{base}/v1/transfers/l3-appchain-1/{}",
        "AB".repeat(32)
    ))
    .await;
    assert_eq!(
        (status, v["kind"].as_str()),
        (404, Some("not_found")),
        "{v}"
    );

    // Chains: heights, RPC up, the relayer wallet sampled.
    let chains = eventually("wallets sampled", Duration::from_secs(40), || async {
        let (_, v) = get_json(&format!("{base}/v1/chains")).await;
        let all = v["chains"].as_array()?.clone();
        all.iter()
            .all(|c| c["kind"] != "cosmos" || c["wallet"].is_object())
            .then_some(all)
    })
    .await;
    for id in ["l3-appchain-1", "settlement-1"] {
        let c = chains.iter().find(|c| c["id"] == id).expect(id);
        assert!(c["latest_height"].as_u64().unwrap() > 0, "{c}");
        assert_eq!(c["rpc_up"], true, "{c}");
        let bal: u128 = c["wallet"]["balance"].as_str().unwrap().parse().unwrap();
        assert!(bal > 0, "{c}");
    }

    // Paths: both ends and both directions, nothing left pending.
    let (_, p) = get_json(&format!("{base}/v1/paths/l3-settlement")).await;
    assert_eq!(p["state"], "relaying", "{p}");
    assert_eq!(p["sides"].as_array().unwrap().len(), 2, "{p}");
    assert_eq!(p["lanes"].as_array().unwrap().len(), 2, "{p}");
    let (_, pending) = get_json(&format!("{base}/v1/packets/pending?path=l3-settlement")).await;
    let lanes = pending["lanes"].as_array().unwrap();
    assert_eq!(lanes.len(), 2, "{pending}");

    // Clearing on demand: refused without the token, accepted with it, and it runs.
    let http = reqwest::Client::new();
    let clear = format!("{base}/v1/paths/l3-settlement/clear");
    let r = http.post(&clear).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = http.post(&clear).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 202);
    assert!(relayer.wait_log("clearing asked for over the API", Duration::from_secs(5)));

    // The document is served and schemathesis finds nothing against it.
    let (status, doc) = get_json(&format!("{base}/openapi.json")).await;
    assert_eq!(status, 200);
    assert!(doc["paths"]["/v1/transfers/{chain}/{tx_hash}"].is_object());
    run_schemathesis(&base, &net.devnet.dir);

    // The relayer survived all of it and still relays.
    let again = net.transfer(
        "l3-appchain-1",
        "5samoleans",
        &user,
        &["--key", "user", "--wait"],
    );
    assert_eq!(again["state"], "acknowledged", "{again}");
    let text = relayer.log_text();
    assert!(!text.contains(TOKEN), "the token was logged");
    assert!(relayer.signal(SIGTERM).success());
}

fn run_schemathesis(base: &str, dir: &Path) {
    let Some(st) = schemathesis() else {
        tool_missing("schemathesis not in ~/.cache/ferry/venv nor on PATH (make deps installs it)");
    };
    // Reports, and nothing else, go to the test's own folder (never the tree).
    let out = Command::new(st)
        .current_dir(dir)
        .args([
            "run",
            &format!("{base}/openapi.json"),
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_headers_conformance,response_schema_conformance",
            "--header",
            &format!("Authorization: Bearer {TOKEN}"),
            "--max-examples",
            "30",
            "--workers",
            "1",
            "--request-timeout",
            "20",
            "--generation-database",
            "none",
            "--seed",
            "7",
            "--no-color",
            "--report",
            "junit",
            "--report-dir",
        ])
        .arg(dir.join("schemathesis"))
        .output()
        .expect("run schemathesis");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(dir.join("schemathesis.log"), &text).unwrap();
    assert!(out.status.success(), "schemathesis found problems:\n{text}");
    // It really tested: every operation in the document was exercised.
    assert!(text.contains("/v1/transfers/{chain}/{tx_hash}"), "{text}");
}

/// Where screenshots go: beside `make test`'s log in the target folder, outside the tree.
fn artifacts_dir() -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join("ferry-test-artifacts/console");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn run_console(net: &TestNet, base: &str, user: &str) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let node_modules =
        PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/ferry/node/node_modules");
    if !node_modules.join("playwright-core").exists() {
        tool_missing("playwright-core not in ~/.cache/ferry/node (make deps installs it)");
    }
    if !Path::new("/usr/bin/chromium").exists() {
        tool_missing("Debian's chromium (/usr/bin/chromium) not installed (make deps installs it)");
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("console/track.cjs");
    let shots = artifacts_dir();
    // Every configured path must be shown.
    let cfg = ferry::config::load(&net.home().join("config.toml"))
        .unwrap()
        .0;
    let paths: Vec<String> = cfg.paths.iter().map(|p| p.name.clone()).collect();
    let mut node = tokio::process::Command::new("node")
        .env("NODE_PATH", &node_modules)
        .arg(script)
        .arg(format!("{base}/"))
        .arg("l3-appchain-1")
        .arg(&shots)
        .args(&paths)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run node");
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let mut events = Vec::new();
    let mut next = async || -> Value {
        let line = tokio::time::timeout(Duration::from_secs(150), lines.next_line())
            .await
            .expect("the console script went quiet")
            .unwrap()
            .unwrap_or_else(|| panic!("the console script ended early"));
        serde_json::from_str(&line).unwrap_or(Value::String(line))
    };
    let ready = next().await;
    assert_eq!(ready["event"], "ready", "{ready}");
    assert_eq!(ready["paths_shown"], paths.len(), "{ready}");
    events.push(ready);

    let sent = net.transfer("l3-appchain-1", "300samoleans", user, &["--key", "user"]);
    let tx = sent["tx_hash"].as_str().unwrap().to_string();
    let mut stdin = node.stdin.take().unwrap();
    stdin.write_all(format!("{tx}\n").as_bytes()).await.unwrap();
    drop(stdin);
    loop {
        let e = next().await;
        let event = e["event"].as_str().unwrap_or("").to_string();
        events.push(e.clone());
        assert_ne!(event, "failed", "console: {e}\nall: {events:?}");
        if event == "acknowledged" {
            assert_eq!(e["errors"], serde_json::json!([]), "{e}");
            assert_eq!(
                e["steps_done"],
                serde_json::json!(["sent", "received", "acknowledged"]),
                "{e}"
            );
            break;
        }
    }
    let status = node.wait().await.unwrap();
    assert!(status.success(), "console script: {events:?}");
    for shot in ["console-loaded.png", "console-acknowledged.png"] {
        let len = std::fs::metadata(shots.join(shot)).unwrap().len();
        assert!(len > 1000, "{shot} is {len} bytes");
    }
    eprintln!("console screenshots in {}", shots.display());
}
