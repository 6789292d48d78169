//! A witness node that disagrees: a second `simd` process for one devnet chain, started from a copy
//! of that chain's `config/` (same genesis, same `priv_validator_key.json`) with a fresh `data/`,
//! its own free ports and no peers. The one validator then signs two different blocks at every
//! height from 2 on (different block times, later different app hashes): real double-signing
//! across two networks, which a light client can prove to a counterparty.
//!
//! Why a fresh `data/` and not a copy of the running node's: copying the store of a running node is
//! unsafe, and stopping the devnet node to copy it would change its pid under everyone using it.
//! Starting from genesis, the fork's heights restart at 1, so it runs behind the real chain by the
//! time it took to start; Ferry compares the two chains at the lower of their heights, so a fork
//! started early (before the IBC client is created) conflicts with the real chain at every height
//! above the client's trusted height once it gets there. Its block times are later than the real
//! chain's at the same height, so both headers also verify from the client's trusted state.
//!
//! The fork's double-sign protection starts empty (`priv_validator_state.json` reset to height 0):
//! that is the point. Never do this with a real validator key.

use std::path::Path;

use super::{io, node, DevnetError, DevnetState, NodeInfo};

/// CometBFT's empty signing state: nothing signed yet.
const EMPTY_SIGN_STATE: &str = "{\n  \"height\": \"0\",\n  \"round\": 0,\n  \"step\": 0\n}\n";

/// Start a forked node of devnet chain `chain` with its home under `dir`, wait until it has made
/// a block, and return it (its pid is recorded in `dir/<chain>-fork.pid`). Stop it with
/// [`stop_fork`].
pub async fn start_fork(
    state: &DevnetState,
    chain: &str,
    dir: &Path,
) -> Result<NodeInfo, DevnetError> {
    let main = state
        .node(chain)
        .ok_or_else(|| DevnetError::Other(format!("no devnet chain `{chain}`")))?;
    let home = dir.join(format!("{chain}-fork"));
    if home.exists() {
        std::fs::remove_dir_all(&home).map_err(io(&home))?;
    }
    copy_dir(&main.home.join("config"), &home.join("config"))?;
    // No address book from the real node: the fork must never find it.
    let _ = std::fs::remove_file(home.join("config/addrbook.json"));
    let data = home.join("data");
    std::fs::create_dir_all(&data).map_err(io(&data))?;
    let sign_state = data.join("priv_validator_state.json");
    std::fs::write(&sign_state, EMPTY_SIGN_STATE).map_err(io(&sign_state))?;

    let ports = node::free_ports(3)?;
    let (rpc, grpc, p2p) = (ports[0], ports[1], ports[2]);
    let log = dir.join(format!("{chain}-fork.log"));
    let no_peers = [
        "--p2p.persistent_peers",
        "",
        "--p2p.seeds",
        "",
        "--p2p.pex=false",
    ];
    let mut child = node::spawn_simd(&state.simd, &home, &log, (rpc, grpc, p2p), &no_peers)?;
    let pid = child.id();
    let pid_file = dir.join(format!("{chain}-fork.pid"));
    if let Err(e) = std::fs::write(&pid_file, pid.to_string()) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(io(&pid_file)(e));
    }
    let info = NodeInfo {
        chain_id: chain.into(),
        home,
        rpc: format!("http://127.0.0.1:{rpc}"),
        grpc: format!("127.0.0.1:{grpc}"),
        p2p: format!("tcp://127.0.0.1:{p2p}"),
        pid,
        log,
    };
    // Right after spawn the child may not have exec'd simd yet (its cmdline is still ours), and
    // `wait_ready` gives up on a node that does not look alive: wait for the exec first.
    let exec_deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !node::alive(pid, &info.home) && std::time::Instant::now() < exec_deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    if let Err(e) = node::wait_ready(&info, 90).await {
        // Our own child: stop it through its handle, whatever /proc says.
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }
    Ok(info)
}

/// Stop a fork started by [`start_fork`], by its pid (checked against its home first).
pub fn stop_fork(fork: &NodeInfo) {
    if node::alive(fork.pid, &fork.home) {
        node::stop(fork.pid, &fork.home);
    }
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), DevnetError> {
    std::fs::create_dir_all(to).map_err(io(to))?;
    for entry in std::fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let target = to.join(entry.file_name());
        if entry.file_type().map_err(io(from))?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target).map_err(io(&target))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_sign_state_is_height_zero() {
        let v: serde_json::Value = serde_json::from_str(EMPTY_SIGN_STATE).unwrap();
        assert_eq!(v["height"], "0");
        assert_eq!(v["round"], 0);
    }

    #[test]
    fn copies_nested_folders() {
        let base = std::env::temp_dir().join(format!("ferry-fork-copy-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("a/b")).unwrap();
        std::fs::write(base.join("a/b/f.json"), "x").unwrap();
        copy_dir(&base.join("a"), &base.join("c")).unwrap();
        assert_eq!(
            std::fs::read_to_string(base.join("c/b/f.json")).unwrap(),
            "x"
        );
        std::fs::remove_dir_all(&base).unwrap();
    }
}
