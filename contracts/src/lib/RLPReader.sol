// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// RLP decoding over raw memory spans. Proof nodes are decoded in place (no copies), so items
/// are (pointer, length) pairs into the node's bytes. Every read is bounded by the enclosing span;
/// callers authenticate the bytes (by hash) before trusting what they decode.
library RLPReader {
    error RlpMalformed();

    /// The header of the item starting at `ptr`, which must lie entirely before `end`:
    /// returns where its payload starts, the payload length and whether it is a list.
    /// A single byte below 0x80 is its own payload.
    function header(uint256 ptr, uint256 end)
        internal
        pure
        returns (uint256 start, uint256 len, bool isList)
    {
        if (ptr >= end) revert RlpMalformed();
        uint256 b0;
        assembly {
            b0 := byte(0, mload(ptr))
        }
        if (b0 < 0x80) {
            start = ptr;
            len = 1;
        } else if (b0 < 0xb8) {
            start = ptr + 1;
            len = b0 - 0x80;
        } else if (b0 < 0xc0) {
            uint256 ll = b0 - 0xb7;
            start = ptr + 1 + ll;
            len = _readLength(ptr + 1, ll, end);
        } else if (b0 < 0xf8) {
            isList = true;
            start = ptr + 1;
            len = b0 - 0xc0;
        } else {
            isList = true;
            uint256 ll = b0 - 0xf7;
            start = ptr + 1 + ll;
            len = _readLength(ptr + 1, ll, end);
        }
        if (start + len > end) revert RlpMalformed();
    }

    /// The end of the item starting at `ptr` (the start of the next one).
    function skip(uint256 ptr, uint256 end) internal pure returns (uint256) {
        (uint256 start, uint256 len,) = header(ptr, end);
        return start + len;
    }

    /// A string item of at most 32 bytes as a big-endian word (an RLP-encoded integer or hash).
    function readWord(uint256 ptr, uint256 end) internal pure returns (uint256 word, uint256 next) {
        (uint256 start, uint256 len, bool isList) = header(ptr, end);
        if (isList || len > 32) revert RlpMalformed();
        if (len != 0) {
            assembly {
                word := shr(sub(256, mul(8, len)), mload(start))
            }
        }
        next = start + len;
    }

    /// Long-form lengths take 1 to 8 bytes (anything longer cannot fit in memory anyway).
    function _readLength(uint256 ptr, uint256 ll, uint256 end) private pure returns (uint256 len) {
        if (ll > 8 || ptr + ll > end) revert RlpMalformed();
        assembly {
            len := shr(sub(256, mul(8, ll)), mload(ptr))
        }
    }
}
