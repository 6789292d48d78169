//! The client update a batch proves against: none when the destination's client already holds a
//! consensus state above every event in the batch.

use std::time::Instant;

use super::Lane;
use crate::chain::{ChainError, Msg};
use crate::ibc::Height;
use crate::telemetry::metrics;

impl Lane {
    /// Client-update messages (maybe none) and the proof height to use: the destination's client of
    /// the source must hold a consensus state at `need` or above (and, for timeouts, a recent
    /// one). `need` is the source's lowest proof height covering every event of the batch.
    pub(super) async fn prepare_client(
        &self,
        need: u64,
        fresh: bool,
    ) -> Result<(Vec<Msg>, Height), ChainError> {
        let (dst_id, client) = (self.dst.id().to_string(), self.dst.client.clone());
        let trusted = self.dst.chain.client_latest_height(&client).await?;
        if !fresh && trusted.revision_height >= need {
            metrics().client_update(&dst_id, client.as_str(), false);
            return Ok((vec![], trusted));
        }
        let mut target = self.src.chain.latest().await?.0;
        let waited = Instant::now();
        while target.revision_height < need {
            if waited.elapsed() > std::time::Duration::from_secs(30) {
                return Err(ChainError::Other(format!(
                    "{} did not reach height {need} in 30s",
                    self.src.id()
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            target = self.src.chain.latest().await?.0;
        }
        if trusted >= target {
            metrics().client_update(&dst_id, client.as_str(), false);
            return Ok((vec![], trusted));
        }
        let anchor = self.dst.chain.consensus_anchor(&client, trusted).await?;
        let headers = self
            .src
            .chain
            .client_headers(trusted, target, &anchor)
            .await?;
        metrics().client_update(&dst_id, client.as_str(), true);
        Ok((
            headers
                .into_iter()
                .map(|h| self.dst.chain.update_client_msg(&client, h))
                .collect(),
            target,
        ))
    }
}
