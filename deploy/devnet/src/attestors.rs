//! The devnet's attestor committee: three `ferry attestor` processes, each with its own home and
//! its one key, attesting both anvil chains. The relayer's home holds none of their keys.
//!
//! The devnet has one node per anvil chain, so each attestor's "two endpoints" are the same node
//! under two names (`127.0.0.1` and `localhost`): enough to exercise the agreement check (a proxy in
//! front of one of them is how the tests make an endpoint lie), not independence. Production
//! attestors list nodes of their own.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::evm::{EvmNode, ATTESTORS};
use super::{io, mnemonic, node, DevnetError};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AttestorNode {
    pub name: String,
    pub home: PathBuf,
    pub url: String,
    pub pid: u32,
    pub log: PathBuf,
    pub address: String,
}

/// The `ferry` binary that runs the attestors: `$FERRY_BIN`, else this program when it is `ferry`,
/// else `ferry` beside it or one folder up (a test binary in `target/debug/deps`).
pub fn ferry_bin() -> Result<PathBuf, DevnetError> {
    if let Some(p) = std::env::var_os("FERRY_BIN") {
        return Ok(PathBuf::from(p));
    }
    let me = std::env::current_exe().map_err(|e| DevnetError::Other(e.to_string()))?;
    if me.file_name().is_some_and(|n| n == "ferry") {
        return Ok(me);
    }
    let dir = me.parent().map(Path::to_path_buf).unwrap_or_default();
    for cand in [dir.join("ferry"), dir.join("../ferry")] {
        if cand.is_file() {
            return Ok(cand);
        }
    }
    Err(DevnetError::Other(format!(
        "the `ferry` binary (to run the attestors) is not beside {}; build it or set FERRY_BIN",
        me.display()
    )))
}

/// One attestor's config: both anvil chains, each from two endpoint names, final at the same depth
/// the relayer uses.
pub fn attestor_toml(key: &str, port: u16, chains: &[EvmNode]) -> String {
    let mut out = format!(
        "# Written by `ferry devnet up`.\nkey = \"{key}\"\nlisten = \"127.0.0.1:{port}\"\n"
    );
    for n in chains {
        out.push_str(&format!(
            "\n[[chains]]\nname = \"{name}\"\nkind = \"evm\"\nevm_chain_id = {id}\n\
             rpc = [\"{a}\", \"{b}\"]\nfinality = {{ depth = 1 }}\ncheckpoint = \"{cp}\"\n",
            name = n.chain_id,
            id = n.evm_chain_id,
            a = n.rpc,
            b = n.rpc.replacen("127.0.0.1", "localhost", 1),
            cp = n.checkpoint,
        ));
        // The EVM end of the cosmos–evm path is also attested in the ibc-go format, for the
        // appchain's client of it (one chain per attestor in that format).
        if n.v2_light_client.is_some() {
            out.push_str(&format!(
                "ibc_attestations = true\nrouter = \"{:?}\"\n",
                n.router
            ));
        }
    }
    out
}

/// A Cosmos committee member's config: the IBC v2 appchain, read from two endpoint names,
/// verified from `checkpoint` ("HEIGHT:HASH").
pub fn cosmos_attestor_toml(
    key: &str,
    port: u16,
    chain_id: &str,
    rpc: &str,
    checkpoint: &str,
) -> String {
    format!(
        "# Written by `ferry devnet up`.\nkey = \"{key}\"\nlisten = \"127.0.0.1:{port}\"\n\n\
         [[chains]]\nname = \"{chain_id}\"\nkind = \"cosmos\"\nchain_id = \"{chain_id}\"\n\
         rpc = [\"{rpc}\", \"{b}\"]\ncheckpoint = \"{checkpoint}\"\nibc_attestations = true\n",
        b = rpc.replacen("127.0.0.1", "localhost", 1),
    )
}

/// Start the EVM committee and wait until each answers `/healthz`.
pub async fn up(dir: &Path, chains: &[EvmNode]) -> Result<Vec<AttestorNode>, DevnetError> {
    start(dir, &ATTESTORS, |name, port| {
        attestor_toml(name, port, chains)
    })
    .await
}

/// Start the IBC v2 appchain's committee.
pub async fn up_cosmos(
    dir: &Path,
    chain_id: &str,
    rpc: &str,
    checkpoint: &str,
) -> Result<Vec<AttestorNode>, DevnetError> {
    start(dir, &super::evm::COSMOS_ATTESTORS, |name, port| {
        cosmos_attestor_toml(name, port, chain_id, rpc, checkpoint)
    })
    .await
}

/// Tries of an attestor whose port was taken between choosing it and binding it.
const PORT_TRIES: usize = 3;

/// One `ferry attestor` per name, each in its own home with its own key and `toml_of` config.
async fn start(
    dir: &Path,
    names: &[&str],
    toml_of: impl Fn(&str, u16) -> String,
) -> Result<Vec<AttestorNode>, DevnetError> {
    let bin = ferry_bin()?;
    let ports = node::free_ports(names.len())?;
    let mut out = Vec::new();
    for (name, port) in names.iter().zip(ports) {
        out.push(spawn(&bin, dir, name, &toml_of(name, port), port)?);
    }
    for i in 0..out.len() {
        let mut tries = 1;
        loop {
            match wait_healthy(&out[i]).await {
                Ok(()) => break,
                // A free port is only free until someone binds it: choose another.
                Err(DevnetError::Exited { tail, .. })
                    if tries < PORT_TRIES && tail.contains("Address already in use") =>
                {
                    tries += 1;
                    let port = node::free_ports(1)?[0];
                    let name = out[i].name.clone();
                    out[i] = spawn(&bin, dir, &name, &toml_of(&name, port), port)?;
                }
                Err(e) => {
                    out.iter().for_each(stop);
                    return Err(e);
                }
            }
        }
    }
    Ok(out)
}

