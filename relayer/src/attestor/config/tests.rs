//! Findings of `attestor.toml` checks, each naming its key.

use super::*;
use ethers::types::H256;

const HASH: &str = "0x1111111111111111111111111111111111111111111111111111111111111111";

fn good() -> String {
    format!(
        r#"
key = "attestor-1"

[[chains]]
name = "evm-l3"
kind = "evm"
evm_chain_id = 33333
rpc = ["http://127.0.0.1:8545", "http://127.0.0.1:8546"]
finality = "finalized"
checkpoint = "123:{HASH}"
"#
    )
}

fn errors(text: &str) -> Vec<(String, String)> {
    let (cfg, issues) = parse(text);
    let errs: Vec<_> = issues
        .iter()
        .filter(|i| i.severity == Severity::Error)
        .map(|i| (i.key.clone(), i.reason.clone()))
        .collect();
    assert_eq!(cfg.is_some(), errs.is_empty(), "{issues:?}");
    errs
}

fn has(errs: &[(String, String)], key: &str, needle: &str) -> bool {
    errs.iter().any(|(k, r)| k == key && r.contains(needle))
}

#[test]
fn good_config_parses_with_defaults() {
    let (cfg, issues) = parse(&good());
    assert!(issues.is_empty(), "{issues:?}");
    let cfg = cfg.unwrap();
    assert_eq!(cfg.key, "attestor-1");
    assert_eq!(cfg.listen, "127.0.0.1:9470".parse().unwrap());
    assert_eq!(cfg.rpc_timeout, Duration::from_secs(10));
    let ch = &cfg.chains[0];
    assert_eq!(ch.caip2(), "eip155:33333");
    assert_eq!(ch.finality, Finality::Finalized);
    assert_eq!(ch.checkpoint.number, 123);
    assert_eq!(ch.checkpoint.hash, H256::repeat_byte(0x11));
    assert_eq!(ch.rpc.len(), 2);

    let depth = good().replace("\"finalized\"", "{ depth = 12 }");
    assert_eq!(
        parse(&depth).0.unwrap().chains[0].finality,
        Finality::Depth(12)
    );
}

#[test]
fn each_error_names_its_key() {
    let g = good();
    let one_rpc = g.replace(", \"http://127.0.0.1:8546\"", "");
    assert!(has(&errors(&one_rpc), "chains[0].rpc", "at least 2"));
    let dup = g.replace("8546", "8545/");
    assert!(has(&errors(&dup), "chains[0].rpc[1]", "same endpoint"));
    let not_url = g.replace("http://127.0.0.1:8546", "ftp://x");
    assert!(has(&errors(&not_url), "chains[0].rpc[1]", "not an http"));
    let depth0 = g.replace("\"finalized\"", "{ depth = 0 }");
    assert!(has(
        &errors(&depth0),
        "chains[0].finality.depth",
        "too shallow"
    ));
    let latest = g.replace("\"finalized\"", "\"latest\"");
    assert!(has(&errors(&latest), "chains[0].finality", "\"finalized\""));
    let cp = g.replace(&format!("123:{HASH}"), "123:0xabc");
    assert!(has(
        &errors(&cp),
        "chains[0].checkpoint",
        "not a checkpoint"
    ));
    let no_cp = g.replace(&format!("checkpoint = \"123:{HASH}\""), "");
    assert!(has(&errors(&no_cp), "chains[0].checkpoint", "missing"));
    let kind = g.replace("kind = \"evm\"", "kind = \"solana\"");
    assert!(has(&errors(&kind), "chains[0].kind", "not supported"));
    let id = g.replace("33333", "0");
    assert!(has(&errors(&id), "chains[0].evm_chain_id", "at least 1"));
    let id_str = g.replace("33333", "\"33333\"");
    assert!(has(&errors(&id_str), "chains[0].evm_chain_id", "integer"));
    let typo = g.replace("kind = \"evm\"", "kind = \"evm\"\nconfirmations = 3");
    assert!(has(
        &errors(&typo),
        "chains[0].confirmations",
        "unknown key"
    ));
    let key = g.replace("attestor-1", "../x");
    assert!(has(&errors(&key), "key", "not a key name"));
    let listen = format!("listen = \"nowhere\"\n{g}");
    assert!(has(&errors(&listen), "listen", "not an address"));
    let timeout = format!("rpc_timeout = \"0s\"\n{g}");
    assert!(has(&errors(&timeout), "rpc_timeout", "greater than zero"));
    assert!(has(&errors("key = \"a\""), "chains", "missing"));
    assert!(has(&errors("key = "), "(file)", "not valid TOML"));
    let twice = format!("{g}{}", &g[g.find("[[chains]]").unwrap()..]);
    let errs = errors(&twice);
    assert!(has(&errs, "chains[1].name", "used by another chain"));
    assert!(has(&errs, "chains[1].evm_chain_id", "configured twice"));
}

