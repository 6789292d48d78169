// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {RLPReader} from "./RLPReader.sol";

/// Ethereum Merkle-Patricia proofs as returned by `eth_getProof` (EIP-1186): a lookup of a
/// hashed key (64 nibbles, "secure" trie) from a root, through branch, extension and leaf nodes,
/// proving either the leaf's value or the key's absence.
library MerklePatricia {
    /// keccak256(rlp("")): the root of an empty trie (e.g. an account without storage).
    bytes32 internal constant EMPTY_TRIE_ROOT =
        0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421;

    error ProofNodeHashMismatch(uint256 index);
    error ProofMalformed();
    error ProofTooShort();
    error ProofTooLong();

    /// Looks `key` up in the trie with `root`. When found, (valuePtr, valueLen) is the payload of
    /// the leaf's value string. Every node is authenticated: the first by `root`, each next one by
    /// the hash in its parent, or, when small enough to be embedded (< 32 bytes), inline in it.
    function get(bytes32 root, bytes32 key, bytes[] memory proof)
        internal
        pure
        returns (bool, uint256, uint256)
    {
        if (root == EMPTY_TRIE_ROOT) {
            // Nothing to walk; provers send [] or [rlp("")].
            if (proof.length > 1) revert ProofTooLong();
            return (false, 0, 0);
        }
        // (x, y) is the next node: its hash, or (when embedded) its span [x, y).
        uint256 x = uint256(root);
        uint256 y;
        bool embedded;
        uint256 nib; // key nibbles consumed so far
        uint256 i; // proof nodes consumed so far
        while (true) {
            if (!embedded) {
                if (i >= proof.length) revert ProofTooShort();
                bytes memory n = proof[i];
                if (keccak256(n) != bytes32(x)) revert ProofNodeHashMismatch(i);
                ++i;
                assembly {
                    x := add(n, 32)
                }
                y = x + n.length;
            } else if (i < proof.length && _sameBytes(proof[i], x, y)) {
                // Some provers also list an embedded node on its own; accept it in its place.
                ++i;
            }
            uint256 outcome;
            (outcome, nib, x, y) = _descend(x, y, key, nib);
            if (outcome == ABSENT || outcome == FOUND) {
                if (i != proof.length) revert ProofTooLong();
                return (outcome == FOUND, x, y);
            }
            embedded = outcome == EMBEDDED;
        }
        revert ProofMalformed(); // unreachable; keeps the compiler's return analysis simple
    }

    uint256 private constant ABSENT = 0;
    uint256 private constant FOUND = 1;
    uint256 private constant HASHED = 2;
    uint256 private constant EMBEDDED = 3;

    /// One node at [ptr, end): returns the outcome, the key nibbles consumed so far and
    /// FOUND: the value's span (ptr, len); HASHED: the child's hash; EMBEDDED: the child's span.
    function _descend(uint256 ptr, uint256 end, bytes32 key, uint256 nib)
        private
        pure
        returns (uint256, uint256, uint256, uint256)
    {
        (uint256 p, uint256 plen, bool isList) = RLPReader.header(ptr, end);
        if (!isList) revert ProofMalformed();
        end = p + plen;
        uint256 second = RLPReader.skip(p, end);
        if (RLPReader.skip(second, end) == end) return _shortNode(p, second, end, key, nib);
        // A branch: 16 children and a value slot that secure-trie keys never reach.
        if (nib >= 64) revert ProofMalformed();
        uint256 idx = (uint256(key) >> (252 - 4 * nib)) & 0xf;
        for (uint256 j; j < idx; ++j) {
            p = RLPReader.skip(p, end);
        }
        return _child(p, end, nib + 1, true);
    }

    /// A leaf or an extension: [hex-prefix path, value or child].
    function _shortNode(uint256 p, uint256 second, uint256 end, bytes32 key, uint256 nib)
        private
        pure
        returns (uint256, uint256, uint256, uint256)
    {
        bool leaf;
        {
            (uint256 a, uint256 alen, bool aList) = RLPReader.header(p, end);
            if (aList) revert ProofMalformed();
            bool matched;
            uint256 pathLen;
            (leaf, matched, pathLen) = _matchPath(a, alen, key, nib);
            if (!matched) return (ABSENT, nib, 0, 0); // the key diverges here
            nib += pathLen;
        }
        if (!leaf) return _child(second, end, nib, false);
        (uint256 v, uint256 vlen, bool vList) = RLPReader.header(second, end);
        if (nib != 64 || vList) revert ProofMalformed();
        return (FOUND, nib, v, vlen);
    }

    /// A reference to the next node: a 32-byte hash, or the node itself when it is embedded.
    function _child(uint256 child, uint256 end, uint256 nib, bool inBranch)
        private
        pure
        returns (uint256, uint256, uint256, uint256)
    {
        (uint256 c, uint256 clen, bool cList) = RLPReader.header(child, end);
        if (cList) return (EMBEDDED, nib, child, c + clen);
        if (clen == 32) {
            uint256 h;
            assembly {
                h := mload(c)
            }
            return (HASHED, nib, h, 0);
        }
        // An empty branch slot means absent; an empty extension child is malformed.
        if (clen == 0 && inBranch) return (ABSENT, nib, 0, 0);
        revert ProofMalformed();
    }

    /// The storage root in an account leaf value: rlp([nonce, balance, storageRoot, codeHash]).
    function storageRoot(uint256 ptr, uint256 len) internal pure returns (bytes32) {
        (uint256 p, uint256 plen, bool isList) = RLPReader.header(ptr, ptr + len);
        if (!isList) revert ProofMalformed();
        uint256 end = p + plen;
        p = RLPReader.skip(RLPReader.skip(p, end), end);
        (uint256 root,) = RLPReader.readWord(p, end);
        return bytes32(root);
    }

    /// A storage leaf value: the RLP string of the slot's word with leading zeros stripped.
    function storageWord(uint256 ptr, uint256 len) internal pure returns (bytes32) {
        (uint256 word, uint256 next) = RLPReader.readWord(ptr, ptr + len);
        if (next != ptr + len) revert ProofMalformed();
        return bytes32(word);
    }

    /// Compares a hex-prefix encoded path with the key from nibble `nib` on, a word at a time.
    function _matchPath(uint256 a, uint256 alen, bytes32 key, uint256 nib)
        private
        pure
        returns (bool leaf, bool matched, uint256 pathLen)
    {
        uint256 b0;
        bytes32 path;
        assembly {
            b0 := byte(0, mload(a))
            path := mload(add(a, 1))
        }
        uint256 flag = b0 >> 4;
        if (alen == 0 || alen > 33 || flag > 3) revert ProofMalformed();
        uint256 rest = alen - 1;
        leaf = flag >= 2;
        // Keep only the path's own bytes (the load above may run past them).
        path = rest == 0 ? bytes32(0) : path & (~bytes32(0) << (256 - 8 * rest));
        pathLen = 2 * rest;
        if (flag & 1 == 1) {
            path = bytes32(uint256(b0 & 0xf) << 252) | (path >> 4);
            ++pathLen;
        }
        if (nib + pathLen > 64) revert ProofMalformed();
        bytes32 mask = pathLen == 0 ? bytes32(0) : ~bytes32(0) << (256 - 4 * pathLen);
        matched = (key << (4 * nib)) & mask == path & mask;
    }

    function _sameBytes(bytes memory n, uint256 ptr, uint256 end) private pure returns (bool same) {
        uint256 len = end - ptr;
        if (n.length != len) return false;
        assembly {
            same := eq(keccak256(add(n, 32), len), keccak256(ptr, len))
        }
    }
}
