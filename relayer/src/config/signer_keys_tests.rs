//! `key` or `keys = [...]` (several signers on a Cosmos chain): what is accepted and what is refused.

use super::raw::parse;
use super::{validate, Severity};

fn config(chain_keys: &str, kind: &str) -> String {
    let evm = if kind == "evm" {
        "[chains.evm]\nchain_id = 1\nrouter = \"0x00000000000000000000000000000000000000f1\"\n"
    } else {
        ""
    };
    format!(
        "[[chains]]\nid = \"a-1\"\ntype = \"{kind}\"\nrpc = [\"http://127.0.0.1:26657\"]\n{chain_keys}\n\
         gas_price = \"0.01stake\"\n{evm}"
    )
}

fn errors(text: &str) -> Vec<(String, String)> {
    let raw = parse(text).unwrap();
    validate(&raw)
        .1
        .into_iter()
        .filter(|i| i.severity == Severity::Error)
        .map(|i| (i.key, i.reason))
        .collect()
}

#[test]
fn several_signers_keep_their_order_and_the_first_is_primary() {
    let raw = parse(&config(r#"keys = ["r1", "r2", "r3"]"#, "cosmos")).unwrap();
    let (cfg, issues) = validate(&raw);
    assert!(
        issues.iter().all(|i| i.severity != Severity::Error),
        "{issues:?}"
    );
    let c = &cfg.unwrap().chains[0];
    assert_eq!(c.key, "r1");
    assert_eq!(c.keys, vec!["r1", "r2", "r3"]);
}

#[test]
fn one_key_is_one_signer() {
    let raw = parse(&config(r#"key = "relayer""#, "cosmos")).unwrap();
    let c = &validate(&raw).0.unwrap().chains[0];
    assert_eq!(c.keys, vec!["relayer"]);
}

#[test]
fn refusals_name_the_key() {
    let e = errors(&config(r#"keys = ["r1", "r1"]"#, "cosmos"));
    assert!(
        e.iter()
            .any(|(k, r)| k == "chains[0].keys[1]" && r.contains("twice")),
        "{e:?}"
    );
    let e = errors(&config("key = \"r1\"\nkeys = [\"r2\"]", "cosmos"));
    assert!(
        e.iter()
            .any(|(k, r)| k == "chains[0].keys" && r.contains("not both")),
        "{e:?}"
    );
    let e = errors(&config("", "cosmos"));
    assert!(e.iter().any(|(k, _)| k == "chains[0].key"), "{e:?}");
    let e = errors(&config(r#"keys = ["r1", ""]"#, "cosmos"));
    assert!(e.iter().any(|(k, _)| k == "chains[0].keys[1]"), "{e:?}");
    let e = errors(&config(r#"keys = ["r1", "r2"]"#, "evm"));
    assert!(
        e.iter()
            .any(|(k, r)| k == "chains[0].keys" && r.contains("Cosmos")),
        "{e:?}"
    );
}
