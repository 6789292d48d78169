//! Merkle-Patricia trie proofs: membership and absence of a key under a root.
//!
//! A proof is the list of hashed trie nodes on the path from the root to the key, in order (as
//! `eth_getProof` returns them). Nodes under 32 bytes are embedded in their parent and have no
//! list entry. Verification is strict: every listed node must be referenced by hash from the
//! node before it (the first by the root), nodes must be canonical RLP of a valid trie node, and
//! no node may be left over.

use primitive_types::H256;
use rlp::Rlp;

use crate::{error::Error, keccak256, rlp_util, EMPTY_ROOT};

/// How a node references a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChildRef<'a> {
    /// By hash: the child is the next proof node.
    Hash(H256),
    /// Embedded: the child's own RLP (under 32 bytes) sits inside the parent.
    Inline(&'a [u8]),
}

/// A decoded trie node; paths are in nibbles.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node<'a> {
    /// The empty trie (`0x80`), only as a root.
    Empty,
    Branch {
        children: Box<[Option<ChildRef<'a>>; 16]>,
        value: Option<Vec<u8>>,
    },
    Leaf {
        path: Vec<u8>,
        value: Vec<u8>,
    },
    Extension {
        path: Vec<u8>,
        child: ChildRef<'a>,
    },
}

/// The nibbles (half-bytes, high first) of `bytes`.
pub fn to_nibbles(bytes: &[u8]) -> Vec<u8> {
    bytes.iter().flat_map(|b| [b >> 4, b & 0x0f]).collect()
}

/// Hex-prefix encoding of a nibble path (yellow paper appendix C): the flag nibble says leaf or
/// extension and odd or even length.
pub fn hex_prefix_encode(nibbles: &[u8], leaf: bool) -> Vec<u8> {
    let flag = if leaf { 2 } else { 0 } + (nibbles.len() % 2) as u8;
    let mut out = Vec::with_capacity(nibbles.len() / 2 + 1);
    let rest = if nibbles.len() % 2 == 1 {
        out.push((flag << 4) | nibbles[0]);
        &nibbles[1..]
    } else {
        out.push(flag << 4);
        nibbles
    };
    out.extend(rest.chunks(2).map(|pair| (pair[0] << 4) | pair[1]));
    out
}

/// Decodes a hex-prefix path into `(nibbles, is_leaf)`.
fn hex_prefix_decode(encoded: &[u8], index: usize) -> Result<(Vec<u8>, bool), Error> {
    let first = *encoded.first().ok_or(Error::InvalidHexPrefix { index })?;
    let flag = first >> 4;
    if flag > 3 || (flag & 1 == 0 && first & 0x0f != 0) {
        return Err(Error::InvalidHexPrefix { index });
    }
    let mut nibbles = Vec::with_capacity(encoded.len() * 2);
    if flag & 1 == 1 {
        nibbles.push(first & 0x0f);
    }
    nibbles.extend(to_nibbles(&encoded[1..]));
    Ok((nibbles, flag & 2 == 2))
}

fn malformed(index: usize) -> impl Fn(rlp::DecoderError) -> Error {
    move |error| Error::MalformedNode { index, error }
}

fn decode_child<'a>(item: &Rlp<'a>, index: usize) -> Result<Option<ChildRef<'a>>, Error> {
    if item.is_list() {
        let raw = item.as_raw();
        if raw.len() >= 32 {
            return Err(Error::InvalidChildReference { index });
        }
        return Ok(Some(ChildRef::Inline(raw)));
    }
    let bytes: Vec<u8> = item.as_val().map_err(malformed(index))?;
    match bytes.len() {
        0 => Ok(None),
        32 => Ok(Some(ChildRef::Hash(H256::from_slice(&bytes)))),
        _ => Err(Error::InvalidChildReference { index }),
    }
}

/// Decodes one node; `index` is the proof node it is (or is embedded in), for errors.
fn decode_node(raw: &[u8], index: usize) -> Result<Node<'_>, Error> {
    if raw == [0x80] {
        return Ok(Node::Empty);
    }
    let items = rlp_util::list_items(raw).map_err(malformed(index))?;
    match items.len() {
        17 => {
            let mut children = Box::new([None; 16]);
            for (slot, item) in children.iter_mut().zip(&items) {
                *slot = decode_child(item, index)?;
            }
            let value: Vec<u8> = items[16].as_val().map_err(malformed(index))?;
            Ok(Node::Branch {
                children,
                value: (!value.is_empty()).then_some(value),
            })
        }
        2 => {
            let encoded: Vec<u8> = items[0].as_val().map_err(malformed(index))?;
            let (path, leaf) = hex_prefix_decode(&encoded, index)?;
            if leaf {
                let value: Vec<u8> = items[1].as_val().map_err(malformed(index))?;
                if value.is_empty() {
                    return Err(Error::EmptyNodeData { index });
                }
                Ok(Node::Leaf { path, value })
            } else {
                if path.is_empty() {
                    return Err(Error::EmptyNodeData { index });
                }
                let child = decode_child(&items[1], index)?
                    .ok_or(Error::InvalidChildReference { index })?;
                Ok(Node::Extension { path, child })
            }
        }
        n => Err(Error::InvalidNodeShape { index, items: n }),
    }
}

