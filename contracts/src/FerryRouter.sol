// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {Payload, Packet, ILightClient, IFerryApp, IFerryRouter} from "./IFerry.sol";

/// IBC v2-style core: light clients keyed by client id, apps keyed by port, and the packet,
/// receipt and acknowledgement commitments that the counterparty proves against.
contract FerryRouter is IFerryRouter {
    /// Slot 0, and no inherited storage: counterparties prove `keccak256(abi.encode(pathKey, 0))`.
    mapping(bytes32 => bytes32) public commitments;

    struct Client {
        address lightClient;
        uint64 nextSequenceSend;
        string counterparty;
    }

    mapping(string => Client) private _clients;
    mapping(string => address) private _apps;
    address public immutable owner;

    uint8 internal constant KIND_PACKET = 1;
    uint8 internal constant KIND_RECEIPT = 2;
    uint8 internal constant KIND_ACK = 3;
    bytes32 internal constant RECEIPT = bytes32(uint256(1));
    /// sha256("UNIVERSAL_ERROR_ACKNOWLEDGEMENT"), as in ibc-go v10.
    bytes32 public constant UNIVERSAL_ERROR_ACK =
        0x4774d4a575993f963b1c06573736617a457abef8589178db8d10c94b4ab511ab;

    error NotOwner();
    error ClientExists(string clientId);
    error InvalidLightClient();
    error UnknownClient(string clientId);
    error UnknownApp(string port);
    error UnauthorizedApp(address caller);
    error InvalidTimeout(uint64 timeoutTimestamp);
    error WrongCounterparty(string expected, string actual);
    error InvalidPayloadCount(uint256 count);
    error PacketTimedOut(uint64 timeoutTimestamp, uint256 blockTimestamp);
    error PacketAlreadyReceived(uint64 sequence);
    error PacketNotPending(uint64 sequence);
    error PacketCommitmentMismatch(bytes32 stored, bytes32 computed);
    error TimeoutNotReached(uint64 timeoutTimestamp, uint64 clientTimestamp);
    error AppOutOfGas();

    event SendPacket(string indexed sourceClient, uint64 indexed sequence, Packet packet);
    event RecvPacket(string indexed destClient, uint64 indexed sequence);
    event WriteAcknowledgement(
        string indexed destClient, uint64 indexed sequence, Packet packet, bytes acknowledgement
    );
    event AckPacket(string indexed sourceClient, uint64 indexed sequence);
    event TimeoutPacket(string indexed sourceClient, uint64 indexed sequence);

    constructor() {
        owner = msg.sender;
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    // --- administration ------------------------------------------------------------------------

    function addClient(string calldata clientId, address lightClient, string calldata counterpartyClientId)
        external
        onlyOwner
    {
        if (lightClient == address(0)) revert InvalidLightClient();
        Client storage c = _clients[clientId];
        if (c.lightClient != address(0)) revert ClientExists(clientId);
        c.lightClient = lightClient;
        c.nextSequenceSend = 1;
        c.counterparty = counterpartyClientId;
    }

    function registerApp(string calldata port, address app) external onlyOwner {
        _apps[port] = app;
    }

    // --- packets -------------------------------------------------------------------------------

    function sendPacket(string calldata sourceClient, uint64 timeoutTimestamp, Payload calldata payload)
        external
        returns (uint64 sequence)
    {
        if (_apps[payload.sourcePort] != msg.sender) revert UnauthorizedApp(msg.sender);
        Client storage c = _clients[sourceClient];
        if (c.lightClient == address(0)) revert UnknownClient(sourceClient);
        if (timeoutTimestamp <= block.timestamp) revert InvalidTimeout(timeoutTimestamp);
        sequence = c.nextSequenceSend;
        c.nextSequenceSend = sequence + 1;
        string memory destClient = c.counterparty;
        commitments[pathKey(sourceClient, KIND_PACKET, sequence)] =
            _commit(destClient, timeoutTimestamp, hashPayload(payload));
        Payload[] memory payloads = new Payload[](1);
        payloads[0] = payload;
        emit SendPacket(
            sourceClient, sequence, Packet(sequence, sourceClient, destClient, timeoutTimestamp, payloads)
        );
    }

    function recvPacket(Packet calldata packet, bytes calldata proof, uint64 proofHeight) external {
        bytes32 receiptKey = _checkRecv(packet, proof, proofHeight);
        commitments[receiptKey] = RECEIPT;
        bytes memory ack = _callRecv(packet);
        commitments[pathKey(packet.destClient, KIND_ACK, packet.sequence)] = commitAck(ack);
        emit RecvPacket(packet.destClient, packet.sequence);
        emit WriteAcknowledgement(packet.destClient, packet.sequence, packet, ack);
    }

    function ackPacket(
        Packet calldata packet,
        bytes calldata acknowledgement,
        bytes calldata proof,
        uint64 proofHeight
    ) external {
        bytes32 key = _verifyAck(packet, acknowledgement, proof, proofHeight);
        delete commitments[key];
        Payload calldata p = packet.payloads[0];
        IFerryApp(_apps[p.sourcePort]).onAcknowledgementPacket(
            packet.sourceClient, packet.destClient, packet.sequence, p, acknowledgement
        );
        emit AckPacket(packet.sourceClient, packet.sequence);
    }

    function timeoutPacket(Packet calldata packet, bytes calldata proof, uint64 proofHeight) external {
        (address lc, bytes32 key) = _checkPending(packet);
        uint64 clientTime = ILightClient(lc).verifyNonMembership(
            proofHeight, proof, pathKey(packet.destClient, KIND_RECEIPT, packet.sequence)
        );
        if (clientTime < packet.timeoutTimestamp) {
            revert TimeoutNotReached(packet.timeoutTimestamp, clientTime);
        }
        delete commitments[key];
        Payload calldata p = packet.payloads[0];
        IFerryApp(_apps[p.sourcePort]).onTimeoutPacket(packet.sourceClient, packet.destClient, packet.sequence, p);
        emit TimeoutPacket(packet.sourceClient, packet.sequence);
    }

    function updateClient(string calldata clientId, bytes calldata updateMsg) external {
        address lc = _clients[clientId].lightClient;
        if (lc == address(0)) revert UnknownClient(clientId);
        ILightClient(lc).updateClient(updateMsg);
    }

    /// Runs each call on this router in order (msg.sender preserved); any failure reverts all and
    /// re-raises the inner revert data unchanged.
    function multicall(bytes[] calldata calls) external returns (bytes[] memory results) {
        results = new bytes[](calls.length);
        for (uint256 i; i < calls.length; ++i) {
            (bool ok, bytes memory ret) = address(this).delegatecall(calls[i]);
            if (!ok) {
                assembly {
                    revert(add(ret, 32), mload(ret))
                }
            }
            results[i] = ret;
        }
    }

    // --- views ---------------------------------------------------------------------------------

    function nextSequenceSend(string calldata clientId) external view returns (uint64) {
        return _clients[clientId].nextSequenceSend;
    }

    function lightClientOf(string calldata clientId) external view returns (address) {
        return _clients[clientId].lightClient;
    }

    function counterpartyOf(string calldata clientId) external view returns (string memory) {
        return _clients[clientId].counterparty;
    }

    function appOf(string calldata port) external view returns (address) {
        return _apps[port];
    }

    /// The sequences among `seqs` that have no receipt under `destClient`.
    function unreceived(string calldata destClient, uint64[] calldata seqs)
        external
        view
        returns (uint64[] memory out)
    {
        return _filter(destClient, KIND_RECEIPT, seqs, false);
    }

    /// The sequences among `seqs` whose packet commitment under `sourceClient` is still set.
    function pendingCommitments(string calldata sourceClient, uint64[] calldata seqs)
        external
        view
        returns (uint64[] memory out)
    {
        return _filter(sourceClient, KIND_PACKET, seqs, true);
    }

    function pathKey(string calldata clientId, uint8 kind, uint64 sequence) public pure returns (bytes32) {
        return keccak256(abi.encodePacked(clientId, kind, sequence));
    }

    /// The ibc-go v10 packet commitment (one payload).
    function commitPacket(Packet calldata packet) external pure returns (bytes32) {
        if (packet.payloads.length != 1) revert InvalidPayloadCount(packet.payloads.length);
        return _commit(packet.destClient, packet.timeoutTimestamp, hashPayload(packet.payloads[0]));
    }

    /// The ibc-go v10 acknowledgement commitment (one app acknowledgement).
    function commitAck(bytes memory acknowledgement) public pure returns (bytes32) {
        return sha256(abi.encodePacked(bytes1(0x02), sha256(acknowledgement)));
    }

    function hashPayload(Payload calldata p) public pure returns (bytes32) {
        return sha256(
            abi.encodePacked(
                sha256(bytes(p.sourcePort)),
                sha256(bytes(p.destPort)),
                sha256(bytes(p.version)),
                sha256(bytes(p.encoding)),
                sha256(p.value)
            )
        );
    }

    // --- internals -----------------------------------------------------------------------------

    function _commit(string memory destClient, uint64 timeoutTimestamp, bytes32 payloadHash)
        private
        pure
        returns (bytes32)
    {
        return sha256(
            abi.encodePacked(
                bytes1(0x02),
                sha256(bytes(destClient)),
                sha256(abi.encodePacked(timeoutTimestamp)),
                sha256(abi.encodePacked(payloadHash))
            )
        );
    }

    /// Everything recvPacket requires before it writes: returns the receipt's key.
    function _checkRecv(Packet calldata packet, bytes calldata proof, uint64 proofHeight)
        private
        view
        returns (bytes32 receiptKey)
    {
        Client storage c = _clients[packet.destClient];
        address lc = c.lightClient;
        if (lc == address(0)) revert UnknownClient(packet.destClient);
        if (keccak256(bytes(c.counterparty)) != keccak256(bytes(packet.sourceClient))) {
            revert WrongCounterparty(c.counterparty, packet.sourceClient);
        }
        if (packet.payloads.length != 1) revert InvalidPayloadCount(packet.payloads.length);
        if (block.timestamp >= packet.timeoutTimestamp) {
            revert PacketTimedOut(packet.timeoutTimestamp, block.timestamp);
        }
        receiptKey = pathKey(packet.destClient, KIND_RECEIPT, packet.sequence);
        if (commitments[receiptKey] != bytes32(0)) revert PacketAlreadyReceived(packet.sequence);
        bytes32 commitment = _commit(packet.destClient, packet.timeoutTimestamp, hashPayload(packet.payloads[0]));
        bytes32 packetKey = pathKey(packet.sourceClient, KIND_PACKET, packet.sequence);
        ILightClient(lc).verifyMembership(proofHeight, proof, packetKey, commitment);
    }

    /// The app's acknowledgement, or the universal error ack if the app reverts.
    function _callRecv(Packet calldata packet) private returns (bytes memory ack) {
        Payload calldata p = packet.payloads[0];
        address app = _apps[p.destPort];
        if (app == address(0)) revert UnknownApp(p.destPort);
        uint256 gasBefore = gasleft();
        try IFerryApp(app).onRecvPacket(packet.sourceClient, packet.destClient, packet.sequence, p) returns (
            bytes memory appAck
        ) {
            ack = appAck;
        } catch {
            // If the app ran out of the 63/64 it was given, the relayer sent too little gas: fail
            // the whole call rather than write an error ack the packet did not deserve.
            if (gasleft() <= gasBefore / 63) revert AppOutOfGas();
            ack = abi.encodePacked(UNIVERSAL_ERROR_ACK);
        }
    }

    function _verifyAck(
        Packet calldata packet,
        bytes calldata acknowledgement,
        bytes calldata proof,
        uint64 proofHeight
    ) private view returns (bytes32 key) {
        address lc;
        (lc, key) = _checkPending(packet);
        bytes32 ackKey = pathKey(packet.destClient, KIND_ACK, packet.sequence);
        ILightClient(lc).verifyMembership(proofHeight, proof, ackKey, commitAck(acknowledgement));
    }

    /// For ack and timeout: the packet must be ours and still pending, byte for byte.
    function _checkPending(Packet calldata packet) private view returns (address lc, bytes32 key) {
        lc = _clients[packet.sourceClient].lightClient;
        if (lc == address(0)) revert UnknownClient(packet.sourceClient);
        if (packet.payloads.length != 1) revert InvalidPayloadCount(packet.payloads.length);
        key = pathKey(packet.sourceClient, KIND_PACKET, packet.sequence);
        bytes32 stored = commitments[key];
        if (stored == bytes32(0)) revert PacketNotPending(packet.sequence);
        bytes32 computed = _commit(packet.destClient, packet.timeoutTimestamp, hashPayload(packet.payloads[0]));
        if (stored != computed) revert PacketCommitmentMismatch(stored, computed);
    }

    function _filter(string calldata clientId, uint8 kind, uint64[] calldata seqs, bool wantSet)
        private
        view
        returns (uint64[] memory out)
    {
        out = new uint64[](seqs.length);
        uint256 n;
        for (uint256 i; i < seqs.length; ++i) {
            if ((commitments[pathKey(clientId, kind, seqs[i])] != bytes32(0)) == wantSet) out[n++] = seqs[i];
        }
        assembly {
            mstore(out, n) // shrink to the matches
        }
    }
}
