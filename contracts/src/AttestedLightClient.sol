// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {MerklePatricia} from "./lib/MerklePatricia.sol";

/// A light client of a counterparty EVM chain whose (height, timestamp, state root) triples are
/// vouched for by a quorum of attestors. Packet state is proven with EIP-1186 proofs of the
/// counterparty router's storage under an attested state root.
contract AttestedLightClient {
    struct ConsensusState {
        uint64 timestamp;
        bytes32 stateRoot;
    }

    error InvalidAttestorSet();
    error InvalidQuorum();
    error InvalidAttestation();
    error InvalidSignatureLength(uint256 index);
    error InvalidSignature(uint256 index);
    error NotAttestor(address signer);
    error DuplicateSigner(address signer);
    error QuorumNotMet(uint256 signers, uint256 quorum);
    error ClientIsFrozen();
    error ConsensusStateNotFound(uint64 height);
    error AccountNotFound();
    error MembershipValueMismatch(bytes32 expected, bytes32 actual);
    error KeyNotPresent();
    error KeyPresent();

    event ClientUpdated(uint64 indexed height, uint64 timestamp, bytes32 stateRoot);
    event ClientFrozen(uint64 height);

    /// Upper bound for low-s signatures (secp256k1n / 2), as in EIP-2.
    uint256 private constant HALF_N =
        0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    address public immutable counterpartyRouter;
    uint8 public immutable quorum;
    /// keccak256(counterpartyRouter): the router's path in the state trie.
    bytes32 private immutable _accountKey;

    bool public frozen;
    uint64 public latestHeight;
    mapping(uint64 => ConsensusState) public consensusState;
    address[] private _attestors;
    /// 1-based index of each attestor, so duplicates are caught with a bitmap.
    mapping(address => uint256) private _attestorIndex;

    constructor(
        address[] memory attestors_,
        uint8 quorum_,
        address counterpartyRouter_,
        uint64 height,
        uint64 timestamp,
        bytes32 stateRoot
    ) {
        uint256 n = attestors_.length;
        if (n == 0 || n > 256) revert InvalidAttestorSet();
        if (quorum_ == 0 || quorum_ > n) revert InvalidQuorum();
        for (uint256 i; i < n; ++i) {
            address a = attestors_[i];
            if (a == address(0) || _attestorIndex[a] != 0) revert InvalidAttestorSet();
            _attestorIndex[a] = i + 1;
        }
        if (stateRoot == bytes32(0)) revert InvalidAttestation();
        _attestors = attestors_;
        quorum = quorum_;
        counterpartyRouter = counterpartyRouter_;
        _accountKey = keccak256(abi.encodePacked(counterpartyRouter_));
        consensusState[height] = ConsensusState(timestamp, stateRoot);
        latestHeight = height;
        emit ClientUpdated(height, timestamp, stateRoot);
    }

    function attestors() external view returns (address[] memory) {
        return _attestors;
    }

    /// `updateMsg = abi.encode(bytes attestationData, bytes[] signatures)` with
    /// `attestationData = abi.encode(uint64 height, uint64 timestamp, bytes32 stateRoot)`.
    function updateClient(bytes calldata updateMsg) external {
        if (frozen) revert ClientIsFrozen();
        (bytes memory data, bytes[] memory sigs) = abi.decode(updateMsg, (bytes, bytes[]));
        _checkSignatures(sha256(data), sigs);
        (uint64 height, uint64 timestamp, bytes32 stateRoot) =
            abi.decode(data, (uint64, uint64, bytes32));
        if (stateRoot == bytes32(0)) revert InvalidAttestation();

        ConsensusState storage cs = consensusState[height];
        if (cs.stateRoot != bytes32(0)) {
            if (cs.stateRoot == stateRoot && cs.timestamp == timestamp) return;
            // A quorum signed two different states for one height: stop trusting it. Returning
            // (not reverting) keeps the freeze.
            frozen = true;
            emit ClientFrozen(height);
            return;
        }
        cs.timestamp = timestamp;
        cs.stateRoot = stateRoot;
        if (height > latestHeight) latestHeight = height;
        emit ClientUpdated(height, timestamp, stateRoot);
    }

    /// Proves the counterparty router stores `value` under `pathKey` at `height`; returns the
    /// attested timestamp of that height.
    function verifyMembership(uint64 height, bytes calldata proof, bytes32 pathKey, bytes32 value)
        external
        view
        returns (uint64 timestamp)
    {
        bool found;
        bytes32 stored;
        (timestamp, found, stored) = _readSlot(height, proof, pathKey);
        if (!found) revert KeyNotPresent();
        if (stored != value) revert MembershipValueMismatch(value, stored);
    }

    /// Proves the counterparty router has nothing under `pathKey` at `height`.
    function verifyNonMembership(uint64 height, bytes calldata proof, bytes32 pathKey)
        external
        view
        returns (uint64 timestamp)
    {
        bool found;
        (timestamp, found,) = _readSlot(height, proof, pathKey);
        if (found) revert KeyPresent();
    }

    function _checkSignatures(bytes32 digest, bytes[] memory sigs) private view {
        uint256 seen; // bit i set = attestor i signed
        uint256 n = sigs.length;
        for (uint256 i; i < n; ++i) {
            bytes memory sig = sigs[i];
            if (sig.length != 65) revert InvalidSignatureLength(i);
            bytes32 r;
            bytes32 s;
            uint8 v;
            assembly {
                r := mload(add(sig, 32))
                s := mload(add(sig, 64))
                v := byte(0, mload(add(sig, 96)))
            }
            if (uint256(s) > HALF_N || (v != 27 && v != 28)) revert InvalidSignature(i);
            address signer = ecrecover(digest, v, r, s);
            if (signer == address(0)) revert InvalidSignature(i);
            uint256 idx = _attestorIndex[signer];
            if (idx == 0) revert NotAttestor(signer);
            uint256 bit = 1 << (idx - 1);
            if (seen & bit != 0) revert DuplicateSigner(signer);
            seen |= bit;
        }
        if (n < quorum) revert QuorumNotMet(n, quorum);
    }

    /// Reads the router's slot for `pathKey` (`keccak256(abi.encode(pathKey, 0))`, the
    /// `commitments` mapping at slot 0) through the account and storage proofs.
    function _readSlot(uint64 height, bytes calldata proof, bytes32 pathKey)
        private
        view
        returns (uint64 timestamp, bool found, bytes32 value)
    {
        if (frozen) revert ClientIsFrozen();
        ConsensusState memory cs = consensusState[height];
        if (cs.stateRoot == bytes32(0)) revert ConsensusStateNotFound(height);
        (bytes[] memory accountProof, bytes[] memory storageProof) =
            abi.decode(proof, (bytes[], bytes[]));

        (bool accountFound, uint256 ptr, uint256 len) =
            MerklePatricia.get(cs.stateRoot, _accountKey, accountProof);
        if (!accountFound) revert AccountNotFound();
        bytes32 storageRoot = MerklePatricia.storageRoot(ptr, len);

        bytes32 slot = keccak256(abi.encode(pathKey, uint256(0)));
        (found, ptr, len) =
            MerklePatricia.get(storageRoot, keccak256(abi.encode(slot)), storageProof);
        if (found) value = MerklePatricia.storageWord(ptr, len);
        timestamp = cs.timestamp;
    }
}
