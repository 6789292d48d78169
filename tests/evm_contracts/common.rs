//! Helpers: contract artifacts, dev keys and attestors, path keys, sending a transaction or
//! expecting a custom-error revert, events of a receipt, and packet / proof tokens.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use ethers::abi::{self, Detokenize, RawLog, Token, Tokenize};
use ethers::contract::{Contract, ContractCall};
use ethers::middleware::SignerMiddleware;
use ethers::providers::{Http, Provider};
use ethers::signers::{LocalWallet, Signer};
use ethers::types::{Address, Bytes, TransactionReceipt, H256, U64};
use ethers::utils::{hex, id, keccak256};
use ferry_devnet::contracts::{compiled, Artifact};

pub(crate) type Client = SignerMiddleware<Provider<Http>, LocalWallet>;
pub(crate) type C = Contract<Client>;

/// anvil's well-known dev keys (accounts 0 and 1); never for real funds.
pub(crate) const KEY0: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
pub(crate) const KEY1: &str = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
pub(crate) const UNIVERSAL_ERROR_ACK: &str =
    "4774d4a575993f963b1c06573736617a457abef8589178db8d10c94b4ab511ab";
pub(crate) const GAS: u64 = 8_000_000;

pub(crate) fn artifacts() -> &'static BTreeMap<String, Artifact> {
    static ARTS: OnceLock<BTreeMap<String, Artifact>> = OnceLock::new();
    ARTS.get_or_init(|| compiled().unwrap_or_else(|e| panic!("compile contracts: {e}")))
}

pub(crate) fn wallet(hex_key: &str, chain_id: u64) -> LocalWallet {
    hex_key
        .parse::<LocalWallet>()
        .unwrap()
        .with_chain_id(chain_id)
}

pub(crate) fn attestor(i: u8) -> LocalWallet {
    LocalWallet::from_bytes(&keccak256([b'a', i])).unwrap()
}

/// `keccak256(abi.encodePacked(clientId, uint8 kind, uint64 sequence))`.
pub(crate) fn path_key(client_id: &str, kind: u8, seq: u64) -> H256 {
    let mut b = client_id.as_bytes().to_vec();
    b.push(kind);
    b.extend_from_slice(&seq.to_be_bytes());
    H256(keccak256(b))
}

pub(crate) fn selector(sig: &str) -> [u8; 4] {
    id(sig)
}