/// Start attestor `name` in a fresh home under `dir`, listening on `port` as `toml` says.
fn spawn(
    bin: &Path,
    dir: &Path,
    name: &str,
    toml: &str,
    port: u16,
) -> Result<AttestorNode, DevnetError> {
    let home = dir.join(name);
    if home.exists() {
        std::fs::remove_dir_all(&home).map_err(io(&home))?;
    }
    std::fs::create_dir_all(&home).map_err(io(&home))?;
    let ks = ferry::keys::KeyStore::new(&home);
    ks.import(name, &mnemonic(name))
        .map_err(|e| DevnetError::Other(e.to_string()))?;
    let cfg = home.join("attestor.toml");
    std::fs::write(&cfg, toml).map_err(io(&cfg))?;
    let log = home.join("attestor.log");
    let f = std::fs::File::create(&log).map_err(io(&log))?;
    // `--home` puts this attestor's folder in its command line: how `down` knows it as ours.
    let child = Command::new(bin)
        .arg("--home")
        .arg(&home)
        .args(["attestor", "start"])
        .stdin(Stdio::null())
        .stdout(f.try_clone().map_err(io(&log))?)
        .stderr(f)
        .spawn()
        .map_err(|e| DevnetError::Command {
            cmd: format!("{} attestor start", bin.display()),
            detail: e.to_string(),
        })?;
    let address = {
        use ethers::signers::Signer;
        let w = ferry::keys::evm_wallet(&mnemonic(name), 0)
            .map_err(|e| DevnetError::Other(e.to_string()))?;
        format!("{:?}", w.address())
    };
    Ok(AttestorNode {
        name: name.to_string(),
        home,
        url: format!("http://127.0.0.1:{port}/"),
        pid: child.id(),
        log,
        address,
    })
}

async fn wait_healthy(a: &AttestorNode) -> Result<(), DevnetError> {
    let http = reqwest::Client::new();
    let url = format!("{}healthz", a.url);
    for _ in 0..150 {
        if http
            .get(&url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        if !alive(a) {
            return Err(DevnetError::exited(&a.name, &a.log));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(DevnetError::NotReady {
        chain: a.name.clone(),
        secs: 30,
        log: a.log.clone(),
    })
}

pub fn alive(a: &AttestorNode) -> bool {
    node::alive(a.pid, &a.home)
}

pub fn stop(a: &AttestorNode) {
    node::stop(a.pid, &a.home)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_chain_is_read_from_two_endpoint_names() {
        let n = EvmNode {
            chain_id: "evm-l3".into(),
            evm_chain_id: 33333,
            home: "/tmp/x".into(),
            rpc: "http://127.0.0.1:8545".into(),
            pid: 1,
            log: "/tmp/x/log".into(),
            router: Default::default(),
            transfer: Default::default(),
            token: Default::default(),
            light_client: Default::default(),
            v2_light_client: None,
            checkpoint: "5:0xab".into(),
        };
        let t = attestor_toml("attestor-1", 9470, &[n]);
        assert!(t.contains("rpc = [\"http://127.0.0.1:8545\", \"http://localhost:8545\"]"));
        assert!(t.contains("listen = \"127.0.0.1:9470\""));
        assert!(t.contains("evm_chain_id = 33333"));
    }

    #[tokio::test]
    async fn an_attestor_that_died_while_starting_is_reported_with_the_end_of_its_log() {
        let home = std::env::temp_dir().join(format!("ferry-devnet-exited-{}", std::process::id()));
        std::fs::create_dir_all(&home).unwrap();
        let log = home.join("attestor.log");
        let text: String = (1..=30).map(|i| format!("line {i}\n")).collect();
        std::fs::write(
            &log,
            text + "error: cannot listen on 127.0.0.1:1: Address already in use\n",
        )
        .unwrap();
        // A process that has exited: its pid no longer runs an attestor of this home.
        let mut child = Command::new("true").spawn().unwrap();
        child.wait().unwrap();
        let a = AttestorNode {
            name: "attestor-1".into(),
            home: home.clone(),
            url: "http://127.0.0.1:1/".into(),
            pid: child.id(),
            log: log.clone(),
            address: String::new(),
        };
        let t = std::time::Instant::now();
        let err = wait_healthy(&a).await.unwrap_err();
        std::fs::remove_dir_all(&home).unwrap();
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "waited for a dead process"
        );
        let DevnetError::Exited { name, tail, .. } = &err else {
            panic!("not reported as exited: {err}");
        };
        assert_eq!(name, "attestor-1");
        assert!(tail.ends_with("Address already in use"), "{tail}");
        assert!(
            !tail.contains("line 11\n") && tail.contains("line 12"),
            "the last 20 lines: {tail}"
        );
        assert!(err.to_string().contains("attestor-1 exited while starting"));
    }
}
