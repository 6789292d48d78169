// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ILightClient} from "./IFerry.sol";

/// A light client of a Cosmos (ibc-go) chain whose state and packet commitments are vouched for
/// by a fixed set of attestors, wire-compatible with ibc-go v11's `attestations` light client
/// (`modules/light-clients/attestations`): the same ABI-encoded attestations, the same signing
/// input `sha256(tag ‖ sha256(attestationData))`, the same quorum and freeze rules.
///
/// The signed data names no chain and no client: a key set must attest exactly one chain, or an
/// attestation of one chain could be submitted to a client of another.
///
/// - `updateClient(updateMsg)`, `updateMsg = abi.encode(bytes attestationData, bytes[] signatures)`,
///   `attestationData = abi.encode(uint64 height, uint64 timestampSeconds)` (a StateAttestation),
///   signatures with tag 0x01.
/// - proofs: `abi.encode(bytes attestationData, bytes[] signatures)`,
///   `attestationData = abi.encode(PacketAttestation)` (one tuple argument), signatures with tag 0x02.
contract AttestationsLightClient is ILightClient {
    struct PacketCompact {
        bytes32 path;
        bytes32 commitment;
    }

    struct PacketAttestation {
        uint64 height;
        PacketCompact[] packets;
    }

    error InvalidAttestorSet();
    error InvalidQuorum();
    error ZeroHeight();
    error ZeroTimestamp();
    error ZeroValue();
    error ClientIsFrozen();
    error InvalidSignatureLength(uint256 index);
    error InvalidSignature(uint256 index);
    error NotAMember(address signer);
    error DuplicateSigner(address signer);
    error QuorumNotMet(uint256 signatures, uint256 minRequiredSigs);
    error NoConsensusState(uint64 height);
    error HeightMismatch(uint64 expected, uint64 attested);
    error EmptyAttestation();
    /// No attested packet has this path.
    error KeyNotAttested(bytes32 pathKey);
    /// The path is attested, but never with this commitment.
    error NotMember(bytes32 pathKey, bytes32 value);
    /// Non-membership: the path is attested with a nonzero commitment.
    error NonMembershipFailed(bytes32 pathKey, bytes32 commitment);

    event ClientUpdated(uint64 indexed height, uint64 timestamp);
    event ClientFrozen(uint64 height, uint64 storedTimestamp, uint64 conflictingTimestamp);

    /// ibc-go `AttestationTypeState` / `AttestationTypePacket` (signature.go).
    uint8 public constant STATE_TAG = 0x01;
    uint8 public constant PACKET_TAG = 0x02;
    /// Upper bound for low-s signatures (secp256k1n / 2), as in EIP-2.
    uint256 private constant HALF_N =
        0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;
    /// Duplicates are caught with a 256-bit bitmap.
    uint256 private constant MAX_ATTESTORS = 256;

    // One slot: read together by updates and proofs.
    bool public frozen;
    uint64 public latestHeight;
    uint8 public minRequiredSigs;

    /// height → attested timestamp in seconds (0: no consensus state).
    mapping(uint64 => uint64) private _timestamps;
    /// `keccak256` of the last packet proof whose signatures passed in this transaction.
    bytes32 private transient _checkedProof;
    address[] private _attestors;
    /// 1-based index of each attestor.
    mapping(address => uint256) private _attestorIndex;

    constructor(
        address[] memory attestors_,
        uint8 minRequiredSigs_,
        uint64 initialHeight,
        uint64 initialTimestampSeconds
    ) {
        uint256 n = attestors_.length;
        if (n == 0 || n > MAX_ATTESTORS) revert InvalidAttestorSet();
        if (minRequiredSigs_ == 0 || minRequiredSigs_ > n) revert InvalidQuorum();
        if (initialHeight == 0) revert ZeroHeight();
        if (initialTimestampSeconds == 0) revert ZeroTimestamp();
        for (uint256 i; i < n; ++i) {
            address a = attestors_[i];
            if (a == address(0) || _attestorIndex[a] != 0) revert InvalidAttestorSet();
            _attestorIndex[a] = i + 1;
        }
        _attestors = attestors_;
        minRequiredSigs = minRequiredSigs_;
        _timestamps[initialHeight] = initialTimestampSeconds;
        latestHeight = initialHeight;
        emit ClientUpdated(initialHeight, initialTimestampSeconds);
    }

    // --- views ---------------------------------------------------------------------------------

    function attestors() external view returns (address[] memory) {
        return _attestors;
    }

    /// The attested timestamp (seconds) of `height`, 0 if the client has none.
    function consensusTimestamp(uint64 height) external view returns (uint64) {
        return _timestamps[height];
    }

    /// ibc-go's `TaggedSigningInput`: the 32 bytes each attestor signs (no EIP-191 prefix).
    function signingInput(bytes memory attestationData, uint8 tag) public pure returns (bytes32) {
        return sha256(abi.encodePacked(tag, sha256(attestationData)));
    }

    /// The StateAttestation bytes for (height, timestampSeconds), as ibc-go packs them.
    function encodeStateAttestation(uint64 height, uint64 timestampSeconds) external pure returns (bytes memory) {
        return abi.encode(height, timestampSeconds);
    }

    /// The PacketAttestation bytes, as ibc-go packs them (one tuple argument).
    function encodePacketAttestation(PacketAttestation calldata attestation) external pure returns (bytes memory) {
        return abi.encode(attestation);
    }

    // --- updates -------------------------------------------------------------------------------

    /// `updateMsg = abi.encode(bytes attestationData, bytes[] signatures)` with
    /// `attestationData = abi.encode(uint64 height, uint64 timestampSeconds)`, signed with tag 0x01.
    /// A height already stored with the same timestamp is a no-op; with another timestamp the
    /// client freezes (and the call returns, so the freeze is kept).
    function updateClient(bytes calldata updateMsg) external {
        if (frozen) revert ClientIsFrozen();
        (bytes memory data, bytes[] memory sigs) = abi.decode(updateMsg, (bytes, bytes[]));
        _checkSignatures(signingInput(data, STATE_TAG), sigs);
        (uint64 height, uint64 timestamp) = abi.decode(data, (uint64, uint64));
        if (height == 0) revert ZeroHeight();
        if (timestamp == 0) revert ZeroTimestamp();

        uint64 stored = _timestamps[height];
        if (stored != 0) {
            if (stored == timestamp) return;
            // A quorum signed two timestamps for one height (ibc-go's misbehaviour): stop
            // trusting it. Returning, not reverting, keeps the freeze.
            frozen = true;
            emit ClientFrozen(height, stored, timestamp);
            return;
        }
        _timestamps[height] = timestamp;
        if (height > latestHeight) latestHeight = height;
        emit ClientUpdated(height, timestamp);
    }

    // --- proofs --------------------------------------------------------------------------------

    /// `pathKey` is what FerryRouter passes, `keccak256(abi.encodePacked(clientId, uint8 kind,
    /// uint64 sequence))`. That is ibc-go's attested path `keccak256(keyPath[0])` for the v2 key
    /// `clientId ‖ kind ‖ be64(sequence)` (24-host/v2) when the counterparty registered the
    /// merkle prefix `[""]`: the key appended to an empty last element is the key itself.
    /// Returns the attested timestamp (seconds) of `height`.
    function verifyMembership(uint64 height, bytes calldata proof, bytes32 pathKey, bytes32 value)
        external
        returns (uint64 timestamp)
    {
        if (value == bytes32(0)) revert ZeroValue();
        PacketCompact[] memory packets;
        (timestamp, packets) = _attestedPackets(height, proof);
        bool pathFound;
        for (uint256 i; i < packets.length; ++i) {
            if (packets[i].path == pathKey) {
                if (packets[i].commitment == value) return timestamp;
                pathFound = true;
            }
        }
        if (!pathFound) revert KeyNotAttested(pathKey);
        revert NotMember(pathKey, value);
    }

    /// Every attested entry for `pathKey` must have commitment zero (and there must be one).
    function verifyNonMembership(uint64 height, bytes calldata proof, bytes32 pathKey)
        external
        returns (uint64 timestamp)
    {
        PacketCompact[] memory packets;
        (timestamp, packets) = _attestedPackets(height, proof);
        bool pathFound;
        for (uint256 i; i < packets.length; ++i) {
            if (packets[i].path == pathKey) {
                if (packets[i].commitment != bytes32(0)) {
                    revert NonMembershipFailed(pathKey, packets[i].commitment);
                }
                pathFound = true;
            }
        }
        if (!pathFound) revert KeyNotAttested(pathKey);
    }

    // --- internals -----------------------------------------------------------------------------

    /// The packets of a quorum-signed PacketAttestation for `height`, and the stored timestamp.
    ///
    /// The last proof whose signatures passed is remembered in transient storage (EIP-1153) until
    /// the transaction ends, as `keccak256(proof)`: the relayer's batch passes one attestation to
    /// each of its packets in a row, and only the first pays for the signature checks. Everything else (not
    /// frozen, a consensus state at `height`, the attested height, the entry for the path) is
    /// checked on every call. The attestor set never changes, so a proof that passed once in a
    /// transaction passes again.
    function _attestedPackets(uint64 height, bytes calldata proof)
        private
        returns (uint64 timestamp, PacketCompact[] memory packets)
    {
        if (frozen) revert ClientIsFrozen();
        timestamp = _timestamps[height];
        if (timestamp == 0) revert NoConsensusState(height);
        (bytes memory data, bytes[] memory sigs) = abi.decode(proof, (bytes, bytes[]));
        bytes32 proofHash = keccak256(proof);
        if (proofHash != _checkedProof) {
            _checkSignatures(signingInput(data, PACKET_TAG), sigs);
            _checkedProof = proofHash;
        }
        PacketAttestation memory att = abi.decode(data, (PacketAttestation));
        if (att.height != height) revert HeightMismatch(height, att.height);
        if (att.packets.length == 0) revert EmptyAttestation();
        packets = att.packets;
    }

    /// At least `minRequiredSigs` 65-byte `r ‖ s ‖ v` signatures (v 27/28 or 0/1, low s) of
    /// `digest`, each by a distinct attestor.
    function _checkSignatures(bytes32 digest, bytes[] memory sigs) private view {
        uint256 n = sigs.length;
        uint8 q = minRequiredSigs;
        if (n < q) revert QuorumNotMet(n, q);
        uint256 seen; // bit i set = attestor i signed
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
            if (v < 27) v += 27;
            if (uint256(s) > HALF_N || (v != 27 && v != 28)) revert InvalidSignature(i);
            address signer = ecrecover(digest, v, r, s);
            if (signer == address(0)) revert InvalidSignature(i);
            uint256 idx = _attestorIndex[signer];
            if (idx == 0) revert NotAMember(signer);
            uint256 bit = 1 << (idx - 1);
            if (seen & bit != 0) revert DuplicateSigner(signer);
            seen |= bit;
        }
    }
}
