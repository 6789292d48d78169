//! The pure Ethereum light client (`ferry-light-client-ethereum`) against a live anvil.
//!
//! 1. anvil (`ferry_tests::anvil`: `$FERRY_ANVIL`, else the pinned npm package) on a free
//!    127.0.0.1 port, one block a second; stopped by pid when the test ends.
//! 2. Over plain JSON-RPC: a value transfer, a contract creation whose init code SSTOREs two slots
//!    (and returns one byte of code), and `anvil_setStorageAt` for a few more slots (one a full
//!    32-byte value, so its leaf is hashed rather than embedded).
//! 3. Every block from genesis: the header built from the JSON fields hashes to the block's
//!    `hash` and round-trips through RLP; the chain verifies from the genesis checkpoint and from a
//!    later one; finality by depth; a broken parent link, a skipped block and a rewritten header
//!    are rejected.
//! 4. `eth_getProof` at a fixed block: the contract's, a funded account's and a missing account's
//!    proofs against that block's `stateRoot` (nonce, balance, storage root, code hash match);
//!    storage proofs for set and unset slots (value / absence); a tampered node, a dropped node, a
//!    wrong state root and a wrong storage root are rejected.
//!
//! Run: `cargo test -p ferry-tests --test ethereum_proofs -- --nocapture`

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferry_light_client_ethereum::{
    keccak256, verify_account_proof, verify_chain, verify_finality, verify_storage_proof,
    verify_storage_under_state_root, verify_update, Account, Address, Checkpoint, Error, Header,
    Options, EMPTY_CODE_HASH, EMPTY_ROOT, H256, U256,
};
use ferry_tests::anvil::Anvil;
use serde_json::{json, Value};

// --- JSON-RPC ----------------------------------------------------------------------------------

struct Rpc {
    http: reqwest::Client,
    url: String,
}

impl Rpc {
    async fn try_call(&self, method: &str, params: Value) -> Result<Value, String> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let resp = self
            .http
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let v: Value = resp.json().await.map_err(|e| e.to_string())?;
        match v.get("error") {
            Some(e) => Err(format!("{method}: {e}")),
            None => Ok(v["result"].clone()),
        }
    }

    async fn call(&self, method: &str, params: Value) -> Value {
        self.try_call(method, params)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    async fn block_number(&self) -> u64 {
        quantity(&self.call("eth_blockNumber", json!([])).await)
    }

    async fn block(&self, number: u64) -> Value {
        self.call(
            "eth_getBlockByNumber",
            json!([format!("{number:#x}"), false]),
        )
        .await
    }

    async fn wait_receipt(&self, tx: &Value) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let r = self.call("eth_getTransactionReceipt", json!([tx])).await;
            if !r.is_null() {
                assert_eq!(r["status"], "0x1", "transaction failed: {r}");
                return r;
            }
            assert!(Instant::now() < deadline, "no receipt for {tx}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn wait_block(&self, number: u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.block_number().await < number {
            assert!(Instant::now() < deadline, "block {number} never came");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

// --- JSON field parsing --------------------------------------------------------------------------

fn hex_bytes(v: &Value) -> Vec<u8> {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("not a hex string: {v}"));
    let s = s.strip_prefix("0x").unwrap_or(s);
    s.as_bytes()
        .chunks(2)
        .map(|pair| {
            assert_eq!(pair.len(), 2, "odd hex: {s}");
            u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).expect("hex")
        })
        .collect()
}

fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::from("0x");
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn h256(v: &Value) -> H256 {
    H256::from_slice(&hex_bytes(v))
}

fn fixed<const N: usize>(v: &Value) -> [u8; N] {
    hex_bytes(v).try_into().expect("fixed-length hex")
}

fn quantity(v: &Value) -> u64 {
    let s = v.as_str().unwrap_or_else(|| panic!("not a quantity: {v}"));
    u64::from_str_radix(s.trim_start_matches("0x"), 16).expect("quantity")
}

fn u256(v: &Value) -> U256 {
    let s = v.as_str().unwrap_or_else(|| panic!("not a quantity: {v}"));
    U256::from_str_radix(s.trim_start_matches("0x"), 16).expect("quantity")
}

fn address(v: &Value) -> Address {
    Address::from_slice(&hex_bytes(v))
}

fn opt<T>(b: &Value, field: &str, f: impl Fn(&Value) -> T) -> Option<T> {
    b.get(field).filter(|v| !v.is_null()).map(f)
}

