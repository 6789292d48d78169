//! Two anvils with Ferry's contracts deployed and wired to each other (`World`), one chain's
//! handles (`Chain`), and the relayer's moves: attest, send, prove, receive, relay, acknowledge.
//!
//! As on the devnet, both routers name their client of the other chain `attestations-0`, and the
//! same deployer deploys in the same order on both chains, so each contract has the same address
//! on both: exactly the setting where an attestation or relayer calldata meant for one chain
//! could be replayed on the other.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ethers::abi::{self, Token};
use ethers::contract::ContractFactory;
use ethers::middleware::SignerMiddleware;
use ethers::providers::{Http, Middleware, Provider};
use ethers::signers::{LocalWallet, Signer};
use ethers::types::{Address, BlockId, BlockNumber, Bytes, TransactionReceipt, H256, U256};
use ethers::utils::keccak256;
use ferry::chain::evm::attestation::{
    caip2_eip155, encode_update, state_digest, Domain, StateAttestation,
};
use ferry_tests::anvil::Anvil;

use crate::common::{
    artifacts, attestor, call, encode, encode_proof, event, gas, packet_seq, path_key, sign, tx,
    view, wallet, Client, C, KEY0, KEY1,
};

/// Both routers' client of the other chain, as on the devnet.
pub(crate) const CLIENT: &str = "attestations-0";
/// A second client pair, added by `World::second_pair`.
pub(crate) const CLIENT2: &str = "attestations-1";
pub(crate) const CHAIN_A: u64 = 31337;
pub(crate) const CHAIN_B: u64 = 33333;
/// The routers' timelock (`adminDelay`), seconds.
pub(crate) const ADMIN_DELAY: u64 = 3600;

pub(crate) struct Chain {
    _anvil: Anvil,
    pub(crate) provider: Provider<Http>,
    /// Account 0: owner, relayer and user.
    pub(crate) client: Arc<Client>,
    /// Account 1: someone with no rights.
    pub(crate) stranger: Arc<Client>,
    pub(crate) router: C,
    pub(crate) light: C,
    pub(crate) ics20: C,
    pub(crate) token: C,
    /// The id, on this chain, of the light client of the other chain (`CLIENT`).
    pub(crate) client_id: &'static str,
    pub(crate) chain_id: u64,
}

impl Chain {
    pub(crate) fn me(&self) -> Address {
        self.client.address()
    }

    /// The EIP-712 domain of this chain's light client `light`.
    pub(crate) fn domain_of(&self, light: &C) -> Domain {
        Domain {
            host_chain_id: self.chain_id,
            light_client: light.address(),
        }
    }

    pub(crate) async fn latest(&self) -> (u64, u64, H256) {
        let b = self
            .provider
            .get_block(BlockNumber::Latest)
            .await
            .unwrap()
            .unwrap();
        (
            b.number.unwrap().as_u64(),
            b.timestamp.as_u64(),
            b.state_root,
        )
    }

    pub(crate) async fn rpc(&self, method: &str, params: serde_json::Value) -> serde_json::Value {
        self.provider.request(method, params).await.unwrap()
    }

    /// Moves this chain's clock `seconds` ahead and mines a block.
    pub(crate) async fn pass_time(&self, seconds: u64) {
        self.rpc("evm_increaseTime", serde_json::json!([seconds]))
            .await;
        self.rpc("evm_mine", serde_json::json!([])).await;
    }

    /// The acknowledgement of the `WriteAcknowledgement` this router emitted in `rc`.
    pub(crate) fn written_ack(&self, rc: &TransactionReceipt) -> Vec<u8> {
        event(&self.router, rc, "WriteAcknowledgement").expect("WriteAcknowledgement")
            ["acknowledgement"]
            .clone()
            .into_bytes()
            .unwrap()
    }

    /// `eth_getProof` of this router's slot for `key` at `height`, as the light clients take it.
    pub(crate) async fn proof(&self, key: H256, height: u64) -> Bytes {
        let slot = H256(keccak256(abi::encode(&[
            Token::FixedBytes(key.0.to_vec()),
            Token::Uint(U256::zero()),
        ])));
        let p = self
            .provider
            .get_proof(
                self.router.address(),
                vec![slot],
                Some(BlockId::from(height)),
            )
            .await
            .unwrap();
        encode_proof(&p.account_proof, &p.storage_proof[0].proof)
    }

    pub(crate) async fn balance(&self, token: Address, who: Address) -> U256 {
        let t = C::new(
            token,
            artifacts()["TestToken"].abi.clone(),
            self.client.clone(),
        );
        view::<U256>(&t, "balanceOf", who).await
    }
}

