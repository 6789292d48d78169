//! The trie builder and proof verifier against `trietest.json` (the Ethereum tests' expected
//! roots), proofs for present and absent keys, and tampered proofs.

use primitive_types::H256;
use serde_json::Value;

use crate::{builder::Trie, error::Error, keccak256, trie::verify_proof};

/// Vendored from ethereum/tests (MIT; see `testdata/README.md`).
const TRIETEST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/trietest.json");

/// A key or value from the test file: `0x`-hex, or the string's bytes.
fn bytes(v: &str) -> Vec<u8> {
    match v.strip_prefix("0x") {
        Some(h) => hex::decode(h).expect("hex in trietest.json"),
        None => v.as_bytes().to_vec(),
    }
}

struct Case {
    name: String,
    trie: Trie,
    root: H256,
    /// Every key the case mentions, including deleted ones.
    keys: Vec<Vec<u8>>,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(TRIETEST).expect("read trietest.json");
    let json: Value = serde_json::from_str(&text).expect("parse trietest.json");
    let mut cases = Vec::new();
    for (name, case) in json.as_object().expect("object of cases") {
        let mut trie = Trie::new();
        let mut keys = Vec::new();
        for pair in case["in"].as_array().expect("`in` is a list of pairs") {
            let key = bytes(pair[0].as_str().expect("key"));
            match pair[1].as_str() {
                Some(v) => trie.insert(&key, &bytes(v)),
                None => trie.remove(&key),
            }
            keys.push(key);
        }
        let root = bytes(case["root"].as_str().expect("root"));
        cases.push(Case {
            name: name.clone(),
            trie,
            root: H256::from_slice(&root),
            keys,
        });
    }
    assert!(cases.len() >= 4, "trietest.json has {} cases", cases.len());
    cases
}

#[test]
fn every_case_root_matches() {
    for case in cases() {
        assert_eq!(case.trie.root(), case.root, "case {}", case.name);
    }
}

#[test]
fn proofs_for_present_and_absent_keys() {
    let cases = cases();
    let mut present = 0;
    let mut absent = 0;
    for case in &cases {
        // Every key of every case, plus neighbours of this case's keys: prefixes and extensions.
        let mut probes: Vec<Vec<u8>> = cases.iter().flat_map(|c| c.keys.clone()).collect();
        for key in &case.keys {
            probes.push(key[..key.len() / 2].to_vec());
            probes.push([key.as_slice(), b"x"].concat());
            let mut flipped = key.clone();
            if let Some(last) = flipped.last_mut() {
                *last ^= 1;
            }
            probes.push(flipped);
        }
        probes.push(Vec::new());
        for key in probes {
            let proof = case.trie.prove(&key);
            let got = verify_proof(&case.root, &key, &proof)
                .unwrap_or_else(|e| panic!("case {}, key {key:x?}: {e}", case.name));
            assert_eq!(
                got.as_deref(),
                case.trie.get(&key),
                "case {}, key {key:x?}",
                case.name
            );
            match got {
                Some(_) => present += 1,
                None => absent += 1,
            }
        }
    }
    assert!(
        present > 20 && absent > 50,
        "{present} present, {absent} absent"
    );
}

/// A trie of tiny keys and values: its nodes are embedded in the root, so proofs are one node.
#[test]
fn embedded_nodes() {
    let mut trie = Trie::new();
    let keys: Vec<u8> = (0..16).map(|n| n << 4).collect();
    for &k in &keys {
        trie.insert(&[k], &[k + 1]);
    }
    let root = trie.root();
    for &k in &keys {
        let proof = trie.prove(&[k]);
        assert_eq!(proof.len(), 1);
        assert_eq!(verify_proof(&root, &[k], &proof), Ok(Some(vec![k + 1])));
    }
    assert_eq!(verify_proof(&root, &[0x11], &trie.prove(&[0x11])), Ok(None));
    assert_eq!(
        verify_proof(&root, &[0x10, 0], &trie.prove(&[0x10, 0])),
        Ok(None)
    );
}

/// A secure-trie-like case with several hashed levels, and a key in it.
fn deep_case() -> (Trie, H256, Vec<u8>, Vec<Vec<u8>>) {
    let mut trie = Trie::new();
    for i in 0u32..300 {
        let key = keccak256(i.to_be_bytes());
        trie.insert(key.as_bytes(), &keccak256(key).as_bytes()[..20]);
    }
    let key = keccak256(7u32.to_be_bytes()).as_bytes().to_vec();
    let proof = trie.prove(&key);
    assert!(proof.len() >= 3, "proof has {} nodes", proof.len());
    (trie.clone(), trie.root(), key, proof)
}

