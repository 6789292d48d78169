//! Several `ferry start` instances sharing one PostgreSQL store on a devnet: their config, how to
//! start them, who owns which lane (`ferry status`), and what the chains say happened.

use tendermint_rpc::query::Query;

use crate::postgres::Postgres;
use crate::{Relayer, TestNet};

/// One `ferry start` of several sharing a store: its name (`[store] instance`), its metrics URL.
pub struct Instance {
    pub name: String,
    pub metrics: String,
    pub relayer: Relayer,
}

/// The devnet's config with `[store] url` pointing at `pg`: what every instance runs with.
pub fn shared_config(net: &TestNet, pg: &Postgres) -> std::path::PathBuf {
    let path = net.home().join("shared.toml");
    let text = std::fs::read_to_string(net.home().join("config.toml")).unwrap();
    let url = format!("url = \"{}\"", pg.url());
    let text = match text.contains("\n[store]\n") {
        true => text.replace("\n[store]\n", &format!("\n[store]\n{url}\n")),
        false => format!("{text}\n[store]\n{url}\n"),
    };
    std::fs::write(&path, text).unwrap();
    path
}

/// `ferry start` as instance `ferry-N` with `config`, its metrics on a free port.
pub fn start_instance(net: &TestNet, config: &std::path::Path, n: usize) -> Instance {
    let name = format!("ferry-{n}");
    let port = ferry_devnet::free_port();
    let listen = format!("127.0.0.1:{port}");
    let relayer = net.start_relayer_env(
        &format!("{name}.log"),
        config,
        &[
            ("FERRY_STORE__INSTANCE", &name),
            ("FERRY_TELEMETRY__LISTEN", &listen),
        ],
    );
    Instance {
        name,
        metrics: format!("http://{listen}/metrics"),
        relayer,
    }
}

/// `ferry --json status`: lane → live owner (an owner whose lease has time left).
pub fn owners(net: &TestNet) -> Vec<(String, Option<String>)> {
    let config = net.home().join("shared.toml");
    let v = crate::last_json(&net.ferry_ok(&[
        "--config",
        config.to_str().unwrap(),
        "--json",
        "status",
    ]));
    assert_eq!(v["shared"], true, "{v}");
    v["lanes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let live = l["expires_in_ms"].as_i64().is_some_and(|ms| ms > 0);
            let owner = l["owner"].as_str().filter(|_| live).map(str::to_string);
            (l["lane"].as_str().unwrap().to_string(), owner)
        })
        .collect()
}

pub fn owner_of(net: &TestNet, lane: &str) -> Option<String> {
    owners(net).into_iter().find(|(l, _)| l == lane)?.1
}

/// Txs on `chain` that failed (any signer; users send only from l3-appchain-1, and their txs
/// succeed).
pub async fn failed_txs(chain: &ferry::chain::cosmos::CosmosChain) -> usize {
    crate::search_txs(chain, Query::gt("tx.height", 0u64))
        .await
        .iter()
        .filter(|t| t.tx_result.code.is_err())
        .count()
}

/// How many `MsgRecvPacket` committed txs on `chain` carried.
pub async fn recv_msgs(chain: &ferry::chain::cosmos::CosmosChain) -> usize {
    crate::count_msgs(chain, "/ibc.core.channel.v1.MsgRecvPacket").await
}

pub async fn metrics(url: &str) -> String {
    reqwest::get(url).await.unwrap().text().await.unwrap()
}