/// The header from an `eth_getBlockByNumber` result's fields.
fn header_from_json(b: &Value) -> Header {
    Header {
        parent_hash: h256(&b["parentHash"]),
        ommers_hash: h256(&b["sha3Uncles"]),
        beneficiary: address(&b["miner"]),
        state_root: h256(&b["stateRoot"]),
        transactions_root: h256(&b["transactionsRoot"]),
        receipts_root: h256(&b["receiptsRoot"]),
        logs_bloom: fixed(&b["logsBloom"]),
        difficulty: u256(&b["difficulty"]),
        number: quantity(&b["number"]),
        gas_limit: quantity(&b["gasLimit"]),
        gas_used: quantity(&b["gasUsed"]),
        timestamp: quantity(&b["timestamp"]),
        extra_data: hex_bytes(&b["extraData"]),
        mix_hash: h256(&b["mixHash"]),
        nonce: fixed(&b["nonce"]),
        base_fee_per_gas: opt(b, "baseFeePerGas", u256),
        withdrawals_root: opt(b, "withdrawalsRoot", h256),
        blob_gas_used: opt(b, "blobGasUsed", quantity),
        excess_blob_gas: opt(b, "excessBlobGas", quantity),
        parent_beacon_block_root: opt(b, "parentBeaconBlockRoot", h256),
        requests_hash: opt(b, "requestsHash", h256),
    }
}

fn proof_nodes(v: &Value) -> Vec<Vec<u8>> {
    v.as_array()
        .expect("proof list")
        .iter()
        .map(hex_bytes)
        .collect()
}

fn slot(n: u64) -> H256 {
    H256::from_low_u64_be(n)
}