#[test]
fn warnings_do_not_stop_it() {
    let g = good().replace("http://127.0.0.1:8546", "http://localhost:8545");
    let text = format!("listen = \"0.0.0.0:9470\"\n{g}");
    let (cfg, issues) = parse(&text);
    assert!(cfg.is_some());
    let warned: Vec<_> = issues.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(warned, ["listen", "chains[0].rpc[1]"], "{issues:?}");
    assert!(issues.iter().all(|i| i.severity == Severity::Warning));
}

#[test]
fn key_name_alone() {
    assert_eq!(key_name(&good()).unwrap(), "attestor-1");
    let e = key_name("listen = \"x\"").unwrap_err();
    assert_eq!(e.errors[0].key, "key");
}

const CP: &str = "A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E8F90";

fn cosmos_table(name: &str, chain_id: &str) -> String {
    format!(
        r#"
[[chains]]
name = "{name}"
kind = "cosmos"
chain_id = "{chain_id}"
rpc = ["http://127.0.0.1:26657", "http://127.0.0.1:26658"]
checkpoint = "100:{CP}"
ibc_attestations = true
"#
    )
}

#[test]
fn cosmos_chain_parses_with_defaults() {
    let text = format!("{}{}", good(), cosmos_table("hub", "simd-1"));
    let (cfg, issues) = parse(&text);
    assert!(
        issues.iter().all(|i| i.severity == Severity::Warning),
        "{issues:?}"
    );
    let cfg = cfg.unwrap();
    assert_eq!(cfg.chains.len(), 1);
    let c = &cfg.cosmos[0];
    assert_eq!(c.caip2(), "cosmos:simd-1");
    assert_eq!(c.checkpoint.height, 100);
    assert_eq!(hex::encode_upper(c.checkpoint.hash), CP);
    assert_eq!(c.trusting_period, Duration::from_secs(14 * 24 * 3600));
    assert_eq!(c.clock_drift, Duration::from_secs(10));
    assert_eq!(cfg.ibc_chain().as_deref(), Some("cosmos:simd-1"));
    assert!(!cfg.chains[0].ibc_attestations);

    let tuned = text
        .replace(
            "ibc_attestations = true",
            "ibc_attestations = true\ntrusting_period = \"7days\"\nclock_drift = \"3s\"",
        )
        .replace(
            &format!("100:{CP}"),
            &format!("100:0x{}", CP.to_lowercase()),
        );
    let c = parse(&tuned).0.unwrap().cosmos[0].clone();
    assert_eq!(c.trusting_period, Duration::from_secs(7 * 24 * 3600));
    assert_eq!(c.clock_drift, Duration::from_secs(3));
    assert_eq!(hex::encode_upper(c.checkpoint.hash), CP);
}

#[test]
fn cosmos_findings_name_their_key() {
    let g = cosmos_table("hub", "simd-1");
    let with = |t: &str| format!("key = \"attestor-1\"\n{t}");
    let no_ibc = g.replace("ibc_attestations = true\n", "");
    assert!(has(
        &errors(&with(&no_ibc)),
        "chains[0].ibc_attestations",
        "missing"
    ));
    let off = g.replace("ibc_attestations = true", "ibc_attestations = false");
    assert!(has(
        &errors(&with(&off)),
        "chains[0].ibc_attestations",
        "must be true"
    ));
    let id = g.replace("simd-1", "simd 1");
    assert!(has(
        &errors(&with(&id)),
        "chains[0].chain_id",
        "not a CometBFT chain id"
    ));
    let cp = g.replace(&format!("100:{CP}"), "100:ABCD");
    assert!(has(
        &errors(&with(&cp)),
        "chains[0].checkpoint",
        "not a checkpoint"
    ));
    let cp0 = g.replace(&format!("100:{CP}"), &format!("0:{CP}"));
    assert!(has(
        &errors(&with(&cp0)),
        "chains[0].checkpoint",
        "start at 1"
    ));
    let tp = g.replace(
        "ibc_attestations = true",
        "ibc_attestations = true\ntrusting_period = \"two weeks\"",
    );
    assert!(has(
        &errors(&with(&tp)),
        "chains[0].trusting_period",
        "not a duration"
    ));
    let evm_key = g.replace("kind = \"cosmos\"", "kind = \"cosmos\"\nevm_chain_id = 1");
    assert!(has(
        &errors(&with(&evm_key)),
        "chains[0].evm_chain_id",
        "unknown key"
    ));
    let one_rpc = g.replace(", \"http://127.0.0.1:26658\"", "");
    assert!(has(&errors(&with(&one_rpc)), "chains[0].rpc", "at least 2"));
    let long = g.replace(
        "ibc_attestations = true",
        "ibc_attestations = true\ntrusting_period = \"30days\"",
    );
    let (cfg, issues) = parse(&with(&long));
    assert!(cfg.is_some());
    assert_eq!(issues[0].key, "chains[0].trusting_period");
    assert_eq!(issues[0].severity, Severity::Warning);
}