/// Names of every custom error in our ABIs by selector, for readable failures.
pub(crate) fn error_name(data: &[u8]) -> String {
    for art in artifacts().values() {
        for e in art.abi.errors() {
            let sig = format!(
                "{}({})",
                e.name,
                e.inputs
                    .iter()
                    .map(|p| p.kind.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            );
            if data.len() >= 4 && data[..4] == selector(&sig) {
                return sig;
            }
        }
    }
    format!("0x{}", hex::encode(data))
}

/// `name(args)` on `c`, its return value ignored: for `tx` and `expect_revert`.
pub(crate) fn call(c: &C, name: &str, args: impl Tokenize) -> ContractCall<Client, ()> {
    c.method(name, args)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Calldata of `name(args)` on `c`, for a `multicall`.
pub(crate) fn encode(c: &C, name: &str, args: impl Tokenize) -> Bytes {
    c.encode(name, args)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The view `name(args)` of `c`, by `eth_call`.
pub(crate) async fn view<T: Detokenize>(c: &C, name: &str, args: impl Tokenize) -> T {
    c.method(name, args)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .call()
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Runs `call` as `eth_call` and asserts it reverts with the custom error `sig`.
pub(crate) async fn expect_revert<D: Detokenize>(call: ContractCall<Client, D>, sig: &str) {
    match call.call().await {
        Ok(_) => panic!("expected revert {sig}, call succeeded"),
        Err(e) => {
            let data = e
                .as_revert()
                .unwrap_or_else(|| panic!("expected revert {sig}, got {e}"));
            assert!(
                data.len() >= 4 && data[..4] == selector(sig),
                "expected {sig}, got {}",
                error_name(data)
            );
        }
    }
}

/// Sends `call` (after an `eth_call` that names any revert) and returns its successful receipt.
pub(crate) async fn tx<D: Detokenize>(call: ContractCall<Client, D>) -> TransactionReceipt {
    let call = call.gas(GAS);
    if let Err(e) = call.call().await {
        let why = e.as_revert().map(|d| error_name(d)).unwrap_or_default();
        panic!("transaction would fail: {e} {why}");
    }
    let rc = call
        .send()
        .await
        .expect("send")
        .await
        .expect("receipt")
        .expect("mined");
    assert_eq!(rc.status, Some(U64::from(1)), "transaction reverted");
    rc
}

/// Sends `call` with a fixed gas limit and no `eth_call` first, and asserts it is mined as
/// reverted: for state that must stay unchanged after a transaction really hit the chain.
pub(crate) async fn tx_fails<D: Detokenize>(call: ContractCall<Client, D>) -> TransactionReceipt {
    let rc = call
        .gas(GAS)
        .send()
        .await
        .expect("send")
        .await
        .expect("receipt")
        .expect("mined");
    assert_eq!(
        rc.status,
        Some(U64::zero()),
        "transaction should have reverted"
    );
    rc
}

pub(crate) fn gas(rc: &TransactionReceipt) -> u64 {
    rc.gas_used.expect("gas used").as_u64()
}

/// The named parameters of the first `event` emitted by `c` in `rc`.
pub(crate) fn event(c: &C, rc: &TransactionReceipt, name: &str) -> Option<BTreeMap<String, Token>> {
    events(c, rc, name).into_iter().next()
}

/// The named parameters of every `event` emitted by `c` in `rc`, in order.
pub(crate) fn events(c: &C, rc: &TransactionReceipt, name: &str) -> Vec<BTreeMap<String, Token>> {
    let ev = c
        .abi()
        .event(name)
        .unwrap_or_else(|e| panic!("event {name}: {e}"));
    rc.logs
        .iter()
        .filter(|l| l.address == c.address() && l.topics.first() == Some(&ev.signature()))
        .filter_map(|l| {
            ev.parse_log(RawLog {
                topics: l.topics.clone(),
                data: l.data.to_vec(),
            })
            .ok()
        })
        .map(|log| log.params.into_iter().map(|p| (p.name, p.value)).collect())
        .collect()
}

/// The `uint` parameter `name` of a parsed event.
pub(crate) fn uint(ev: &BTreeMap<String, Token>, name: &str) -> u64 {
    ev[name].clone().into_uint().unwrap().as_u64()
}

pub(crate) fn packet_seq(packet: &Token) -> u64 {
    match packet {
        Token::Tuple(f) => f[0].clone().into_uint().unwrap().as_u64(),
        _ => panic!("packet is a tuple"),
    }
}

/// A copy of `packet` with field `i` replaced.
pub(crate) fn with_field(packet: &Token, i: usize, value: Token) -> Token {
    let Token::Tuple(mut f) = packet.clone() else {
        panic!("packet is a tuple")
    };
    f[i] = value;
    Token::Tuple(f)
}

pub(crate) fn encode_proof(account: &[Bytes], storage: &[Bytes]) -> Bytes {
    let arr = |v: &[Bytes]| Token::Array(v.iter().map(|b| Token::Bytes(b.to_vec())).collect());
    abi::encode(&[arr(account), arr(storage)]).into()
}

/// A 65-byte `r ‖ s ‖ v` signature of `digest` (signed as is, no EIP-191 prefix).
pub(crate) fn sign(w: &LocalWallet, digest: H256) -> Vec<u8> {
    w.sign_hash(digest).unwrap().to_vec()
}

/// The addresses of `wallets`, in order.
pub(crate) fn addrs(wallets: &[&LocalWallet]) -> Vec<Address> {
    wallets.iter().map(|w| w.address()).collect()
}

/// Flips a byte in the middle of node `node` of the account (or storage) half of `proof`.
pub(crate) fn tamper(proof: &Bytes, account_half: bool, node: usize) -> Bytes {
    let t = abi::decode(
        &[
            abi::ParamType::Array(Box::new(abi::ParamType::Bytes)),
            abi::ParamType::Array(Box::new(abi::ParamType::Bytes)),
        ],
        proof,
    )
    .unwrap();
    let halves: Vec<Vec<Bytes>> = t
        .into_iter()
        .map(|h| {
            h.into_array()
                .unwrap()
                .into_iter()
                .map(|b| Bytes::from(b.into_bytes().unwrap()))
                .collect()
        })
        .collect();
    let (mut acc, mut sto) = (halves[0].clone(), halves[1].clone());
    let half = if account_half { &mut acc } else { &mut sto };
    let node = node.min(half.len() - 1);
    let mut n = half[node].to_vec();
    let mid = n.len() / 2;
    n[mid] ^= 0x01;
    half[node] = n.into();
    encode_proof(&acc, &sto)
}

pub(crate) fn hex_addr(a: Address) -> String {
    format!("{a:#x}")
}
