//! `POST /v1/attest/ibc/state` and `POST /v1/attest/ibc/packets`: signatures in the ibc-go
//! `attestations` format ([`super::ibc`]) for the one chain configured for it. A state is
//! recorded (and fsync'd) before it is signed, as EIP-712 states are; packet attestations are
//! statements about verified store contents and are not recorded.

use std::time::Instant;

use ethers::types::H256;

use super::ibc::{
    packet_data, parse_keys, path_of, signing_input, state_data, IbcPacketsRequest,
    IbcPacketsResponse, IbcStateRequest, IbcStateResponse, PacketCommitment, TAG_PACKET, TAG_STATE,
};
use super::record::IbcRecorded;
use super::refusal::{Kind, Refusal};
use super::{Attestor, IbcChain};

impl Attestor {
    /// The chain signed in the ibc format, if `caip2` names it.
    fn ibc_chain(&self, caip2: &str) -> Result<IbcChain, Refusal> {
        match &self.ibc {
            Some(c) if c.caip2() == caip2 => Ok(c.clone()),
            other => {
                self.metrics.bad_request(Kind::UnknownChain);
                Err(Refusal::new(
                    Kind::UnknownChain,
                    match other {
                        Some(c) => format!(
                            "this attestor signs the ibc attestation format only for `{}`, not \
                             `{caip2}` (the format names no chain: one key signs it for one chain)",
                            c.caip2()
                        ),
                        None => "this attestor signs no chain in the ibc attestation format".into(),
                    },
                ))
            }
        }
    }

    fn sign(&self, tag: u8, data: &[u8]) -> Result<String, Refusal> {
        let sig = self
            .wallet
            .sign_hash(signing_input(tag, data))
            .map_err(|e| Refusal::new(Kind::Internal, format!("signing: {e}")))?;
        Ok(format!("0x{}", hex::encode(sig.to_vec())))
    }

    /// Sign `(height, timestamp)` of the ibc chain, if it may be signed.
    pub async fn attest_ibc_state(
        &self,
        req: IbcStateRequest,
    ) -> Result<IbcStateResponse, Refusal> {
        let chain = self.ibc_chain(&req.chain)?;
        let started = Instant::now();
        match self.ibc_state_on(&chain, req.height).await {
            Ok(r) => {
                self.metrics
                    .ibc_signed(chain.name(), "state", started.elapsed().as_secs_f64());
                tracing::info!(
                    chain = chain.name(),
                    height = r.height,
                    timestamp = r.timestamp,
                    "signed ibc state attestation"
                );
                Ok(r)
            }
            Err(r) => {
                self.note_refusal(chain.name(), req.height, &r);
                Err(r)
            }
        }
    }

    async fn ibc_state_on(
        &self,
        chain: &IbcChain,
        height: u64,
    ) -> Result<IbcStateResponse, Refusal> {
        let timestamp = match chain {
            IbcChain::Evm(c, _) => c.state_at(height).await?.timestamp,
            IbcChain::Cosmos(c) => c.state_at(height).await?,
        };
        let record = self.record.clone();
        let caip2 = chain.caip2().to_string();
        let internal = |e: String| {
            Refusal::new(
                Kind::Internal,
                format!("cannot record the state before signing it, so it is not signed: {e}"),
            )
        };
        let (recorded, total) = tokio::task::spawn_blocking(move || {
            let mut r = record
                .lock()
                .map_err(|_| "record lock poisoned".to_string())?;
            let out = r
                .check_and_append_ibc(&caip2, height, timestamp)
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((out, r.len()))
        })
        .await
        .map_err(|e| internal(e.to_string()))?
        .map_err(internal)?;
        self.metrics.records(total);
        if let IbcRecorded::Conflict { timestamp: before } = recorded {
            return Err(Refusal::new(
                Kind::Conflict,
                format!(
                    "{}: CONFLICT at height {height}: this attestor already signed timestamp \
                     {before} in the ibc format, and the verified chain now says {timestamp}; \
                     refusing to sign a second state (a compromised checkpoint or endpoints, or a \
                     replaced record: investigate before anything else)",
                    chain.name()
                ),
            ));
        }
        let data = state_data(height, timestamp);
        Ok(IbcStateResponse {
            signature: self.sign(TAG_STATE, &data)?,
            attestation_data: format!("0x{}", hex::encode(&data)),
            signer: self.address,
            height,
            timestamp,
        })
    }

    /// Sign the values under `req.keys` at `req.height` of the ibc chain, if they verify.
    pub async fn attest_ibc_packets(
        &self,
        req: IbcPacketsRequest,
    ) -> Result<IbcPacketsResponse, Refusal> {
        let chain = self.ibc_chain(&req.chain)?;
        let keys = match parse_keys(&req.keys) {
            Ok(k) => k,
            Err(e) => {
                let r = Refusal::new(Kind::BadRequest, e);
                self.note_refusal(chain.name(), req.height, &r);
                return Err(r);
            }
        };
        let started = Instant::now();
        let result = match &chain {
            IbcChain::Evm(c, router) => c.packets_at(req.height, *router, &keys).await,
            IbcChain::Cosmos(c) => c.packets_at(req.height, &keys).await,
        };
        let signed = result.and_then(|commitments: Vec<H256>| {
            let packets: Vec<PacketCommitment> = keys
                .iter()
                .zip(commitments)
                .map(|(k, commitment)| PacketCommitment {
                    path: path_of(k),
                    commitment,
                })
                .collect();
            let data = packet_data(req.height, &packets);
            Ok(IbcPacketsResponse {
                signature: self.sign(TAG_PACKET, &data)?,
                attestation_data: format!("0x{}", hex::encode(&data)),
                signer: self.address,
                packets,
            })
        });
        match signed {
            Ok(r) => {
                self.metrics
                    .ibc_signed(chain.name(), "packets", started.elapsed().as_secs_f64());
                tracing::info!(
                    chain = chain.name(),
                    height = req.height,
                    keys = keys.len(),
                    absent = r.packets.iter().filter(|p| p.commitment.is_zero()).count(),
                    "signed ibc packet attestation"
                );
                Ok(r)
            }
            Err(r) => {
                self.note_refusal(chain.name(), req.height, &r);
                Err(r)
            }
        }
    }
}