#[test]
fn one_chain_per_key_in_the_ibc_format() {
    // Two Cosmos chains: the second is refused, naming the first and the key.
    let text = format!(
        "key = \"attestor-1\"\n{}{}",
        cosmos_table("hub", "simd-1"),
        cosmos_table("other", "simd-2")
    );
    let errs = errors(&text);
    assert!(
        has(
            &errs,
            "chains[1].ibc_attestations",
            "chains[0] (`cosmos:simd-1`)"
        ),
        "{errs:?}"
    );
    assert!(has(&errs, "chains[1].ibc_attestations", "key `attestor-1`"));
    assert!(has(
        &errs,
        "chains[1].ibc_attestations",
        "at most one chain"
    ));
    // An ibc-flagged EVM chain and a Cosmos chain: the same.
    let evm_ibc = good().replace(
        "finality = \"finalized\"",
        "finality = \"finalized\"\nibc_attestations = true\nrouter = \"0x5FbDB2315678afecb367f032d93F642f64180aa3\"",
    );
    let (cfg, issues) = parse(&evm_ibc);
    assert!(issues.is_empty(), "{issues:?}");
    let cfg = cfg.unwrap();
    assert!(cfg.chains[0].ibc_attestations);
    assert_eq!(
        cfg.chains[0].router,
        Some(
            "0x5FbDB2315678afecb367f032d93F642f64180aa3"
                .parse()
                .unwrap()
        )
    );
    assert_eq!(cfg.ibc_chain().as_deref(), Some("eip155:33333"));
    let both = format!("{evm_ibc}{}", cosmos_table("hub", "simd-1"));
    assert!(has(
        &errors(&both),
        "chains[1].ibc_attestations",
        "chains[0] (`eip155:33333`)"
    ));
    // A Cosmos chain with EVM chains not flagged: fine.
    let mixed = format!("{}{}", good(), cosmos_table("hub", "simd-1"));
    assert!(errors(&mixed).is_empty());
    // The same Cosmos chain twice.
    let twice = format!(
        "key = \"attestor-1\"\n{}{}",
        cosmos_table("hub", "simd-1"),
        cosmos_table("hub2", "simd-1")
    );
    assert!(has(
        &errors(&twice),
        "chains[1].chain_id",
        "configured twice"
    ));
}

#[test]
fn evm_router_goes_with_ibc_attestations() {
    let g = good();
    let ibc = g.replace(
        "finality = \"finalized\"",
        "finality = \"finalized\"\nibc_attestations = true",
    );
    assert!(has(&errors(&ibc), "chains[0].router", "missing"));
    let bad = ibc.replace(
        "ibc_attestations = true",
        "ibc_attestations = true\nrouter = \"0x0000000000000000000000000000000000000000\"",
    );
    assert!(has(
        &errors(&bad),
        "chains[0].router",
        "not a contract address"
    ));
    let stray = g.replace(
        "finality = \"finalized\"",
        "finality = \"finalized\"\nrouter = \"0x5FbDB2315678afecb367f032d93F642f64180aa3\"",
    );
    assert!(has(
        &errors(&stray),
        "chains[0].router",
        "only used by ibc packet attestations"
    ));
    let not_bool = g.replace(
        "finality = \"finalized\"",
        "finality = \"finalized\"\nibc_attestations = \"yes\"",
    );
    assert!(has(
        &errors(&not_bool),
        "chains[0].ibc_attestations",
        "true or false"
    ));
}