// --- the test ------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ethereum_light_client_against_anvil() {
    let anvil = Anvil::start_with_block_time(31337, 1);
    let rpc = Rpc {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
        url: anvil.url.clone(),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while rpc.try_call("eth_chainId", json!([])).await.is_err() {
        assert!(Instant::now() < deadline, "anvil did not come up");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(rpc.call("eth_chainId", json!([])).await, "0x7a69");

    // --- transactions and storage ---------------------------------------------------------------
    let accounts = rpc.call("eth_accounts", json!([])).await;
    let (alice, bob) = (accounts[0].clone(), accounts[1].clone());
    let transfer = rpc
        .call(
            "eth_sendTransaction",
            json!([{"from": alice, "to": bob, "value": "0xde0b6b3a7640000"}]),
        )
        .await;
    rpc.wait_receipt(&transfer).await;

    // PUSH1 0x2a PUSH1 0 SSTORE; PUSH1 1 PUSH1 1 SSTORE; PUSH1 1 PUSH1 0 RETURN: stores slots 0 and
    // 1, and returns one zero byte (STOP) as the runtime code.
    let init_code = "0x602a600055600160015560016000f3";
    let create = rpc
        .call(
            "eth_sendTransaction",
            json!([{"from": alice, "data": init_code, "gas": "0x30000"}]),
        )
        .await;
    let receipt = rpc.wait_receipt(&create).await;
    let contract = address(&receipt["contractAddress"]);
    let contract_hex = to_hex(contract.as_bytes());
    let long_value = keccak256(b"ferry");
    for (s, value) in [(5u64, slot(0xbeef)), (6, long_value)] {
        rpc.call(
            "anvil_setStorageAt",
            json!([
                contract_hex,
                to_hex(slot(s).as_bytes()),
                to_hex(value.as_bytes())
            ]),
        )
        .await;
    }
    // Let a few blocks be mined on top of the changes (setStorageAt lands in the next block).
    let proof_block = rpc.block_number().await + 1;
    rpc.wait_block(proof_block + 3).await;
    let head = rpc.block_number().await;
    eprintln!("contract {contract_hex}; proofs at block {proof_block}; head {head}");

    // --- headers: hashing, chain, finality ------------------------------------------------------
    let mut headers = Vec::new();
    for number in 0..=head {
        let block = rpc.block(number).await;
        let header = header_from_json(&block);
        assert_eq!(header.hash(), h256(&block["hash"]), "block {number} hash");
        let raw = header.encode();
        assert_eq!(
            Header::decode(&raw).unwrap(),
            header,
            "block {number} round trip"
        );
        assert_eq!(keccak256(&raw), header.hash());
        headers.push(header);
    }
    let fields = headers.last().unwrap().encode();
    eprintln!(
        "{} headers hash to their JSON-RPC hashes (head has {} RLP bytes, Prague: {})",
        headers.len(),
        fields.len(),
        headers.last().unwrap().requests_hash.is_some()
    );

    let genesis = Checkpoint::of(&headers[0]);
    let tip = verify_chain(&genesis, &headers[1..]).expect("chain from genesis");
    assert_eq!(tip.number, head);
    assert_eq!(tip.hash, headers.last().unwrap().hash());
    let mid = Checkpoint::of(&headers[2]);
    assert_eq!(verify_chain(&mid, &headers[3..]), Ok(tip));

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let options = Options {
        confirmation_depth: 3,
        max_clock_drift_secs: 30,
    };
    let update = verify_update(&genesis, &headers[1..], &options, now).expect("update");
    assert_eq!(update.head, tip);
    let finalized = update.finalized.expect("something is 3 deep");
    assert_eq!(finalized.number, head - 3);
    assert_eq!(finalized.hash, headers[(head - 3) as usize].hash());
    verify_finality(proof_block, head, 3).expect("proof block is final");
    assert_eq!(
        verify_finality(head - 1, head, 3),
        Err(Error::NotFinal {
            number: head - 1,
            head,
            depth: 3
        })
    );
    // A header timestamped far ahead of `now` is refused.
    let early = verify_update(&genesis, &headers[1..], &options, 1_000).unwrap_err();
    assert_eq!(early.reason(), "header_from_future");

    // Broken parent link: a header claiming another parent.
    let mut broken = headers.clone();
    broken[4].parent_hash = broken[2].hash();
    assert_eq!(
        verify_chain(&genesis, &broken[1..]).unwrap_err().reason(),
        "parent_hash_mismatch"
    );
    // A rewritten header (different state root) no longer hashes to its child's parent hash.
    let mut rewritten = headers.clone();
    rewritten[proof_block as usize].state_root = H256::repeat_byte(7);
    assert_eq!(
        verify_chain(&genesis, &rewritten[1..]),
        Err(Error::ParentHashMismatch {
            number: proof_block + 1,
            expected: rewritten[proof_block as usize].hash(),
            found: headers[proof_block as usize].hash(),
        })
    );
    // A skipped block.
    let mut skipped = headers.clone();
    skipped.remove(3);
    assert_eq!(
        verify_chain(&genesis, &skipped[1..]),
        Err(Error::NonConsecutiveNumber {
            parent: 2,
            child: 4
        })
    );
    // A checkpoint that is not the chain's.
    let stranger = Checkpoint {
        hash: H256::repeat_byte(9),
        ..genesis
    };
    assert_eq!(
        verify_chain(&stranger, &headers[1..]).unwrap_err().reason(),
        "parent_hash_mismatch"
    );

    // --- EIP-1186 proofs ------------------------------------------------------------------------
    let header = &headers[proof_block as usize];
    let state_root = header.state_root;
    let at = format!("{proof_block:#x}");
    let slots = [0u64, 1, 5, 6, 2, 0x99];
    let slot_keys: Vec<String> = slots.iter().map(|s| to_hex(slot(*s).as_bytes())).collect();
    let proof = rpc
        .call("eth_getProof", json!([contract_hex, slot_keys, at]))
        .await;
    let account_proof = proof_nodes(&proof["accountProof"]);
    let account = verify_account_proof(&state_root, &contract, &account_proof)
        .expect("contract account proof")
        .expect("contract exists");
    assert_eq!(
        account,
        Account {
            nonce: quantity(&proof["nonce"]),
            balance: u256(&proof["balance"]),
            storage_root: h256(&proof["storageHash"]),
            code_hash: h256(&proof["codeHash"]),
        }
    );
    assert_eq!(account.nonce, 1);
    assert_eq!(
        account.code_hash,
        keccak256([0x00u8]),
        "runtime code is one STOP"
    );
    assert_ne!(account.storage_root, EMPTY_ROOT);
    eprintln!(
        "contract account: {} proof nodes, storage root {:?}",
        account_proof.len(),
        account.storage_root
    );

    let expected: [Option<U256>; 6] = [
        Some(U256::from(0x2a)),
        Some(U256::from(1)),
        Some(U256::from(0xbeef)),
        Some(U256::from_big_endian(long_value.as_bytes())),
        None,
        None,
    ];
    let storage_proofs = proof["storageProof"].as_array().expect("storageProof");
    assert_eq!(storage_proofs.len(), slots.len());
    for ((s, entry), want) in slots.iter().zip(storage_proofs).zip(expected) {
        let nodes = proof_nodes(&entry["proof"]);
        let got = verify_storage_proof(&account.storage_root, &slot(*s), &nodes)
            .unwrap_or_else(|e| panic!("slot {s}: {e}"));
        assert_eq!(got, want, "slot {s}");
        assert_eq!(
            got.unwrap_or_default(),
            u256(&entry["value"]),
            "slot {s} vs RPC value"
        );
        assert_eq!(
            verify_storage_under_state_root(
                &state_root,
                &contract,
                &account_proof,
                &slot(*s),
                &nodes
            ),
            Ok(want)
        );
        eprintln!("slot {s:#x}: {} proof nodes, value {want:?}", nodes.len());
    }

    // A funded account and a missing one.
    let alice_addr = address(&alice);
    let p = rpc.call("eth_getProof", json!([alice, [], at])).await;
    let alice_proof = proof_nodes(&p["accountProof"]);
    let alice_account = verify_account_proof(&state_root, &alice_addr, &alice_proof)
        .expect("alice proof")
        .expect("alice exists");
    assert_eq!(alice_account.nonce, 2, "a transfer and a creation");
    assert_eq!(alice_account.balance, u256(&p["balance"]));
    assert_eq!(alice_account.storage_root, EMPTY_ROOT);
    assert_eq!(alice_account.code_hash, EMPTY_CODE_HASH);
    let missing = Address::repeat_byte(0xd1);
    let p = rpc
        .call("eth_getProof", json!([to_hex(missing.as_bytes()), [], at]))
        .await;
    let missing_proof = proof_nodes(&p["accountProof"]);
    assert_eq!(
        verify_account_proof(&state_root, &missing, &missing_proof),
        Ok(None)
    );
    assert_eq!(quantity(&p["balance"]), 0);

    // --- rejections -----------------------------------------------------------------------------
    // A tampered node at every position of the account proof.
    for index in 0..account_proof.len() {
        let mut bad = account_proof.clone();
        let mid = bad[index].len() / 2;
        bad[index][mid] ^= 0x01;
        let err = verify_account_proof(&state_root, &contract, &bad).unwrap_err();
        let want = if index == 0 {
            "root_hash_mismatch"
        } else {
            "node_hash_mismatch"
        };
        assert_eq!(err.reason(), want, "account proof node {index}: {err}");
    }
    // A dropped node.
    let mut bad = account_proof.clone();
    bad.pop();
    assert_eq!(
        verify_account_proof(&state_root, &contract, &bad),
        Err(Error::MissingProofNode {
            index: account_proof.len() - 1
        })
    );
    // A wrong state root: the genesis header's, and one from before the contract existed.
    let before = &headers[1].state_root;
    assert_ne!(*before, state_root);
    for root in [headers[0].state_root, *before, H256::repeat_byte(1)] {
        assert_eq!(
            verify_account_proof(&root, &contract, &account_proof),
            Err(Error::RootHashMismatch {
                expected: root,
                found: keccak256(&account_proof[0])
            })
        );
    }
    // The contract's proof is not a proof of another account.
    match verify_account_proof(&state_root, &alice_addr, &account_proof) {
        Ok(found) => assert_ne!(found, Some(account.clone())),
        Err(e) => eprintln!("contract proof used for alice: {e}"),
    }
    // Storage: a tampered node, and the wrong storage root.
    let slot0 = proof_nodes(&storage_proofs[0]["proof"]);
    let mut bad = slot0.clone();
    let last = bad.len() - 1;
    let mid = bad[last].len() - 1;
    bad[last][mid] ^= 0x01;
    let err = verify_storage_proof(&account.storage_root, &slot(0), &bad).unwrap_err();
    assert!(
        matches!(err.reason(), "root_hash_mismatch" | "node_hash_mismatch"),
        "{err}"
    );
    assert_eq!(
        verify_storage_proof(&alice_account.storage_root, &slot(0), &slot0)
            .unwrap_err()
            .reason(),
        "root_hash_mismatch"
    );
    // Storage under the right state root but through another account's proof.
    assert_eq!(
        verify_storage_under_state_root(&state_root, &alice_addr, &alice_proof, &slot(0), &slot0)
            .unwrap_err()
            .reason(),
        "root_hash_mismatch"
    );
    drop(anvil);
}
