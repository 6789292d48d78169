//! Two anvils with Ferry's contracts deployed and wired to each other (`World`), one chain's
//! handles (`Chain`), and the relayer's moves: attest, send, prove, receive, relay, acknowledge.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ethers::abi::{self, Token};
use ethers::contract::ContractFactory;
use ethers::middleware::SignerMiddleware;
use ethers::providers::{Http, Middleware, Provider};
use ethers::signers::{LocalWallet, Signer};
use ethers::types::{Address, BlockId, BlockNumber, Bytes, TransactionReceipt, H256, U256};
use ethers::utils::keccak256;
use ferry_tests::anvil::Anvil;
use sha2::{Digest, Sha256};

use crate::common::{
    artifacts, attestation_data, attestor, call, encode, encode_proof, event, gas, packet_seq,
    path_key, tx, view, wallet, Client, C, KEY0, KEY1,
};

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
    /// The id, on this chain, of the light client of the other chain.
    pub(crate) client_id: &'static str,
}

impl Chain {
    pub(crate) fn me(&self) -> Address {
        self.client.address()
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
            let router = deploy(&client, "FerryRouter", ()).await;
            parts.push((provider, client, stranger, router));
        }
        let attestors: Vec<LocalWallet> = (0..3).map(attestor).collect();
        let addrs: Vec<Token> = attestors
            .iter()
            .map(|w| Token::Address(w.address()))
            .collect();
        let mut chains = Vec::new();
        let routers = [parts[0].3.address(), parts[1].3.address()];
        let providers = [parts[0].0.clone(), parts[1].0.clone()];
        let ids = [("to-b", "to-a"), ("to-a", "to-b")];
        let mut anvils = [anvil_a, anvil_b].into_iter();
        for (i, (provider, client, stranger, router)) in parts.into_iter().enumerate() {
            // The light client starts from the other chain's latest block, router deployed.
            let other = providers[1 - i]
                .get_block(BlockNumber::Latest)
                .await
                .unwrap()
                .unwrap();
            let light = deploy(
                &client,
                "AttestedLightClient",
                (
                    Token::Array(addrs.clone()),
                    Token::Uint(2.into()),
                    Token::Address(routers[1 - i]),
                    Token::Uint(other.number.unwrap().as_u64().into()),
                    Token::Uint(other.timestamp),
                    Token::FixedBytes(other.state_root.0.to_vec()),
                ),
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
            let (id, counterparty) = ids[i];
            tx(call(
                &router,
                "addClient",
                (id.to_string(), light.address(), counterparty.to_string()),
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
                client_id: id,
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

    /// `updateMsg` for (height, timestamp, root) signed by `signers` (raw 65-byte signatures).
    pub(crate) fn update_msg(&self, state: (u64, u64, H256), signers: &[&LocalWallet]) -> Bytes {
        let data = attestation_data(state);
        let digest = H256::from_slice(&Sha256::digest(&data));
        let sigs = signers
            .iter()
            .map(|w| Token::Bytes(w.sign_hash(digest).unwrap().to_vec()))
            .collect();
        abi::encode(&[Token::Bytes(data), Token::Array(sigs)]).into()
    }

    /// Calldata of `updateClient` on `on` for `state` signed by `signers`, for a `multicall`.
    pub(crate) fn encode_update(
        &self,
        on: &Chain,
        state: (u64, u64, H256),
        signers: &[&LocalWallet],
    ) -> Bytes {
        let msg = self.update_msg(state, signers);
        encode(&on.router, "updateClient", (on.client_id.to_string(), msg))
    }

    /// Attests the other chain's latest block to `on`'s light client; returns (height, gas).
    pub(crate) async fn update(&self, on: &Chain) -> (u64, u64) {
        let state = self.other(on).latest().await;
        let msg = self.update_msg(state, &[&self.attestors[0], &self.attestors[1]]);
        let rc = tx(call(
            &on.router,
            "updateClient",
            (on.client_id.to_string(), msg),
        ))
        .await;
        (state.0, gas(&rc))
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
