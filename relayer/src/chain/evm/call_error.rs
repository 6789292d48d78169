//! How one endpoint's failed answer is classified, once, from the JSON-RPC error object: the EVM
//! reverted (the chain's answer, which every honest node gives alike, so no other endpoint is
//! asked) or the endpoint failed (transport, the node's own trouble: the next endpoint is asked).
//! Nothing downstream reads error text to decide.

use ethers::contract::ContractError;
use ethers::providers::{JsonRpcError, Middleware, MiddlewareError, ProviderError, RpcError};

/// A failed call to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallError {
    /// The node ran the call and the EVM reverted; the text is for people.
    Reverted(String),
    /// Anything else: the transport, the node's own failure, an answer that does not decode.
    Endpoint(String),
}

/// Whether a JSON-RPC error response says the EVM reverted: code 3 (EIP-1474's execution error,
/// which anvil and geth give when there is revert data), or geth's -32000 with its exact message
/// for a revert without data.
pub(crate) fn is_revert_response(e: &JsonRpcError) -> bool {
    e.code == 3 || (e.code == -32000 && e.message == "execution reverted")
}

fn describe(e: &JsonRpcError) -> String {
    match &e.data {
        Some(d) if !d.is_null() => format!("{} (code {}, data {d})", e.message, e.code),
        _ => format!("{} (code {})", e.message, e.code),
    }
}

impl From<ProviderError> for CallError {
    fn from(e: ProviderError) -> Self {
        match RpcError::as_error_response(&e) {
            Some(r) if is_revert_response(r) => CallError::Reverted(describe(r)),
            _ => CallError::Endpoint(e.to_string()),
        }
    }
}

impl<M: Middleware> From<ContractError<M>> for CallError {
    fn from(e: ContractError<M>) -> Self {
        let response = match &e {
            // ethers made this from an error response: classify that response, not ethers' guess.
            ContractError::MiddlewareError { e } => MiddlewareError::as_error_response(e),
            ContractError::ProviderError { e } => RpcError::as_error_response(e),
            _ => None,
        };
        match (&e, response) {
            (_, Some(r)) if is_revert_response(r) => CallError::Reverted(describe(r)),
            // Revert data ethers already took out of an error response.
            (ContractError::Revert(data), _) => CallError::Reverted(format!("reverted: {data}")),
            _ => CallError::Endpoint(e.to_string()),
        }
    }
}

/// A problem found in an answer (missing field, a value out of range): the endpoint's fault.
impl From<String> for CallError {
    fn from(e: String) -> Self {
        CallError::Endpoint(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(code: i64, message: &str) -> JsonRpcError {
        JsonRpcError {
            code,
            message: message.into(),
            data: None,
        }
    }

    #[test]
    fn reverts_are_told_by_the_error_object_not_by_words_in_it() {
        assert!(is_revert_response(&response(3, "execution reverted")));
        assert!(is_revert_response(&response(3, "anything")));
        assert!(is_revert_response(&response(-32000, "execution reverted")));
        // A node's own failure that merely mentions a revert is not one.
        assert!(!is_revert_response(&response(
            -32000,
            "execution reverted while the node was syncing: try later"
        )));
        assert!(!is_revert_response(&response(-32603, "revert")));
        assert!(!is_revert_response(&response(-32005, "rate limited")));
    }

    #[test]
    fn a_transport_error_that_mentions_revert_is_the_endpoints_failure() {
        let e = ProviderError::CustomError("HTTP 502: upstream said execution reverted".into());
        assert!(matches!(CallError::from(e), CallError::Endpoint(_)));
    }
}
