//! One CometBFT RPC endpoint of an attested Cosmos chain, as the attestor reads it: the latest
//! height and chain id, light blocks (signed header and both validator sets) and proven queries
//! of the `ibc` store. Nothing here is trusted: [`super::cosmos`] compares every answer across
//! endpoints and verifies it.

use std::time::Duration;

use async_trait::async_trait;
use ferry_light_client_tendermint::{LightBlock, ValidatorSet};
use tendermint::block::Height as TmHeight;
use tendermint_rpc::endpoint::abci_query::AbciQuery;
use tendermint_rpc::{Client, HttpClient, HttpClientUrl, Paging};

use super::cosmos_proof::QUERY_PATH;

/// One CometBFT RPC endpoint.
#[async_trait]
pub trait CometEndpoint: Send + Sync {
    /// How logs name it (its URL).
    fn label(&self) -> String;
    /// (latest block height, chain id) from `/status`.
    async fn status(&self) -> Result<(u64, String), String>;
    /// The signed header at `h` with the validator sets of `h` and `h + 1`.
    async fn light_block(&self, h: u64) -> Result<LightBlock, String>;
    /// `abci_query("store/ibc/key", key, height = h, prove = true)`.
    async fn query_ibc(&self, key: &[u8], h: u64) -> Result<AbciQuery, String>;
}

/// CometBFT JSON-RPC over HTTP.
pub struct HttpComet {
    url: reqwest::Url,
    client: HttpClient,
}

impl HttpComet {
    pub fn new(url: reqwest::Url, timeout: Duration) -> Result<HttpComet, String> {
        let parsed: HttpClientUrl = url
            .as_str()
            .parse()
            .map_err(|e| format!("RPC url `{url}`: {e}"))?;
        let client = HttpClient::builder(parsed)
            .timeout(timeout)
            .build()
            .map_err(|e| format!("RPC client for `{url}`: {e}"))?;
        Ok(HttpComet { url, client })
    }

    async fn validators(&self, h: TmHeight) -> Result<ValidatorSet, String> {
        let vals = self
            .client
            .validators(h, Paging::All)
            .await
            .map_err(|e| format!("validators at {h}: {e}"))?
            .validators;
        validator_set(vals).map_err(|e| format!("validators at {h}: {e}"))
    }
}

/// A validator set from an endpoint's list, refusing one whose total power overflows (the
/// constructor would panic on it).
pub fn validator_set(mut vals: Vec<tendermint::validator::Info>) -> Result<ValidatorSet, String> {
    let total = vals
        .iter()
        .try_fold(0u64, |acc, v| acc.checked_add(v.power.value()));
    if total.is_none_or(|t| t > ValidatorSet::MAX_TOTAL_VOTING_POWER) {
        return Err("total voting power overflows".into());
    }
    // Priorities are not part of the set's hash; they differ between nodes over time.
    vals.iter_mut()
        .for_each(|v| v.proposer_priority = Default::default());
    Ok(ValidatorSet::without_proposer(vals))
}

#[async_trait]
impl CometEndpoint for HttpComet {
    fn label(&self) -> String {
        self.url.to_string()
    }

    async fn status(&self) -> Result<(u64, String), String> {
        let s = self
            .client
            .status()
            .await
            .map_err(|e| format!("status: {e}"))?;
        Ok((
            s.sync_info.latest_block_height.value(),
            s.node_info.network.to_string(),
        ))
    }

    async fn light_block(&self, h: u64) -> Result<LightBlock, String> {
        let th = TmHeight::try_from(h).map_err(|e| e.to_string())?;
        let next = TmHeight::try_from(h + 1).map_err(|e| e.to_string())?;
        let (commit, validators, next_validators) = tokio::try_join!(
            async {
                self.client
                    .commit(th)
                    .await
                    .map_err(|e| format!("commit at {h}: {e}"))
            },
            self.validators(th),
            self.validators(next),
        )?;
        Ok(LightBlock {
            signed_header: commit.signed_header,
            validators,
            next_validators,
        })
    }

    async fn query_ibc(&self, key: &[u8], h: u64) -> Result<AbciQuery, String> {
        let th = TmHeight::try_from(h).map_err(|e| e.to_string())?;
        self.client
            .abci_query(Some(QUERY_PATH.to_string()), key.to_vec(), Some(th), true)
            .await
            .map_err(|e| format!("abci_query at {h}: {e}"))
    }
}
