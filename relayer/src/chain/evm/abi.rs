//! Typed bindings for Ferry's contracts (`contracts/README.md` is the interface). Human-readable ABI,
//! so the relayer builds without the compiled artifacts.

#![allow(clippy::too_many_arguments)]

use ethers::contract::abigen;

abigen!(
    FerryRouter,
    r#"[
        struct Payload { string sourcePort; string destPort; string version; string encoding; bytes value; }
        struct Packet { uint64 sequence; string sourceClient; string destClient; uint64 timeoutTimestamp; Payload[] payloads; }
        function addClient(string clientId, address lightClient, string counterpartyClientId)
        function registerApp(string port, address app)
        function recoverClient(string clientId, address substituteLightClient)
        function closeSetup()
        function schedule(bytes call) returns (bytes32)
        function execute(bytes call)
        function cancel(bytes32 id)
        function readyAt(bytes32 id) view returns (uint256)
        function transferOwnership(address newOwner)
        function acceptOwnership()
        function owner() view returns (address)
        function pendingOwner() view returns (address)
        function adminDelay() view returns (uint64)
        function setupOpen() view returns (bool)
        function recvPacket(Packet packet, bytes proof, uint64 proofHeight)
        function ackPacket(Packet packet, bytes acknowledgement, bytes proof, uint64 proofHeight)
        function timeoutPacket(Packet packet, bytes proof, uint64 proofHeight)
        function updateClient(string clientId, bytes updateMsg)
        function multicall(bytes[] calls) returns (bytes[] results)
        function commitments(bytes32 key) view returns (bytes32)
        function nextSequenceSend(string clientId) view returns (uint64)
        function lightClientOf(string clientId) view returns (address)
        function counterpartyOf(string clientId) view returns (string)
        function appOf(string port) view returns (address)
        function unreceived(string destClient, uint64[] seqs) view returns (uint64[])
        function pendingCommitments(string sourceClient, uint64[] seqs) view returns (uint64[])
        function pathKey(string clientId, uint8 kind, uint64 sequence) view returns (bytes32)
        event SendPacket(string indexed sourceClient, uint64 indexed sequence, Packet packet)
        event RecvPacket(string indexed destClient, uint64 indexed sequence)
        event WriteAcknowledgement(string indexed destClient, uint64 indexed sequence, Packet packet, bytes acknowledgement)
        event AckPacket(string indexed sourceClient, uint64 indexed sequence)
        event TimeoutPacket(string indexed sourceClient, uint64 indexed sequence)
        event PacketNoop(string indexed client, uint64 indexed sequence, uint8 kind)
        event AdminScheduled(bytes32 indexed id, uint256 readyAt, bytes call)
    ]"#
);

abigen!(
    AttestedLightClient,
    r#"[
        function updateClient(bytes updateMsg)
        function latestHeight() view returns (uint64)
        function consensusState(uint64 height) view returns (uint64 timestamp, bytes32 stateRoot)
        function frozen() view returns (bool)
        function attestors() view returns (address[])
        function quorum() view returns (uint8)
        function epoch() view returns (uint64)
        function attestedChain() view returns (string)
        function counterpartyRouter() view returns (address)
        function domainSeparator() view returns (bytes32)
        function rotateAttestors(address[] newAttestors, uint8 newQuorum, bytes[] signatures)
        event ClientUpdated(uint64 indexed height, uint64 timestamp, bytes32 stateRoot)
        event AttestorsRotated(uint64 epoch, address[] attestors, uint8 quorum)
        event ClientFrozen(uint64 height)
    ]"#
);

abigen!(
    Ics20Transfer,
    r#"[
        function sendTransfer(address token, uint256 amount, string receiver, string sourceClient, uint64 timeoutTimestamp, string memo) returns (uint64)
        function voucherOf(string trace) view returns (address)
        function traceOf(address voucher) view returns (string)
        function escrowed(string clientId, address token) view returns (uint256)
        event TransferSent(uint64 indexed sequence, address indexed sender, string denom, uint256 amount, string receiver)
        event TransferRefunded(uint64 indexed sequence, address indexed sender, string denom, uint256 amount)
    ]"#
);

abigen!(
    Erc20,
    r#"[
        function name() view returns (string)
        function symbol() view returns (string)
        function decimals() view returns (uint8)
        function totalSupply() view returns (uint256)
        function balanceOf(address owner) view returns (uint256)
        function allowance(address owner, address spender) view returns (uint256)
        function approve(address spender, uint256 amount) returns (bool)
        function transfer(address to, uint256 amount) returns (bool)
        function transferFrom(address from, address to, uint256 amount) returns (bool)
    ]"#
);

/// ICS-20 packet data as the transfer app ABI-encodes it.
#[derive(
    Clone, Debug, PartialEq, Eq, ethers::contract::EthAbiType, ethers::contract::EthAbiCodec,
)]
pub struct FungibleTokenPacketData {
    pub denom: String,
    pub sender: String,
    pub receiver: String,
    pub amount: ethers::types::U256,
    pub memo: String,
}

abigen!(
    AttestationsLightClient,
    r#"[
        function updateClient(bytes updateMsg)
        function latestHeight() view returns (uint64)
        function consensusTimestamp(uint64 height) view returns (uint64)
        function frozen() view returns (bool)
        function attestors() view returns (address[])
        function minRequiredSigs() view returns (uint8)
    ]"#
);
