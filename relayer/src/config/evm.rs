//! Checks of `[chains.evm]`: present exactly for `type = "evm"`, addresses and fees well formed.

use ethers::types::{Address, H256};

use super::raw::RawChain;
use super::validate::{parse_gas_price, Checker};
use super::{ChainKind, EvmConfig};

/// A fee like "2gwei" or "1500000000wei" in wei.
pub fn parse_wei(s: &str) -> Result<u128, String> {
    let p = parse_gas_price(s)?;
    let scale = match p.denom.as_str() {
        "wei" => 1.0,
        "gwei" => 1e9,
        other => return Err(format!("`{other}` is not a fee unit; use wei or gwei")),
    };
    Ok((p.amount * scale).round() as u128)
}

fn address(c: &mut Checker, key: String, value: &str) -> Option<Address> {
    match value.parse::<Address>() {
        Ok(a) if !a.is_zero() && value.starts_with("0x") && value.len() == 42 => Some(a),
        _ => {
            c.error(
                key,
                format!("`{value}` is not a 0x-prefixed 20-byte address"),
            );
            None
        }
    }
}

/// `NUMBER:0xHASH`.
pub fn parse_checkpoint(s: &str) -> Result<(u64, H256), String> {
    let bad = || format!("`{s}` is not a checkpoint like \"1200:0x<32-byte block hash>\"");
    let (n, h) = s.split_once(':').ok_or_else(bad)?;
    let number = n.trim().parse().map_err(|_| bad())?;
    let h = h.trim();
    if !(h.starts_with("0x") && h.len() == 66) {
        return Err(bad());
    }
    Ok((number, h.parse().map_err(|_| bad())?))
}

/// Distinct http(s) URLs; plain http only to loopback (a signature is checked, but a MITM could
/// still withhold or delay it).
pub(super) fn attestor_endpoints(
    c: &mut Checker,
    prefix: &str,
    urls: &[String],
) -> Vec<reqwest::Url> {
    let mut out: Vec<reqwest::Url> = Vec::new();
    for (j, u) in urls.iter().enumerate() {
        let key = format!("{prefix}.attestor_endpoints[{j}]");
        match reqwest::Url::parse(u) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                if out.contains(&url) {
                    c.error(key, format!("`{u}` is listed twice"));
                    continue;
                }
                let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
                if url.scheme() == "http" && !loopback {
                    c.warn(
                        key,
                        format!("`{u}` is plain http to another host; prefer https"),
                    );
                }
                out.push(url);
            }
            _ => c.error(key, format!("`{u}` is not an http(s) URL")),
        }
    }
    out
}

pub(super) fn check(
    c: &mut Checker,
    i: usize,
    raw: &RawChain,
    kind: Option<ChainKind>,
) -> Option<EvmConfig> {
    let k = |field: &str| format!("chains[{i}].evm.{field}");
    let evm = match (kind, &raw.evm) {
        (Some(ChainKind::Evm), Some(e)) => e,
        (Some(ChainKind::Evm), None) => {
            c.error(
                format!("chains[{i}].evm"),
                "an evm chain needs an [chains.evm] table (chain_id, router)",
            );
            return None;
        }
        (_, Some(_)) => {
            c.error(
                format!("chains[{i}].evm"),
                "only chains with type = \"evm\" take an [chains.evm] table",
            );
            return None;
        }
        (_, None) => return None,
    };
    if evm.chain_id == 0 {
        c.error(k("chain_id"), "must be the chain's non-zero EIP-155 id");
    }
    let router = address(c, k("router"), &evm.router);
    let transfer = match &evm.transfer {
        Some(t) => Some(address(c, k("transfer"), t)?),
        None => None,
    };
    let max_fee_wei = parse_wei(&raw.gas_price)
        .map_err(|e| {
            c.error(
                format!("chains[{i}].gas_price"),
                format!("{e} (on an evm chain it is the fee cap per gas, like \"100gwei\")"),
            )
        })
        .ok();
    let priority_fee_wei = parse_wei(&evm.priority_fee)
        .map_err(|e| c.error(k("priority_fee"), e))
        .ok();
    if let (Some(cap), Some(tip)) = (max_fee_wei, priority_fee_wei) {
        if tip > cap {
            c.error(
                k("priority_fee"),
                format!("{tip} wei exceeds the fee cap gas_price ({cap} wei)"),
            );
        }
    }
    if evm.confirmations == 0 {
        c.warn(
            k("confirmations"),
            "0 relays events from blocks that a reorg can still remove",
        );
    }
    if evm.log_range == 0 || evm.log_range > 100_000 {
        c.error(k("log_range"), "must be between 1 and 100000 blocks");
    }
    let checkpoint = match &evm.checkpoint {
        Some(s) => Some(
            parse_checkpoint(s)
                .map_err(|e| c.error(k("checkpoint"), e))
                .ok()?,
        ),
        None => None,
    };
    // Headers and proofs are verified, but events and "final" come from these nodes.
    let remote_http = raw.rpc.iter().any(|u| {
        u.starts_with("http://")
            && !["http://127.0.0.1", "http://localhost", "http://[::1]"]
                .iter()
                .any(|l| u.starts_with(l))
    });
    if remote_http && raw.rpc.len() < 2 {
        c.warn(
            format!("chains[{i}].rpc"),
            "one plain-http endpoint on another host: a man in the middle can withhold events or \
             misreport the head; use https and a second endpoint",
        );
    }
    if evm.attestors.is_some() {
        c.error(
            k("attestors"),
            "a relayer holds no attestor keys (one process must never be able to sign a quorum); \
             run each attestor as `ferry attestor start` with its own key and list their URLs in \
             attestor_endpoints",
        );
    }
    let attestor_endpoints =
        attestor_endpoints(c, &format!("chains[{i}].evm"), &evm.attestor_endpoints);
    let attestation_timeout = c.duration(k("attestation_timeout"), &evm.attestation_timeout);
    if let Some(ws) = &evm.ws {
        if !(ws.starts_with("ws://") || ws.starts_with("wss://")) {
            c.error(k("ws"), format!("`{ws}` must start with ws:// or wss://"));
        }
    }
    Some(EvmConfig {
        chain_id: evm.chain_id,
        router: router?,
        transfer,
        confirmations: evm.confirmations,
        priority_fee_wei: priority_fee_wei?,
        max_fee_wei: max_fee_wei?,
        attestor_endpoints,
        attestation_timeout: attestation_timeout?,
        checkpoint,
        log_range: evm.log_range,
        ws: evm.ws.clone(),
    })
}

