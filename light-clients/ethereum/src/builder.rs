//! A small in-memory Merkle-Patricia trie: roots and proofs, for tests and tooling (feature
//! `builder`). It keeps the key/value pairs sorted and builds nodes on demand, which is simple
//! and plenty fast for test-sized tries; it is not a database.

use std::collections::BTreeMap;

use primitive_types::H256;
use rlp::RlpStream;

use crate::{
    keccak256,
    trie::{hex_prefix_encode, to_nibbles},
};

/// An in-memory trie over raw keys (hash them yourself for a secure trie).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trie {
    items: BTreeMap<Vec<u8>, Vec<u8>>,
}

/// `(path in nibbles, value)`, sorted by path.
type Items<'a> = [(Vec<u8>, &'a [u8])];

impl Trie {
    pub fn new() -> Trie {
        Trie::default()
    }

    /// Sets `key` to `value`; an empty value deletes the key (as in geth's trie).
    pub fn insert(&mut self, key: &[u8], value: &[u8]) {
        if value.is_empty() {
            self.items.remove(key);
        } else {
            self.items.insert(key.to_vec(), value.to_vec());
        }
    }

    pub fn remove(&mut self, key: &[u8]) {
        self.items.remove(key);
    }

    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.items.get(key).map(Vec::as_slice)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn nibble_items(&self) -> Vec<(Vec<u8>, &[u8])> {
        // Byte order and nibble order agree, so the map's order is already the trie's.
        self.items
            .iter()
            .map(|(k, v)| (to_nibbles(k), v.as_slice()))
            .collect()
    }

    /// The root hash.
    pub fn root(&self) -> H256 {
        keccak256(encode_node(&self.nibble_items(), 0))
    }

    /// The proof for `key` (present or absent): the hashed nodes from the root along its path.
    pub fn prove(&self, key: &[u8]) -> Vec<Vec<u8>> {
        let mut proof = Vec::new();
        prove_node(&self.nibble_items(), 0, &to_nibbles(key), true, &mut proof);
        proof
    }
}

/// Length of the common prefix of the paths in `items` from `depth` on (`items` sorted, so the
/// first and last suffice).
fn shared_prefix(items: &Items<'_>, depth: usize) -> usize {
    let (first, last) = (&items[0].0[depth..], &items[items.len() - 1].0[depth..]);
    first.iter().zip(last).take_while(|(a, b)| a == b).count()
}

/// The sub-range of `items` (depth `depth`, no item ending at `depth`) under `nibble`.
fn group<'i, 'a>(items: &'i Items<'a>, depth: usize, nibble: u8) -> &'i Items<'a> {
    let start = items.partition_point(|(k, _)| k[depth] < nibble);
    let end = items.partition_point(|(k, _)| k[depth] <= nibble);
    &items[start..end]
}

/// The items below a branch at `depth`, without the one (if any) ending at the branch.
fn branch_parts<'i, 'a>(items: &'i Items<'a>, depth: usize) -> (Option<&'a [u8]>, &'i Items<'a>) {
    if items[0].0.len() == depth {
        (Some(items[0].1), &items[1..])
    } else {
        (None, items)
    }
}

fn append_child(s: &mut RlpStream, encoded: &[u8]) {
    if encoded.len() < 32 {
        s.append_raw(encoded, 1);
    } else {
        s.append(&keccak256(encoded));
    }
}

/// The RLP of the node holding `items` (sorted; all share the path up to `depth`).
fn encode_node(items: &Items<'_>, depth: usize) -> Vec<u8> {
    match items {
        [] => vec![0x80],
        [(path, value)] => {
            let mut s = RlpStream::new_list(2);
            s.append(&hex_prefix_encode(&path[depth..], true));
            s.append(value);
            s.out().to_vec()
        }
        _ => {
            let shared = shared_prefix(items, depth);
            if shared > 0 {
                let mut s = RlpStream::new_list(2);
                s.append(&hex_prefix_encode(
                    &items[0].0[depth..depth + shared],
                    false,
                ));
                append_child(&mut s, &encode_node(items, depth + shared));
                return s.out().to_vec();
            }
            let (value, rest) = branch_parts(items, depth);
            let mut s = RlpStream::new_list(17);
            for nibble in 0..16 {
                let sub = group(rest, depth, nibble);
                if sub.is_empty() {
                    s.append_empty_data();
                } else {
                    append_child(&mut s, &encode_node(sub, depth + 1));
                }
            }
            match value {
                Some(v) => s.append(&v),
                None => s.append_empty_data(),
            };
            s.out().to_vec()
        }
    }
}

fn prove_node(items: &Items<'_>, depth: usize, key: &[u8], root: bool, proof: &mut Vec<Vec<u8>>) {
    let encoded = encode_node(items, depth);
    if root || encoded.len() >= 32 {
        proof.push(encoded);
    }
    if items.len() < 2 {
        return;
    }
    let shared = shared_prefix(items, depth);
    if shared > 0 {
        if key.len() >= depth + shared
            && key[depth..depth + shared] == items[0].0[depth..depth + shared]
        {
            prove_node(items, depth + shared, key, false, proof);
        }
        return;
    }
    let (_, rest) = branch_parts(items, depth);
    if let Some(&nibble) = key.get(depth) {
        let sub = group(rest, depth, nibble);
        if !sub.is_empty() {
            prove_node(sub, depth + 1, key, false, proof);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{trie::verify_proof, EMPTY_ROOT};

    #[test]
    fn empty_and_single() {
        let mut t = Trie::new();
        assert_eq!(t.root(), EMPTY_ROOT);
        assert_eq!(t.prove(b"x"), vec![vec![0x80]]);
        t.insert(b"x", b"y");
        assert_eq!(
            verify_proof(&t.root(), b"x", &t.prove(b"x")),
            Ok(Some(b"y".to_vec()))
        );
        t.insert(b"x", b"");
        assert_eq!(t.root(), EMPTY_ROOT);
    }

    /// The classic yellow-paper style example: do, dog, doge, horse.
    #[test]
    fn known_root() {
        let mut t = Trie::new();
        for (k, v) in [
            ("do", "verb"),
            ("dog", "puppy"),
            ("doge", "coin"),
            ("horse", "stallion"),
        ] {
            t.insert(k.as_bytes(), v.as_bytes());
        }
        assert_eq!(
            format!("{:x}", t.root()),
            "5991bb8c6514148a29db676a14ac506cd2cd5775ace63c30a4fe457715e9ac84"
        );
        for k in [
            "do", "dog", "doge", "horse", "d", "dogs", "cat", "horses", "",
        ] {
            let got = verify_proof(&t.root(), k.as_bytes(), &t.prove(k.as_bytes())).unwrap();
            assert_eq!(got.as_deref(), t.get(k.as_bytes()), "key {k:?}");
        }
    }
}
