//! Three Ferry instances sharing one real PostgreSQL on the devnet's Cosmos and EVM paths: each
//! lane has one owner at a time and the lanes are spread; Cosmos and EVM transfers all arrive. The
//! owner killed (SIGKILL) in mid-batch → another takes over within 15 s, every packet
//! acknowledged, none delivered twice, at most one failed tx; an owner frozen (SIGSTOP) past its
//! lease → the lane moves, and once resumed the old owner submits nothing under it; PostgreSQL
//! restarted in mid-run → submission pauses and resumes.

use std::time::{Duration, Instant};

use ferry_tests::instances::{
    failed_txs, metrics, owner_of, owners, recv_msgs, shared_config, start_instance, Instance,
};
use ferry_tests::postgres::Postgres;
use ferry_tests::{eventually, metric_sum, TestNet, SIGCONT, SIGKILL, SIGSTOP};

/// The lane that receives packets on settlement-1 (l3-appchain-1 → settlement-1).
const TO_HUB: &str = "l3-settlement/settlement-1";

#[tokio::test(flavor = "multi_thread")]
async fn three_instances_share_the_path_through_postgres() {
    let net = TestNet::start("shared-store").await;
    net.set_max_msgs_per_tx(10);
    net.ferry_ok(&["create", "path", "l3-settlement"]);
    let mut pg = Postgres::start("shared-store");
    let hub = net.chain("settlement-1");
    let l3 = net.chain("l3-appchain-1");
    let user = net.address("user");

    // 1. Three instances on the devnet's two paths (Cosmos, EVM: four lanes): every lane gets
    //    one owner, and no instance more than its share (two).
    let config = shared_config(&net, &pg);
    let mut instances: Vec<Instance> = (1..=3).map(|n| start_instance(&net, &config, n)).collect();
    let spread = eventually(
        "every lane owned, at most two per instance",
        Duration::from_secs(60),
        || {
            let o = owners(&net);
            let most = o
                .iter()
                .filter_map(|(_, w)| w.clone())
                .map(|w| o.iter().filter(|(_, x)| x.as_ref() == Some(&w)).count())
                .max()
                .unwrap_or(0);
            let ok = o.len() == 4 && o.iter().all(|(_, w)| w.is_some()) && most <= 2;
            async move { ok.then_some(o) }
        },
    )
    .await;
    println!("lanes: {spread:?}");

    // 2. 300 transfers; the owner of the lane to settlement-1 is killed once it has relayed a
    //    batch. Another instance takes the lane over within 15 s.
    const N: usize = 300;
    net.transfer(
        "l3-appchain-1",
        "1samoleans",
        &user,
        &["--key", "user", "--count", &N.to_string()],
    );
    // And on the EVM path, whose lanes are leased the same way.
    let token = net.evm_node("evm-l3").token;
    let evm_user = format!("{:?}", net.evm_address("user"));
    let evm_sends: Vec<String> = (0..3)
        .map(|_| {
            let v = net.evm_transfer(&config, "evm-l3", "5", token, &evm_user, &[]);
            v["tx_hash"].as_str().unwrap().to_string()
        })
        .collect();
    let victim = owner_of(&net, TO_HUB).expect("lane owned");
    let i = instances.iter().position(|x| x.name == victim).unwrap();
    assert!(
        instances[i]
            .relayer
            .wait_log("relayed batch to settlement-1", Duration::from_secs(60)),
        "{victim} relayed nothing:\n{}",
        instances[i].relayer.log_text()
    );
    let killed = Instant::now();
    instances[i].relayer.signal(SIGKILL);
    let dead = instances.remove(i);
    let heir = eventually(
        "another instance to own the lane",
        Duration::from_secs(30),
        || {
            let o = owner_of(&net, TO_HUB).filter(|o| *o != dead.name);
            async move { o }
        },
    )
    .await;
    let takeover = killed.elapsed();
    println!("takeover by {heir} after {:.1} s", takeover.as_secs_f64());
    assert!(
        takeover <= Duration::from_secs(15),
        "takeover took {takeover:?}"
    );
    ferry_tests::wait_no_commitments(&l3, Duration::from_secs(180)).await;
    let config_s = config.to_str().unwrap();
    for hash in &evm_sends {
        let out = net.ferry_ok(&[
            "--json", "--config", config_s, "query", "transfer", "evm-l3", hash, "--wait",
        ]);
        let v = ferry_tests::last_json(&out);
        assert_eq!(v["state"], "acknowledged", "EVM transfer {hash}: {v}");
    }
    assert_eq!(
        recv_msgs(&hub).await,
        N,
        "each packet received once, by one instance"
    );
    let failed_after_kill = failed_txs(&hub).await + failed_txs(&l3).await;
    println!("failed txs after the kill: {failed_after_kill}");
    assert!(
        failed_after_kill <= 1,
        "{failed_after_kill} failed txs for one kill"
    );

    // 3. The owner of the lane to settlement-1 frozen (idle, everything acknowledged) for 30 s,
    //    longer than its lease, while transfers come: the lane moves; once resumed, the frozen
    //    instance submits nothing more.
    let frozen_name = owner_of(&net, TO_HUB).expect("lane owned");
    let f = instances
        .iter()
        .position(|x| x.name == frozen_name)
        .unwrap();
    let frozen_pid = instances[f].relayer.pid();
    let frozen_metrics = instances[f].metrics.clone();
    let submitted = |m: &str| metric_sum(m, "ferry_txs_submitted_total", &[]);
    let before_freeze = submitted(&metrics(&frozen_metrics).await);
    ferry_tests::signal_pid(frozen_pid, SIGSTOP);
    let frozen_at = Instant::now();
    net.transfer(
        "l3-appchain-1",
        "1samoleans",
        &user,
        &["--key", "user", "--count", "40"],
    );
    let other = eventually(
        "the lane to move off the frozen instance",
        Duration::from_secs(30),
        || {
            let o = owner_of(&net, TO_HUB).filter(|o| *o != frozen_name);
            async move { o }
        },
    )
    .await;
    ferry_tests::wait_no_commitments(&l3, Duration::from_secs(120)).await;
    tokio::time::sleep(Duration::from_secs(30).saturating_sub(frozen_at.elapsed())).await;
    let resumed_at = instances[f].relayer.log_text().len();
    ferry_tests::signal_pid(frozen_pid, SIGCONT);
    // New transfers while it runs again: it finds its leases gone. It may take lanes again when
    // the lanes are spread anew (a new lease, a new epoch), but it submits nothing under the old.
    net.transfer(
        "l3-appchain-1",
        "1samoleans",
        &user,
        &["--key", "user", "--count", "20"],
    );
    ferry_tests::wait_no_commitments(&l3, Duration::from_secs(120)).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let log = instances[f].relayer.log_text();
    let after = &log[resumed_at..];
    assert!(
        after.contains("lease lost to another instance") || after.contains("lease no longer held"),
        "{frozen_name} did not notice it lost its lease:\n{after}"
    );
    let mut retaken = Vec::new();
    for line in after.lines() {
        if line.contains("lease taken") {
            retaken.push(line.to_string());
        }
        if let Some(i) = line.find("relayed batch to ") {
            let rest = &line[i + "relayed batch to ".len()..];
            let dst = rest.split_whitespace().next().unwrap_or(rest);
            assert!(
                retaken.iter().any(|t| t.contains(&format!("/{dst} "))),
                "{frozen_name} relayed to {dst} after it was resumed without taking the lane again:\n{after}"
            );
        }
    }
    let m1 = metrics(&frozen_metrics).await;
    println!(
        "{frozen_name} after resuming: lanes taken again {}, txs submitted {} → {}, broadcasts fenced {}",
        retaken.len(),
        before_freeze,
        submitted(&m1),
        metric_sum(&m1, "ferry_broadcasts_fenced_total", &[])
    );
    println!("lane moved from {frozen_name} to {other}");
    assert_eq!(recv_msgs(&hub).await, N + 60, "each packet received once");

    // 4. PostgreSQL restarted while transfers are waiting: nothing is submitted while it is down
    //    (no lease can be checked), everything after it is back.
    pg.stop();
    let before = recv_msgs(&hub).await;
    net.transfer(
        "l3-appchain-1",
        "1samoleans",
        &user,
        &["--key", "user", "--count", "30"],
    );
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(
        recv_msgs(&hub).await,
        before,
        "relayed without a lease store"
    );
    pg.restart();
    ferry_tests::wait_no_commitments(&l3, Duration::from_secs(120)).await;
    assert_eq!(recv_msgs(&hub).await, N + 90, "each packet received once");
    for x in &instances {
        let m = metrics(&x.metrics).await;
        println!(
            "{}: lane events {}, fenced {}",
            x.name,
            metric_sum(&m, "ferry_lease_events_total", &[]),
            metric_sum(&m, "ferry_broadcasts_fenced_total", &[])
        );
    }
    // Each chain's scanned height is shared in PostgreSQL: recent, for the path's two chains.
    let scanned = pg.psql(
        "ferry",
        "SELECT chain, height FROM ferry_scanned WHERE path = 'l3-settlement' ORDER BY chain",
    );
    let marks: Vec<(String, u64)> = scanned
        .lines()
        .map(|l| {
            let (c, h) = l.split_once('|').expect("chain|height");
            (c.to_string(), h.parse().expect("a height"))
        })
        .collect();
    assert_eq!(
        marks.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>(),
        ["l3-appchain-1", "settlement-1"],
        "{scanned}"
    );
    for (chain, h) in &marks {
        let latest = ferry::chain::Heights::latest(&*net.chain(chain))
            .await
            .unwrap()
            .0
            .revision_height;
        assert!(
            *h > 0 && latest.saturating_sub(*h) < 100,
            "{chain}: scanned {h}, latest {latest}"
        );
    }
    let total_failed = failed_txs(&hub).await + failed_txs(&l3).await;
    println!("failed txs in the whole run: {total_failed}");
    assert!(
        total_failed <= 2,
        "{total_failed} failed txs (one kill, one freeze)"
    );
    drop(dead);
}
