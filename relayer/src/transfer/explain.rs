//! A chain's refusal of a transfer said as a sentence that names the problem, told apart by the
//! refusing module and its SDK error code (`chain::cosmos::sdk_errors`); the chain's own words
//! follow the sentence for the record.

use crate::chain::cosmos::sdk_errors::sdk_code;
use crate::chain::ChainError;

/// What each SDK error Ferry tells apart means for a transfer.
const SENTENCES: &[(u32, &str)] = &[
    (4, "the key is not allowed to sign for the sender"),
    (
        5,
        "the sender's balance does not cover the amount and the fee",
    ),
    (7, "an address in the transfer is not valid on this chain"),
    (
        10,
        "the amount or the denom is not valid here (is the denom spelled as the chain knows it?)",
    ),
    (
        11,
        "the transaction ran out of gas: raise the chain's gas_multiplier or default_gas",
    ),
    (12, "the memo is longer than this chain accepts"),
    (
        13,
        "the fee is below the chain's minimum: raise gas_price in the config",
    ),
    (
        19,
        "the same transaction is already waiting in the node's mempool",
    ),
    (20, "the node's mempool is full: send again in a few blocks"),
    (
        21,
        "the transaction is larger than the chain accepts (a long memo?)",
    ),
    (
        32,
        "another transaction from this key got in first (account sequence): send again",
    ),
];

/// The sentence for `e`, when its module and code are known.
pub fn explain(e: &ChainError) -> Option<&'static str> {
    let code = match e {
        ChainError::Tx {
            codespace,
            code,
            log,
            ..
        }
        | ChainError::Query {
            codespace,
            code,
            log,
            ..
        } => sdk_code(codespace, *code, log)?,
        _ => return None,
    };
    SENTENCES.iter().find(|(c, _)| *c == code).map(|(_, s)| *s)
}

/// `e` for a person: the sentence first when there is one, then the chain's own words.
pub fn describe(e: ChainError) -> anyhow::Error {
    match explain(&e) {
        Some(sentence) => anyhow::anyhow!("{sentence} ({e})"),
        None => e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::TxErrorKind;

    fn tx(codespace: &str, code: u32, log: &str) -> ChainError {
        ChainError::Tx {
            chain: "c-1".parse().unwrap(),
            kind: TxErrorKind::Simulation,
            codespace: codespace.into(),
            code,
            log: log.into(),
        }
    }

    #[test]
    fn known_codes_name_the_problem_and_keep_the_chains_words() {
        let e = tx(
            "sdk",
            5,
            "10stake is smaller than 20stake: insufficient funds",
        );
        assert_eq!(
            explain(&e),
            Some("the sender's balance does not cover the amount and the fee")
        );
        let text = describe(e).to_string();
        assert!(text.starts_with("the sender's balance"), "{text}");
        assert!(text.contains("10stake is smaller than 20stake"), "{text}");
        // The module decides, not the text: the same words under another module say nothing.
        assert_eq!(explain(&tx("bank", 5, "insufficient funds")), None);
        // A simulation's error, wrapped as `unknown request` by the gRPC query.
        let wrapped = tx(
            "sdk",
            6,
            "failed to execute message; message index: 0: spendable balance 1stake is smaller than \
             2stake: insufficient funds [cosmos/cosmos-sdk@v0.50.9/x/bank/keeper/send.go:278] \
             with gas used: '57687': unknown request",
        );
        assert_eq!(
            explain(&wrapped),
            Some("the sender's balance does not cover the amount and the fee")
        );
        assert_eq!(
            explain(&tx("sdk", 6, "something else: unknown request")),
            None
        );
        assert_eq!(explain(&tx("sdk", 999, "")), None);
        assert_eq!(
            explain(&ChainError::InvalidTxHash {
                given: "x".into(),
                expected: "64 hex digits"
            }),
            None
        );
    }
}