pub(crate) async fn deploy(client: &Arc<Client>, name: &str, args: impl abi::Tokenize) -> C {
    let art = &artifacts()[name];
    ContractFactory::new(art.abi.clone(), art.bytecode.clone(), client.clone())
        .deploy(args)
        .unwrap_or_else(|e| panic!("deploy {name}: {e}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("deploy {name}: {e}"))
}

/// An `AttestedLightClient` on `client`'s chain of the chain behind `other` (id `other_chain`),
/// trusting its latest block; `other_router` is the router it proves storage of.
pub(crate) async fn deploy_light(
    client: &Arc<Client>,
    other: &Provider<Http>,
    other_chain: u64,
    other_router: Address,
    attestors: &[Address],
    quorum: u8,
) -> C {
    let b = other.get_block(BlockNumber::Latest).await.unwrap().unwrap();
    deploy(
        client,
        "AttestedLightClient",
        (
            Token::Array(attestors.iter().map(|a| Token::Address(*a)).collect()),
            Token::Uint(quorum.into()),
            Token::String(caip2_eip155(other_chain)),
            Token::Address(other_router),
            Token::Uint(b.number.unwrap().as_u64().into()),
            Token::Uint(b.timestamp),
            Token::FixedBytes(b.state_root.0.to_vec()),
        ),
    )
    .await
}

/// `updateMsg` of `state` of chain `attested_chain` (CAIP-2) signed by `signers` for the client
/// named by `domain`, built with the relayer's own `encode_update`.
pub(crate) fn signed_update(
    domain: &Domain,
    attested_chain: &str,
    state: (u64, u64, H256),
    signers: &[&LocalWallet],
) -> Bytes {
    let att = StateAttestation {
        attested_chain: attested_chain.to_string(),
        height: state.0,
        timestamp: state.1,
        state_root: state.2,
    };
    let digest = state_digest(domain, &att);
    let sigs: Vec<Vec<u8>> = signers.iter().map(|w| sign(w, digest)).collect();
    encode_update(&att, &sigs).into()
}

pub(crate) struct World {
    pub(crate) a: Chain,
    pub(crate) b: Chain,
    pub(crate) attestors: Vec<LocalWallet>,
}

impl World {
    pub(crate) async fn new() -> World {
        artifacts();
        let (anvil_a, anvil_b) = (Anvil::start(31337), Anvil::start(33333));
        let mut parts = Vec::new();
        for (anvil, chain_id) in [(&anvil_a, 31337u64), (&anvil_b, 33333)] {
            let provider = Provider::<Http>::try_from(anvil.url.as_str())
                .unwrap()
                .interval(Duration::from_millis(50));
            let deadline = Instant::now() + Duration::from_secs(30);
            while provider.get_block_number().await.is_err() {
                assert!(Instant::now() < deadline, "anvil did not start");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let client = Arc::new(SignerMiddleware::new(
                provider.clone(),
                wallet(KEY0, chain_id),
            ));
            let stranger = Arc::new(SignerMiddleware::new(
                provider.clone(),
                wallet(KEY1, chain_id),
            ));
            let router = deploy(&client, "FerryRouter", ADMIN_DELAY).await;
            parts.push((provider, client, stranger, router));
        }
        let attestors: Vec<LocalWallet> = (0..3).map(attestor).collect();
        let addrs: Vec<Address> = attestors.iter().map(|w| w.address()).collect();
        let mut chains = Vec::new();
        let routers = [parts[0].3.address(), parts[1].3.address()];
        let providers = [parts[0].0.clone(), parts[1].0.clone()];
        let chain_ids = [CHAIN_A, CHAIN_B];
        let mut anvils = [anvil_a, anvil_b].into_iter();
        for (i, (provider, client, stranger, router)) in parts.into_iter().enumerate() {
            // The light client starts from the other chain's latest block, router deployed.
            let light = deploy_light(
                &client,
                &providers[1 - i],
                chain_ids[1 - i],
                routers[1 - i],
                &addrs,
                2,
            )
            .await;
            let ics20 = deploy(&client, "ICS20Transfer", router.address()).await;
            let token = deploy(
                &client,
                "TestToken",
                (
                    "Test Token".to_string(),
                    "TST".to_string(),
                    18u8,
                    U256::exp10(24),
                ),
            )
            .await;
            tx(call(
                &router,
                "addClient",
                (CLIENT.to_string(), light.address(), CLIENT.to_string()),
            ))
            .await;
            tx(call(
                &router,
                "registerApp",
                ("transfer".to_string(), ics20.address()),
            ))
            .await;
            tx(call(&token, "approve", (ics20.address(), U256::MAX))).await;
            chains.push(Chain {
                _anvil: anvils.next().unwrap(),
                provider,
                client,
                stranger,
                router,
                light,
                ics20,
                token,
                client_id: CLIENT,
                chain_id: chain_ids[i],
            });
        }
        let b = chains.pop().unwrap();
        let a = chains.pop().unwrap();
        World { a, b, attestors }
    }

    /// (chain receiving packets from `from`.)
    pub(crate) fn other<'a>(&'a self, c: &Chain) -> &'a Chain {
        if std::ptr::eq(c, &self.a) {
            &self.b
        } else {
            &self.a
        }
    }

    /// `updateMsg` for `on`'s client of the other chain: (height, timestamp, root) of the other
    /// chain, signed by `signers` for exactly that client (EIP-712, `attestation.rs`).
    pub(crate) fn update_msg(
        &self,
        on: &Chain,
        state: (u64, u64, H256),
        signers: &[&LocalWallet],
    ) -> Bytes {
        let attested = caip2_eip155(self.other(on).chain_id);
        signed_update(&on.domain_of(&on.light), &attested, state, signers)
    }

    /// Calldata of `updateClient` on `on` for `state` signed by `signers`, for a `multicall`.
    pub(crate) fn encode_update(
        &self,
        on: &Chain,
        state: (u64, u64, H256),
        signers: &[&LocalWallet],
    ) -> Bytes {
        let msg = self.update_msg(on, state, signers);
        encode(&on.router, "updateClient", (on.client_id.to_string(), msg))
    }

    /// Attests the other chain's latest block to `on`'s light client; returns (height, gas).
    pub(crate) async fn update(&self, on: &Chain) -> (u64, u64) {
        let state = self.other(on).latest().await;
        let msg = self.update_msg(on, state, &[&self.attestors[0], &self.attestors[1]]);
        let rc = tx(call(
            &on.router,
            "updateClient",
            (on.client_id.to_string(), msg),
        ))
        .await;
        (state.0, gas(&rc))
    }

    /// A second client pair `CLIENT2` on both routers (light clients of each other, same
    /// attestors, counterparty `CLIENT2`); returns (A's new light client, B's).
    pub(crate) async fn second_pair(&self) -> (C, C) {
        let addrs: Vec<Address> = self.attestors.iter().map(|w| w.address()).collect();
        let mut out = Vec::new();
        for on in [&self.a, &self.b] {
            let other = self.other(on);
            let light = deploy_light(
                &on.client,
                &other.provider,
                other.chain_id,
                other.router.address(),
                &addrs,
                2,
            )
            .await;
            tx(call(
                &on.router,
                "addClient",
                (CLIENT2.to_string(), light.address(), CLIENT2.to_string()),
            ))
            .await;
            out.push(light);
        }
        let b = out.pop().unwrap();
        (out.pop().unwrap(), b)
    }

    /// `sendTransfer` on `from`; returns the packet from `SendPacket` and the receipt.
    pub(crate) async fn send(
        &self,
        from: &Chain,
        token: Address,
        amount: u64,
        receiver: &str,
        timeout: u64,
    ) -> (Token, TransactionReceipt) {
        let rc = tx(call(
            &from.ics20,
            "sendTransfer",
            (
                token,
                U256::from(amount),
                receiver.to_string(),
                from.client_id.to_string(),
                timeout,
                String::new(),
            ),
        ))
        .await;
        let ev = event(&from.router, &rc, "SendPacket").expect("SendPacket");
        (ev["packet"].clone(), rc)
    }

    /// Proof that `from` committed `packet`, at a height just attested to the other chain.
    pub(crate) async fn packet_proof(&self, from: &Chain, packet: &Token) -> (Bytes, u64) {
        let to = self.other(from);
        let (h, _) = self.update(to).await;
        let key = path_key(from.client_id, 1, packet_seq(packet));
        (from.proof(key, h).await, h)
    }

    pub(crate) async fn recv(
        &self,
        to: &Chain,
        packet: &Token,
        proof: Bytes,
        h: u64,
    ) -> TransactionReceipt {
        tx(call(&to.router, "recvPacket", (packet.clone(), proof, h))).await
    }

    /// Relays `packet` from `from` to the other chain; returns the receipt and the written ack.
    pub(crate) async fn relay(
        &self,
        from: &Chain,
        packet: &Token,
    ) -> (TransactionReceipt, Vec<u8>) {
        let (proof, h) = self.packet_proof(from, packet).await;
        let to = self.other(from);
        let rc = self.recv(to, packet, proof, h).await;
        let ack = to.written_ack(&rc);
        (rc, ack)
    }

    /// Acknowledges on `from` a packet it sent, with a proof of the ack on the other chain.
    pub(crate) async fn ack(&self, from: &Chain, packet: &Token, ack: &[u8]) -> TransactionReceipt {
        let (h, _) = self.update(from).await;
        let to = self.other(from);
        let proof = to
            .proof(path_key(to.client_id, 3, packet_seq(packet)), h)
            .await;
        tx(call(
            &from.router,
            "ackPacket",
            (packet.clone(), Bytes::from(ack.to_vec()), proof, h),
        ))
        .await
    }
}
