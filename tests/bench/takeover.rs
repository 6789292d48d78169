//! Takeover benchmark: three release `ferry start` instances share a PostgreSQL on the devnet; in
//! each of three rounds 300 transfers go from the L3 to the hub, and the owner of the lane to the
//! hub is killed (SIGKILL) once it has relayed a batch. For each kill: seconds until another
//! instance owns the lane (`ferry status`, polled every 200 ms), seconds until every packet of the
//! round is acknowledged, failed txs on both chains, and packets received twice. A fresh instance
//! replaces the dead one before the next round. Writes JSON (first argument; default
//! bench-results/takeover.json). Run with `make bench-takeover`.

use std::time::{Duration, Instant};

use ferry_tests::bench::{percentile, write_result};
use ferry_tests::instances::{failed_txs, owner_of, recv_msgs, shared_config, start_instance};
use ferry_tests::postgres::Postgres;
use ferry_tests::{eventually, TestNet, SIGKILL, SIGTERM};

const N: usize = 300;
const ROUNDS: usize = 3;
const TO_HUB: &str = "l3-settlement/settlement-1";

#[tokio::main]
async fn main() {
    let out_path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "bench-results/takeover.json".into());
    let net = TestNet::start("takeover").await;
    net.set_max_msgs_per_tx(10);
    net.ferry_ok(&["create", "path", "l3-settlement"]);
    let pg = Postgres::start("takeover");
    let config = shared_config(&net, &pg);
    let (hub, l3) = (net.chain("settlement-1"), net.chain("l3-appchain-1"));
    let user = net.address("user");
    let mut instances: Vec<_> = (1..=3).map(|n| start_instance(&net, &config, n)).collect();
    let mut rounds = Vec::new();
    // A fresh instance (ferry-4, ferry-5, ...) replaces each one killed.
    for (round, next) in (1..=ROUNDS).zip(4..) {
        let owner = eventually("the lane to the hub owned", Duration::from_secs(60), || {
            let o = owner_of(&net, TO_HUB);
            async move { o }
        })
        .await;
        let failed0 = failed_txs(&hub).await + failed_txs(&l3).await;
        let recv0 = recv_msgs(&hub).await;
        let i = instances.iter().position(|x| x.name == owner).unwrap();
        let log_from = instances[i].relayer.log_text().len();
        let t0 = Instant::now();
        net.transfer(
            "l3-appchain-1",
            "1samoleans",
            &user,
            &["--key", "user", "--count", &N.to_string()],
        );
        let relayed = eventually("a batch relayed", Duration::from_secs(60), || {
            let seen = instances[i].relayer.log_text()[log_from..]
                .contains("relayed batch to settlement-1");
            async move { seen.then_some(()) }
        });
        relayed.await;
        instances[i].relayer.signal(SIGKILL);
        let killed = Instant::now();
        let dead = instances.remove(i);
        let heir = loop {
            if let Some(o) = owner_of(&net, TO_HUB).filter(|o| *o != dead.name) {
                break o;
            }
            assert!(killed.elapsed() < Duration::from_secs(60), "no takeover");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let takeover = killed.elapsed().as_secs_f64();
        ferry_tests::wait_no_commitments(&l3, Duration::from_secs(300)).await;
        let all_acked = t0.elapsed().as_secs_f64();
        let failed = failed_txs(&hub).await + failed_txs(&l3).await - failed0;
        let received = recv_msgs(&hub).await - recv0;
        eprintln!(
            "round {round}: {} killed, {heir} took over after {takeover:.1} s; all acknowledged after {all_acked:.1} s; {failed} failed txs; {} received twice",
            dead.name,
            received.saturating_sub(N)
        );
        rounds.push(serde_json::json!({
            "killed": dead.name,
            "heir": heir,
            "takeover_seconds": takeover,
            "seconds_until_all_acknowledged": all_acked,
            "failed_txs": failed,
            "packets_received": received,
            "packets_received_twice": received.saturating_sub(N),
        }));
        instances.push(start_instance(&net, &config, next));
    }
    let mut takeovers: Vec<f64> = rounds
        .iter()
        .map(|r| r["takeover_seconds"].as_f64().unwrap())
        .collect();
    takeovers.sort_by(f64::total_cmp);
    let result = serde_json::json!({
        "transfers_per_round": N,
        "instances": 3,
        "lease_ttl_seconds": 10,
        "takeover_seconds": {
            "median": percentile(&takeovers, 0.5),
            "min": takeovers[0],
            "max": takeovers[takeovers.len() - 1],
        },
        "failed_txs_per_kill": rounds.iter().map(|r| r["failed_txs"].as_u64().unwrap()).collect::<Vec<_>>(),
        "packets_received_twice": rounds.iter().map(|r| r["packets_received_twice"].as_u64().unwrap()).sum::<u64>(),
        "rounds": rounds,
        "machine": { "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0) },
    });
    write_result(&out_path, &result);
    for mut x in instances {
        x.relayer.signal(SIGTERM);
    }
}
