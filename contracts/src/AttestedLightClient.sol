// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {MerklePatricia} from "./lib/MerklePatricia.sol";

/// A light client of a counterparty EVM chain whose (height, timestamp, state root) triples are
/// vouched for by a quorum of attestors. Packet state is proven with EIP-1186 proofs of the
/// counterparty router's storage under an attested state root.
///
/// Attestors sign EIP-712 typed data whose domain names this contract on this chain and whose
/// message names the attested chain (CAIP-2), so a signature is good for exactly one client on one
/// chain about one chain's state. The Rust side is `relayer/src/chain/evm/attestation.rs`.
contract AttestedLightClient {
    struct ConsensusState {
        uint64 timestamp;
        bytes32 stateRoot;
    }

    error InvalidAttestorSet();
    error InvalidQuorum();
    error InvalidAttestedChain();
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
    event AttestorsRotated(uint64 epoch, address[] attestors, uint8 quorum);

    /// Upper bound for low-s signatures (secp256k1n / 2), as in EIP-2.
    uint256 private constant HALF_N =
        0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;
    uint256 private constant MAX_ATTESTORS = 256;

    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant NAME_HASH = keccak256("FerryAttestedLightClient");
    bytes32 private constant VERSION_HASH = keccak256("1");
    bytes32 private constant STATE_TYPEHASH =
        keccak256("StateAttestation(string attestedChain,uint64 height,uint64 timestamp,bytes32 stateRoot)");
    bytes32 private constant ROTATION_TYPEHASH =
        keccak256("AttestorRotation(address[] attestors,uint8 quorum,uint64 epoch)");

    address public immutable counterpartyRouter;
    /// keccak256(counterpartyRouter): the router's path in the state trie.
    bytes32 private immutable _accountKey;
    /// keccak256(bytes(attestedChain)), as EIP-712 encodes a string member.
    bytes32 private immutable _attestedChainHash;
    /// The domain separator for the chain id at deployment (recomputed if the chain id changes).
    bytes32 private immutable _cachedDomainSeparator;
    uint256 private immutable _cachedChainId;

    // One slot: read together by updates and proofs.
    bool public frozen;
    uint64 public latestHeight;
    /// Rotations so far; an `AttestorRotation` must name the current epoch.
    uint64 public epoch;
    uint8 public quorum;

    mapping(uint64 => ConsensusState) public consensusState;
    address[] private _attestors;
    /// 1-based index of each attestor, so duplicates are caught with a bitmap.
    mapping(address => uint256) private _attestorIndex;
    /// CAIP-2 name of the attested chain, e.g. "eip155:33333".
    string public attestedChain;

    constructor(
        address[] memory attestors_,
        uint8 quorum_,
        string memory attestedChain_,
        address counterpartyRouter_,
        uint64 height,
        uint64 timestamp,
        bytes32 stateRoot
    ) {
        if (bytes(attestedChain_).length == 0) revert InvalidAttestedChain();
        if (stateRoot == bytes32(0)) revert InvalidAttestation();
        _setAttestors(attestors_, quorum_);
        attestedChain = attestedChain_;
        _attestedChainHash = keccak256(bytes(attestedChain_));
        counterpartyRouter = counterpartyRouter_;
        _accountKey = keccak256(abi.encodePacked(counterpartyRouter_));
        _cachedChainId = block.chainid;
        _cachedDomainSeparator = _buildDomainSeparator();
        consensusState[height] = ConsensusState(timestamp, stateRoot);
        latestHeight = height;
        emit ClientUpdated(height, timestamp, stateRoot);
    }

    // --- EIP-712 -------------------------------------------------------------------------------

    function domainSeparator() public view returns (bytes32) {
        return block.chainid == _cachedChainId ? _cachedDomainSeparator : _buildDomainSeparator();
    }

    /// The digest attestors sign for (height, timestamp, stateRoot) of `attestedChain`.
    function stateDigest(uint64 height, uint64 timestamp, bytes32 stateRoot) public view returns (bytes32) {
        return _typed(keccak256(abi.encode(STATE_TYPEHASH, _attestedChainHash, height, timestamp, stateRoot)));
    }

    /// The digest the current quorum signs to hand the client over to `newAttestors` at the
    /// current epoch.
    function rotationDigest(address[] memory newAttestors, uint8 newQuorum) public view returns (bytes32) {
        // abi.encodePacked pads each array element to 32 bytes: EIP-712's encoding of address[].
        return _typed(
            keccak256(abi.encode(ROTATION_TYPEHASH, keccak256(abi.encodePacked(newAttestors)), newQuorum, epoch))
        );
    }

    // --- updates -------------------------------------------------------------------------------

    function attestors() external view returns (address[] memory) {
        return _attestors;
    }

    /// `updateMsg = abi.encode(uint64 height, uint64 timestamp, bytes32 stateRoot, bytes[] signatures)`,
    /// each signature over `stateDigest(height, timestamp, stateRoot)`.
    function updateClient(bytes calldata updateMsg) external {
        if (frozen) revert ClientIsFrozen();
        (uint64 height, uint64 timestamp, bytes32 stateRoot, bytes[] memory sigs) =
            abi.decode(updateMsg, (uint64, uint64, bytes32, bytes[]));
        if (stateRoot == bytes32(0)) revert InvalidAttestation();
        _checkSignatures(stateDigest(height, timestamp, stateRoot), sigs);

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

    /// A quorum of the current attestors replaces the set (and quorum); the epoch moves on, so
    /// the same signatures cannot be used again. A frozen client is recovered by the router's
    /// substitute-client path instead.
    function rotateAttestors(address[] calldata newAttestors, uint8 newQuorum, bytes[] calldata signatures)
        external
    {
        if (frozen) revert ClientIsFrozen();
        _checkSignatures(rotationDigest(newAttestors, newQuorum), signatures);
        uint256 n = _attestors.length;
        for (uint256 i; i < n; ++i) {
            delete _attestorIndex[_attestors[i]];
        }
        _setAttestors(newAttestors, newQuorum);
        uint64 next = epoch + 1;
        epoch = next;
        emit AttestorsRotated(next, newAttestors, newQuorum);
    }

    // --- proofs --------------------------------------------------------------------------------

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

    // --- internals -----------------------------------------------------------------------------

    function _buildDomainSeparator() private view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, address(this)));
    }

    function _typed(bytes32 structHash) private view returns (bytes32) {
        return keccak256(abi.encodePacked(hex"1901", domainSeparator(), structHash));
    }

    /// Replaces the (cleared) set: 1..256 unique non-zero members, 1 <= quorum <= members.
    function _setAttestors(address[] memory set, uint8 quorum_) private {
        uint256 n = set.length;
        if (n == 0 || n > MAX_ATTESTORS) revert InvalidAttestorSet();
        if (quorum_ == 0 || quorum_ > n) revert InvalidQuorum();
        for (uint256 i; i < n; ++i) {
            address a = set[i];
            if (a == address(0) || _attestorIndex[a] != 0) revert InvalidAttestorSet();
            _attestorIndex[a] = i + 1;
        }
        _attestors = set;
        quorum = quorum_;
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
        uint8 q = quorum;
        if (n < q) revert QuorumNotMet(n, q);
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
