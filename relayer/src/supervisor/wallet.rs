//! The relayer wallets: each chain's balance sampled every 15 s into the metrics and the API,
//! with the runway (balance over the spend rate seen since start).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::sleep_or_stop;
use crate::chain::cosmos::CosmosChain;
use crate::chain::evm::EvmChain;
use crate::telemetry::metrics;

/// Native balance (wei) of an EVM relayer account and its runway.
pub(super) async fn monitor_evm_wallet(chain: Arc<EvmChain>, mut shutdown: watch::Receiver<bool>) {
    let mut runway = Runway::default();
    loop {
        if let Ok(bal) = chain.balance(chain.address, None).await {
            let Ok(bal) = u128::try_from(bal) else {
                tracing::warn!(chain = %chain.id, balance = %bal, "malformed balance from the node (does not fit in 128 bits); sample skipped");
                if sleep_or_stop(Duration::from_secs(15), &mut shutdown).await {
                    return;
                }
                continue;
            };
            let secs = runway.seconds(bal);
            metrics().wallet(
                chain.id.as_str(),
                &chain.config.key,
                "wei",
                bal as f64,
                secs,
            );
            publish_wallet(chain.id.as_str(), &chain.config.key, "wei", bal, secs);
        }
        if sleep_or_stop(Duration::from_secs(15), &mut shutdown).await {
            return;
        }
    }
}

fn publish_wallet(chain: &str, key: &str, denom: &str, balance: u128, runway: f64) {
    crate::telemetry::live().wallet(
        chain,
        crate::telemetry::WalletInfo {
            key: key.to_string(),
            denom: denom.to_string(),
            balance: balance.to_string(),
            runway_seconds: (runway < NO_SPEND).then_some(runway),
            sampled_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs(),
        },
    );
}

/// The runway reported while nothing was spent yet.
const NO_SPEND: f64 = 1e12;

/// Balance divided by the spend rate seen since the first sample.
#[derive(Default)]
struct Runway {
    first: Option<(Instant, u128)>,
}

impl Runway {
    fn seconds(&mut self, bal: u128) -> f64 {
        let (t0, b0) = *self.first.get_or_insert((Instant::now(), bal));
        let spent = b0.saturating_sub(bal) as f64;
        let elapsed = t0.elapsed().as_secs_f64();
        if spent > 0.0 && elapsed > 0.0 {
            bal as f64 / (spent / elapsed)
        } else {
            NO_SPEND
        }
    }
}

/// Wallet balance and runway: balance divided by the spend rate seen since the first sample.
/// Every signer's (`keys = [...]`) wallet is sampled, each with its own runway.
pub(super) async fn monitor_wallet(chain: Arc<CosmosChain>, mut shutdown: watch::Receiver<bool>) {
    let denom = chain.config.gas_price.denom.clone();
    let signers = chain.signer_addresses();
    let mut runways: Vec<Runway> = signers.iter().map(|_| Runway::default()).collect();
    loop {
        for ((key, address), runway) in signers.iter().zip(runways.iter_mut()) {
            if let Ok(bal) = chain.balance(address, &denom).await {
                let runway = runway.seconds(bal);
                metrics().wallet(chain.id.as_str(), key, &denom, bal as f64, runway);
                publish_wallet(chain.id.as_str(), key, &denom, bal, runway);
            }
        }
        if sleep_or_stop(Duration::from_secs(15), &mut shutdown).await {
            return;
        }
    }
}
