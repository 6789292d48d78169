//! Cosmos SDK root errors (codespace `sdk`) by code. A simulation runs as a gRPC query, and the SDK
//! answers any error inside it as `unknown request` (code 6), keeping the inner error only as its
//! registered description in the log (`…: incorrect account sequence`); [`sdk_code`] recovers the
//! inner code from that description, and nothing else in the log is read.

/// `unknown request`: how a gRPC query (the simulation) wraps any error inside it.
pub const UNKNOWN_REQUEST: u32 = 6;

/// Codes Ferry tells apart, with the description the SDK registers for each.
pub const DESCRIPTIONS: &[(u32, &str)] = &[
    (4, "unauthorized"),
    (5, "insufficient funds"),
    (7, "invalid address"),
    (10, "invalid coins"),
    (11, "out of gas"),
    (12, "memo too large"),
    (13, "insufficient fee"),
    (19, "tx already in mempool"),
    (20, "mempool is full"),
    (21, "tx too large"),
    (32, "incorrect account sequence"),
];

/// The SDK error code behind an answer with `codespace` and `code`: the code itself, or for a
/// wrapped simulation error the inner one named in `log`. `None` outside the `sdk` codespace.
pub fn sdk_code(codespace: &str, code: u32, log: &str) -> Option<u32> {
    if codespace != "sdk" {
        return None;
    }
    if code != UNKNOWN_REQUEST {
        return Some(code);
    }
    DESCRIPTIONS
        .iter()
        .find(|(_, desc)| log.contains(&format!(": {desc}")))
        .map(|(c, _)| *c)
        .or(Some(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_simulation_errors_name_their_inner_code() {
        let log = "account sequence mismatch, expected 7, got 6: incorrect account sequence \
                   [cosmos/cosmos-sdk@v0.50.9/x/auth/ante/sigverify.go:290] with gas used: '1': \
                   unknown request";
        assert_eq!(sdk_code("sdk", 6, log), Some(32));
        assert_eq!(sdk_code("sdk", 32, ""), Some(32));
        assert_eq!(
            sdk_code("sdk", 6, "nothing known: unknown request"),
            Some(6)
        );
        assert_eq!(sdk_code("bank", 5, "insufficient funds"), None);
    }
}