#[test]
fn tampered_node_is_rejected() {
    let (trie, root, key, proof) = deep_case();
    assert_eq!(
        verify_proof(&root, &key, &proof).unwrap().as_deref(),
        trie.get(&key)
    );
    for index in 0..proof.len() {
        for at in [0, proof[index].len() / 2, proof[index].len() - 1] {
            let mut bad = proof.clone();
            bad[index][at] ^= 0x01;
            let err = verify_proof(&root, &key, &bad).unwrap_err();
            let expected = if index == 0 {
                "root_hash_mismatch"
            } else {
                "node_hash_mismatch"
            };
            assert_eq!(err.reason(), expected, "node {index}, byte {at}: {err}");
            if let Error::NodeHashMismatch { index: i, .. } = err {
                assert_eq!(i, index);
            }
        }
    }
}

#[test]
fn dropped_extra_or_reordered_nodes_are_rejected() {
    let (_, root, key, proof) = deep_case();
    let last = proof.len() - 1;
    let mut bad = proof.clone();
    bad.pop();
    assert_eq!(
        verify_proof(&root, &key, &bad),
        Err(Error::MissingProofNode { index: last })
    );
    for index in 1..last {
        let mut bad = proof.clone();
        bad.remove(index);
        assert_eq!(
            verify_proof(&root, &key, &bad).unwrap_err(),
            Error::NodeHashMismatch {
                index,
                expected: match_hash_in(&proof[index - 1], &proof[index]),
                found: keccak256(&proof[index + 1]),
            }
        );
    }
    let mut bad = proof.clone();
    bad.remove(0);
    assert_eq!(
        verify_proof(&root, &key, &bad).unwrap_err().reason(),
        "root_hash_mismatch"
    );
    let mut bad = proof.clone();
    bad.swap(1, 2);
    assert_eq!(
        verify_proof(&root, &key, &bad).unwrap_err().reason(),
        "node_hash_mismatch"
    );
    let mut bad = proof.clone();
    bad.push(proof[last].clone());
    assert_eq!(
        verify_proof(&root, &key, &bad),
        Err(Error::UnusedProofNodes {
            used: proof.len(),
            total: proof.len() + 1
        })
    );
}

/// The hash of `child` as referenced inside `parent` (asserting that it is).
fn match_hash_in(parent: &[u8], child: &[u8]) -> H256 {
    let h = keccak256(child);
    assert!(parent.windows(32).any(|w| w == h.as_bytes()));
    h
}

#[test]
fn wrong_root_is_rejected() {
    let (_, root, key, proof) = deep_case();
    let wrong = H256::repeat_byte(0x42);
    assert_eq!(
        verify_proof(&wrong, &key, &proof),
        Err(Error::RootHashMismatch {
            expected: wrong,
            found: root
        })
    );
    // Another trie's (valid) proof does not verify under this root.
    let mut other = Trie::new();
    other.insert(&key, b"forged");
    assert_eq!(
        verify_proof(&root, &key, &other.prove(&key))
            .unwrap_err()
            .reason(),
        "root_hash_mismatch"
    );
}

/// Changing the leaf's value and re-hashing every node up the path yields a different root:
/// the forgery only verifies under its own root.
#[test]
fn forged_value_with_rehashed_path_is_rejected() {
    let (_, root, key, proof) = deep_case();
    let mut forged = proof.clone();
    let last = forged.len() - 1;
    let value = verify_proof(&root, &key, &proof).unwrap().unwrap();
    let at = forged[last]
        .windows(value.len())
        .position(|w| w == value.as_slice())
        .unwrap();
    forged[last][at] ^= 0xff;
    for i in (1..forged.len()).rev() {
        let (old, new) = (keccak256(&proof[i]), keccak256(&forged[i]));
        let parent = &mut forged[i - 1];
        let at = parent
            .windows(32)
            .position(|w| w == old.as_bytes())
            .unwrap();
        parent[at..at + 32].copy_from_slice(new.as_bytes());
    }
    let forged_root = keccak256(&forged[0]);
    assert_ne!(forged_root, root);
    assert_eq!(
        verify_proof(&root, &key, &forged).unwrap_err().reason(),
        "root_hash_mismatch"
    );
    let got = verify_proof(&forged_root, &key, &forged).unwrap().unwrap();
    assert_ne!(got, value);
}

/// A proof of one key is not a proof for a neighbour: it either proves the neighbour absent
/// (never with the first key's value) or is missing nodes.
#[test]
fn proof_for_another_key() {
    let (trie, root, key, proof) = deep_case();
    let other = keccak256(8u32.to_be_bytes()).as_bytes().to_vec();
    assert!(trie.get(&other).is_some());
    match verify_proof(&root, &other, &proof) {
        Ok(v) => assert_ne!(v.as_deref(), trie.get(&key)),
        Err(e) => assert!(
            matches!(
                e.reason(),
                "missing_proof_node" | "node_hash_mismatch" | "unused_proof_nodes"
            ),
            "{e}"
        ),
    }
}
