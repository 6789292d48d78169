// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// Types and interfaces shared by the router, its light clients and its apps.

struct Payload {
    string sourcePort;
    string destPort;
    string version;
    string encoding;
    bytes value;
}

struct Packet {
    uint64 sequence;
    string sourceClient;
    string destClient;
    uint64 timeoutTimestamp;
    Payload[] payloads;
}

interface ILightClient {
    function updateClient(bytes calldata updateMsg) external;

    /// Not `view`: a client may remember, for the rest of the transaction, a proof it checked
    /// (AttestationsLightClient does), so a batch sharing one proof pays its check once.
    function verifyMembership(uint64 height, bytes calldata proof, bytes32 pathKey, bytes32 value)
        external
        returns (uint64 timestamp);

    function verifyNonMembership(uint64 height, bytes calldata proof, bytes32 pathKey)
        external
        returns (uint64 timestamp);

    /// True once the client saw misbehaviour; it then refuses updates and proofs until the router
    /// replaces it (`FerryRouter.recoverClient`).
    function frozen() external view returns (bool);
}

/// Callbacks the router makes into the app bound to a port. A revert in `onRecvPacket` becomes
/// the universal error acknowledgement; a revert in the other two reverts the relayer's call.
interface IFerryApp {
    function onRecvPacket(
        string calldata sourceClient,
        string calldata destClient,
        uint64 sequence,
        Payload calldata payload
    ) external returns (bytes memory acknowledgement);

    function onAcknowledgementPacket(
        string calldata sourceClient,
        string calldata destClient,
        uint64 sequence,
        Payload calldata payload,
        bytes calldata acknowledgement
    ) external;

    function onTimeoutPacket(
        string calldata sourceClient,
        string calldata destClient,
        uint64 sequence,
        Payload calldata payload
    ) external;
}

interface IFerryRouter {
    function sendPacket(string calldata sourceClient, uint64 timeoutTimestamp, Payload calldata payload)
        external
        returns (uint64 sequence);
}