/// Verifies `proof` for `key` (the trie path, unhashed: pass `keccak256(address)` or
/// `keccak256(slot)` for Ethereum's secure tries) under `root`.
///
/// Returns `Ok(Some(value))` if the key is in the trie, `Ok(None)` if the proof shows it is not,
/// and an error if the proof does not prove either.
pub fn verify_proof<N: AsRef<[u8]>>(
    root: &H256,
    key: &[u8],
    proof: &[N],
) -> Result<Option<Vec<u8>>, Error> {
    if proof.is_empty() {
        // The empty trie needs no nodes; anything else does.
        return if *root == EMPTY_ROOT {
            Ok(None)
        } else {
            Err(Error::MissingProofNode { index: 0 })
        };
    }
    let key = to_nibbles(key);
    let mut pos = 0; // nibbles of `key` consumed
    let mut used = 0; // proof nodes consumed
    let mut next = ChildRef::Hash(*root);
    let value = loop {
        let raw: &[u8] = match next {
            ChildRef::Hash(expected) => {
                let raw = proof
                    .get(used)
                    .ok_or(Error::MissingProofNode { index: used })?
                    .as_ref();
                let found = keccak256(raw);
                if found != expected {
                    return Err(if used == 0 {
                        Error::RootHashMismatch { expected, found }
                    } else {
                        Error::NodeHashMismatch {
                            index: used,
                            expected,
                            found,
                        }
                    });
                }
                used += 1;
                raw
            }
            ChildRef::Inline(raw) => raw,
        };
        let index = used - 1;
        match decode_node(raw, index)? {
            Node::Empty => break None,
            Node::Branch { children, value } => {
                let Some(&nibble) = key.get(pos) else {
                    break value;
                };
                match children[nibble as usize] {
                    Some(child) => {
                        next = child;
                        pos += 1;
                    }
                    None => break None,
                }
            }
            Node::Leaf { path, value } => {
                break (key[pos..] == path[..]).then_some(value);
            }
            Node::Extension { path, child } => {
                if !key[pos..].starts_with(&path) {
                    break None;
                }
                next = child;
                pos += path.len();
            }
        }
    };
    if used != proof.len() {
        return Err(Error::UnusedProofNodes {
            used,
            total: proof.len(),
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_prefix_round_trip() {
        for nibbles in [vec![], vec![1], vec![1, 2], vec![0, 15, 1], vec![15; 64]] {
            for leaf in [false, true] {
                let enc = hex_prefix_encode(&nibbles, leaf);
                assert_eq!(hex_prefix_decode(&enc, 0).unwrap(), (nibbles.clone(), leaf));
            }
        }
        // Yellow-paper examples.
        assert_eq!(
            hex_prefix_encode(&[1, 2, 3, 4, 5], false),
            [0x11, 0x23, 0x45]
        );
        assert_eq!(
            hex_prefix_encode(&[0, 1, 2, 3, 4, 5], false),
            [0x00, 0x01, 0x23, 0x45]
        );
        assert_eq!(
            hex_prefix_encode(&[15, 1, 12, 11, 8], true),
            [0x3f, 0x1c, 0xb8]
        );
        assert_eq!(
            hex_prefix_encode(&[0, 15, 1, 12, 11, 8], true),
            [0x20, 0x0f, 0x1c, 0xb8]
        );
        // Bad flag, or a non-zero pad nibble on an even path.
        assert!(hex_prefix_decode(&[0x40], 0).is_err());
        assert!(hex_prefix_decode(&[0x21], 0).is_err());
        assert!(hex_prefix_decode(&[], 0).is_err());
    }

    #[test]
    fn empty_trie() {
        assert_eq!(verify_proof::<Vec<u8>>(&EMPTY_ROOT, b"k", &[]), Ok(None));
        assert_eq!(verify_proof(&EMPTY_ROOT, b"k", &[[0x80u8]]), Ok(None));
        assert_eq!(
            verify_proof::<Vec<u8>>(&H256::repeat_byte(1), b"k", &[]),
            Err(Error::MissingProofNode { index: 0 })
        );
    }

    #[test]
    fn single_leaf_root() {
        let mut s = rlp::RlpStream::new_list(2);
        s.append(&hex_prefix_encode(&to_nibbles(b"key"), true));
        s.append(&b"value".to_vec());
        let node = s.out().to_vec();
        let root = keccak256(&node);
        assert_eq!(
            verify_proof(&root, b"key", &[&node]),
            Ok(Some(b"value".to_vec()))
        );
        assert_eq!(verify_proof(&root, b"kez", &[&node]), Ok(None));
        assert_eq!(verify_proof(&root, b"ke", &[&node]), Ok(None));
        assert_eq!(
            verify_proof(&root, b"key", &[&node, &node]),
            Err(Error::UnusedProofNodes { used: 1, total: 2 })
        );
    }

    #[test]
    fn rejects_invalid_nodes() {
        let hashed = |items: &[&[u8]]| {
            let mut s = rlp::RlpStream::new_list(items.len());
            for item in items {
                s.append(&item.to_vec());
            }
            let node = s.out().to_vec();
            (keccak256(&node), node)
        };
        let (root, node) = hashed(&[b"a", b"b", b"c"]);
        assert_eq!(
            verify_proof(&root, b"k", &[&node]),
            Err(Error::InvalidNodeShape { index: 0, items: 3 })
        );
        let (root, node) = hashed(&[&[0x20, 0x6b], b""]);
        assert_eq!(
            verify_proof(&root, b"k", &[&node]),
            Err(Error::EmptyNodeData { index: 0 })
        );
        let (root, node) = hashed(&[&[0x00, 0x6b], &[1; 31]]);
        assert_eq!(
            verify_proof(&root, b"k", &[&node]),
            Err(Error::InvalidChildReference { index: 0 })
        );
        let (root, node) = hashed(&[&[0x50, 0x6b], b"v"]);
        assert_eq!(
            verify_proof(&root, b"k", &[&node]),
            Err(Error::InvalidHexPrefix { index: 0 })
        );
        let node = [0xc1u8, 0x80, 0x00];
        assert_eq!(
            verify_proof(&keccak256(node), b"k", &[&node[..]])
                .unwrap_err()
                .reason(),
            "malformed_node"
        );
    }
}