#[cfg(test)]
mod tests {
    use crate::config::{load_str, ConfigError};

    const EVM: &str = r#"
[[chains]]
id = "evm-l3"
type = "evm"
rpc = ["http://127.0.0.1:8545"]
key = "relayer"
gas_price = "100gwei"
[chains.evm]
chain_id = 33333
router = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
attestor_endpoints = ["http://127.0.0.1:9470", "http://127.0.0.1:9471"]
checkpoint = "0:0x0000000000000000000000000000000000000000000000000000000000000001"
"#;

    fn errors(text: &str) -> Vec<String> {
        match load_str(text, "t.toml".as_ref()) {
            Ok(_) => vec![],
            Err(ConfigError::Invalid(v)) => v.into_iter().map(|i| i.to_string()).collect(),
            Err(e) => vec![e.to_string()],
        }
    }

    #[test]
    fn example_and_devnet_configs_are_valid() {
        for (name, text) in [
            ("example.toml", include_str!("../../../config/example.toml")),
            ("devnet.toml", include_str!("../../../config/devnet.toml")),
        ] {
            let (cfg, _) = load_str(text, name.as_ref()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                cfg.chains.iter().any(|c| c.evm.is_some()),
                "{name} shows an evm chain"
            );
        }
    }

    #[test]
    fn good_evm_chain_loads() {
        let (cfg, _) = load_str(EVM, "t.toml".as_ref()).unwrap();
        let evm = cfg.chains[0].evm.as_ref().unwrap();
        assert_eq!(evm.chain_id, 33333);
        assert_eq!(evm.max_fee_wei, 100_000_000_000);
        assert_eq!(evm.priority_fee_wei, 1_000_000_000);
        assert_eq!(evm.confirmations, 2);
        assert_eq!(evm.checkpoint.unwrap().0, 0);
    }

    #[test]
    fn a_relayer_config_with_attestor_keys_is_refused() {
        let e = errors(&EVM.replace(
            "attestor_endpoints",
            "attestors = [\"attestor-1\", \"attestor-2\"]\nattestor_endpoints",
        ));
        assert!(
            e.iter()
                .any(|s| s.contains("chains[0].evm.attestors") && s.contains("no attestor keys")),
            "{e:?}"
        );
    }

    #[test]
    fn bad_evm_values_name_their_key() {
        let e = errors(&EVM.replace("0x5FbDB2315678afecb367f032d93F642f64180aa3", "0x12"));
        assert!(
            e.iter().any(|s| s.contains("chains[0].evm.router")),
            "{e:?}"
        );
        let e = errors(&EVM.replace("100gwei", "100stake"));
        assert!(e.iter().any(|s| s.contains("chains[0].gas_price")), "{e:?}");
        let e = errors(&EVM.replace(
            "attestor_endpoints",
            "priority_fee = \"200gwei\"\nattestor_endpoints",
        ));
        assert!(e.iter().any(|s| s.contains("evm.priority_fee")), "{e:?}");
        let e = errors(&EVM.replace("0:0x", "x:0x"));
        assert!(e.iter().any(|s| s.contains("evm.checkpoint")), "{e:?}");
        let e = errors(&EVM.replace("9471", "9470"));
        assert!(
            e.iter()
                .any(|s| s.contains("evm.attestor_endpoints[1]") && s.contains("twice")),
            "{e:?}"
        );
        let e = errors(&EVM.replace("http://127.0.0.1:9471", "ftp://x"));
        assert!(
            e.iter().any(|s| s.contains("evm.attestor_endpoints[1]")),
            "{e:?}"
        );
        let e = errors(&EVM.replace("[chains.evm]", "[chains.nope]"));
        assert!(!e.is_empty());
        let missing: String = EVM
            .lines()
            .take_while(|l| !l.starts_with("[chains.evm]"))
            .collect::<Vec<_>>()
            .join("\n");
        let e = errors(&missing);
        assert!(e.iter().any(|s| s.contains("chains[0].evm")), "{e:?}");
        let e = errors(&EVM.replace("type = \"evm\"", "type = \"cosmos\""));
        assert!(
            e.iter().any(|s| s.contains("only chains with type")),
            "{e:?}"
        );
    }
}
