// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {Payload, Packet, ILightClient, IFerryApp, IFerryRouter} from "./IFerry.sol";

/// IBC v2-style core: light clients keyed by client id, apps keyed by port, and the packet,
/// receipt and acknowledgement commitments that the counterparty proves against.
///
/// Administration: one owner (two-step transfer). While `setupOpen` the owner adds clients and
/// registers apps directly; after `closeSetup()` every admin action is scheduled and runs only
/// `adminDelay` seconds later, through `execute`.
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
    address public owner;
    address public pendingOwner;
    /// True from deployment until `closeSetup()`: the owner may administer without the timelock.
    bool public setupOpen;
    /// id = keccak256(call) → earliest `execute` time (0: not scheduled).
    mapping(bytes32 => uint256) public readyAt;
    uint64 public immutable adminDelay;

    uint8 internal constant KIND_PACKET = 1;
    uint8 internal constant KIND_RECEIPT = 2;
    uint8 internal constant KIND_ACK = 3;
    /// `PacketNoop.kind`: which call found nothing to do.
    uint8 internal constant NOOP_RECV = 1;
    uint8 internal constant NOOP_ACK = 2;
    uint8 internal constant NOOP_TIMEOUT = 3;
    bytes32 internal constant RECEIPT = bytes32(uint256(1));
    /// sha256("UNIVERSAL_ERROR_ACKNOWLEDGEMENT"), as in ibc-go v10.
    bytes32 public constant UNIVERSAL_ERROR_ACK =
        0x4774d4a575993f963b1c06573736617a457abef8589178db8d10c94b4ab511ab;
    /// The furthest a packet may time out, from now (ibc-go v2: 24 h).
    uint256 public constant MAX_TIMEOUT_DELTA = 86400;

    error NotOwner();
    error NotPendingOwner();
    error TimelockRequired();
    error SetupAlreadyClosed();
    error NotAdminCall(bytes4 selector);
    error AlreadyScheduled(bytes32 id);
    error NotScheduled(bytes32 id);
    error NotReady(bytes32 id, uint256 readyAt);
    error ClientExists(string clientId);
    error InvalidLightClient();
    error ClientNotFrozen(string clientId);
    error SubstituteFrozen(address substitute);
    error UnknownClient(string clientId);
    error UnknownApp(string port);
    error UnauthorizedApp(address caller);
    error InvalidTimeout(uint64 timeoutTimestamp);
    error TimeoutTooFar(uint64 timeoutTimestamp, uint256 maxTimestamp);
    error WrongCounterparty(string expected, string actual);
    error InvalidPayloadCount(uint256 count);
    error PacketTimedOut(uint64 timeoutTimestamp, uint256 blockTimestamp);
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
    /// A redundant delivery: `kind` 1 = recvPacket (receipt already written, `client` = dest
    /// client), 2 = ackPacket, 3 = timeoutPacket (commitment already gone, `client` = source client).
    event PacketNoop(string indexed client, uint64 indexed sequence, uint8 kind);

    event ClientAdded(string clientId, address lightClient, string counterpartyClientId);
    event AppRegistered(string port, address app);
    event ClientRecovered(string clientId, address substitute);
    event SetupClosed();
    event AdminScheduled(bytes32 indexed id, uint256 readyAt, bytes call);
    event AdminExecuted(bytes32 indexed id);
    event AdminCancelled(bytes32 indexed id);
    event OwnershipTransferStarted(address indexed previousOwner, address indexed newOwner);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    constructor(uint64 adminDelay_) {
        owner = msg.sender;
        adminDelay = adminDelay_;
        setupOpen = true;
        emit OwnershipTransferred(address(0), msg.sender);
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    /// The owner while setup is open; afterwards only `execute` (the router calling itself).
    modifier onlyAdmin() {
        if (msg.sender != address(this)) {
            if (msg.sender != owner) revert NotOwner();
            if (!setupOpen) revert TimelockRequired();
        }
        _;
    }

    // --- ownership and timelock ----------------------------------------------------------------

    /// Starts a transfer; `newOwner` must `acceptOwnership()`. address(0) cancels a pending one.
    function transferOwnership(address newOwner) external onlyOwner {
        pendingOwner = newOwner;
        emit OwnershipTransferStarted(msg.sender, newOwner);
    }

    function acceptOwnership() external {
        if (msg.sender != pendingOwner) revert NotPendingOwner();
        emit OwnershipTransferred(owner, msg.sender);
        owner = msg.sender;
        pendingOwner = address(0);
    }

    /// Ends direct administration: from now on admin actions go through the timelock.
    function closeSetup() external onlyOwner {
        if (!setupOpen) revert SetupAlreadyClosed();
        setupOpen = false;
        emit SetupClosed();
    }

    /// Schedules `call` (calldata of addClient, registerApp or recoverClient on this router) to be
    /// runnable by `execute` from `adminDelay` seconds on.
    function schedule(bytes calldata call) external onlyOwner returns (bytes32 id) {
        _requireAdminCall(call);
        id = keccak256(call);
        if (readyAt[id] != 0) revert AlreadyScheduled(id);
        uint256 at = block.timestamp + adminDelay;
        readyAt[id] = at;
        emit AdminScheduled(id, at, call);
    }

    /// Runs a scheduled `call` whose delay has passed; an inner revert is re-raised unchanged.
    function execute(bytes calldata call) external onlyOwner {
        _requireAdminCall(call);
        bytes32 id = keccak256(call);
        uint256 at = readyAt[id];
        if (at == 0) revert NotScheduled(id);
        if (block.timestamp < at) revert NotReady(id, at);
        delete readyAt[id];
        (bool ok, bytes memory ret) = address(this).call(call);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
        emit AdminExecuted(id);
    }

    function cancel(bytes32 id) external onlyOwner {
        if (readyAt[id] == 0) revert NotScheduled(id);
        delete readyAt[id];
        emit AdminCancelled(id);
    }

    // --- administration (onlyAdmin) ------------------------------------------------------------

    function addClient(string calldata clientId, address lightClient, string calldata counterpartyClientId)
        external
        onlyAdmin
    {
        if (lightClient == address(0)) revert InvalidLightClient();
        Client storage c = _clients[clientId];
        if (c.lightClient != address(0)) revert ClientExists(clientId);
        c.lightClient = lightClient;
        c.nextSequenceSend = 1;
        c.counterparty = counterpartyClientId;
        emit ClientAdded(clientId, lightClient, counterpartyClientId);
    }

    function registerApp(string calldata port, address app) external onlyAdmin {
        _apps[port] = app;
        emit AppRegistered(port, app);
    }

    /// Replaces the light client of `clientId`, which must be frozen, by `substituteLightClient`
    /// (not frozen); the counterparty, sequences and all commitments are kept. As ibc-go's
    /// client recovery by substitute.
    function recoverClient(string calldata clientId, address substituteLightClient) external onlyAdmin {
        Client storage c = _clients[clientId];
        address lc = c.lightClient;
        if (lc == address(0)) revert UnknownClient(clientId);
        if (substituteLightClient == address(0)) revert InvalidLightClient();
        if (!ILightClient(lc).frozen()) revert ClientNotFrozen(clientId);
        if (ILightClient(substituteLightClient).frozen()) revert SubstituteFrozen(substituteLightClient);
        c.lightClient = substituteLightClient;
        emit ClientRecovered(clientId, substituteLightClient);
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
        uint256 maxTimestamp = block.timestamp + MAX_TIMEOUT_DELTA;
        if (timeoutTimestamp > maxTimestamp) revert TimeoutTooFar(timeoutTimestamp, maxTimestamp);
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

    /// A packet whose receipt is already written is a no-op (`PacketNoop`), whatever the time.
    function recvPacket(Packet calldata packet, bytes calldata proof, uint64 proofHeight) external {
        bytes32 receiptKey = _checkRecv(packet, proof, proofHeight);
        if (receiptKey == bytes32(0)) {
            emit PacketNoop(packet.destClient, packet.sequence, NOOP_RECV);
            return;
        }
        commitments[receiptKey] = RECEIPT;
        bytes memory ack = _callRecv(packet);
        commitments[pathKey(packet.destClient, KIND_ACK, packet.sequence)] = commitAck(ack);
        emit RecvPacket(packet.destClient, packet.sequence);
        emit WriteAcknowledgement(packet.destClient, packet.sequence, packet, ack);
    }

    /// A packet whose commitment is already gone is a no-op (`PacketNoop`).
    function ackPacket(
        Packet calldata packet,
        bytes calldata acknowledgement,
        bytes calldata proof,
        uint64 proofHeight
    ) external {
        bytes32 key = _verifyAck(packet, acknowledgement, proof, proofHeight);
        if (key == bytes32(0)) {
            emit PacketNoop(packet.sourceClient, packet.sequence, NOOP_ACK);
            return;
        }
        delete commitments[key];
        Payload calldata p = packet.payloads[0];
        IFerryApp(_apps[p.sourcePort]).onAcknowledgementPacket(
            packet.sourceClient, packet.destClient, packet.sequence, p, acknowledgement
        );
        emit AckPacket(packet.sourceClient, packet.sequence);
    }

    /// A packet whose commitment is already gone is a no-op (`PacketNoop`).
    function timeoutPacket(Packet calldata packet, bytes calldata proof, uint64 proofHeight) external {
        (address lc, bytes32 key) = _checkPending(packet);
        if (key == bytes32(0)) {
            emit PacketNoop(packet.sourceClient, packet.sequence, NOOP_TIMEOUT);
            return;
        }
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

    /// Everything recvPacket requires before it writes: returns the receipt's key, or 0 when the
    /// receipt is already written (checked before the timeout, so a redundant delivery of a packet
    /// received in time never reverts).
    function _checkRecv(Packet calldata packet, bytes calldata proof, uint64 proofHeight)
        private
        returns (bytes32 receiptKey)
    {
        Client storage c = _clients[packet.destClient];
        address lc = c.lightClient;
        if (lc == address(0)) revert UnknownClient(packet.destClient);
        if (keccak256(bytes(c.counterparty)) != keccak256(bytes(packet.sourceClient))) {
            revert WrongCounterparty(c.counterparty, packet.sourceClient);
        }
        if (packet.payloads.length != 1) revert InvalidPayloadCount(packet.payloads.length);
        receiptKey = pathKey(packet.destClient, KIND_RECEIPT, packet.sequence);
        if (commitments[receiptKey] != bytes32(0)) return bytes32(0);
        if (block.timestamp >= packet.timeoutTimestamp) {
            revert PacketTimedOut(packet.timeoutTimestamp, block.timestamp);
        }
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
    ) private returns (bytes32 key) {
        address lc;
        (lc, key) = _checkPending(packet);
        if (key == bytes32(0)) return key;
        bytes32 ackKey = pathKey(packet.destClient, KIND_ACK, packet.sequence);
        ILightClient(lc).verifyMembership(proofHeight, proof, ackKey, commitAck(acknowledgement));
    }

    /// For ack and timeout: the packet must be ours and, if still pending, match byte for byte.
    /// Returns key 0 when its commitment is gone (already acknowledged or timed out).
    function _checkPending(Packet calldata packet) private view returns (address lc, bytes32 key) {
        lc = _clients[packet.sourceClient].lightClient;
        if (lc == address(0)) revert UnknownClient(packet.sourceClient);
        if (packet.payloads.length != 1) revert InvalidPayloadCount(packet.payloads.length);
        key = pathKey(packet.sourceClient, KIND_PACKET, packet.sequence);
        bytes32 stored = commitments[key];
        if (stored == bytes32(0)) return (lc, bytes32(0));
        bytes32 computed = _commit(packet.destClient, packet.timeoutTimestamp, hashPayload(packet.payloads[0]));
        if (stored != computed) revert PacketCommitmentMismatch(stored, computed);
    }

    /// Only addClient, registerApp and recoverClient may be scheduled and executed.
    function _requireAdminCall(bytes calldata call) private pure {
        bytes4 sel = call.length >= 4 ? bytes4(call[:4]) : bytes4(0);
        if (
            sel != this.addClient.selector && sel != this.registerApp.selector
                && sel != this.recoverClient.selector
        ) revert NotAdminCall(sel);
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
