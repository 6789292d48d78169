// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {Payload, IFerryApp, IFerryRouter} from "./IFerry.sol";
import {VoucherToken} from "./VoucherToken.sol";

interface IERC20Minimal {
    function transfer(address to, uint256 value) external returns (bool);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

/// The ICS-20 token transfer app on port `transfer`: escrows native ERC-20s, mints vouchers for
/// incoming foreign tokens, burns them on the way back, and refunds on error acks and timeouts.
/// Escrow is kept per (local client, token): a packet can release only what was escrowed for the
/// path it travelled over.
contract ICS20Transfer is IFerryApp {
    struct FungibleTokenPacketData {
        string denom;
        string sender;
        string receiver;
        uint256 amount;
        string memo;
    }

    error OnlyRouter();
    error ZeroAmount();
    error TokenTransferFailed(address token);
    error InvalidAddress(string text);
    error InvalidPayload();
    error InsufficientEscrow(address token, uint256 escrowed, uint256 needed);
    error InvalidPort(string sourcePort, string destPort);
    error MemoTooLong(uint256 length, uint256 max);
    error ReceiverTooLong(uint256 length, uint256 max);

    event TransferSent(
        uint64 indexed sequence, address indexed sender, string denom, uint256 amount, string receiver
    );
    event TransferReceived(
        uint64 indexed sequence, address indexed receiver, address token, string denom, uint256 amount
    );
    event TransferRefunded(uint64 indexed sequence, address indexed sender, string denom, uint256 amount);
    event VoucherCreated(address indexed voucher, string trace);

    string public constant PORT = "transfer";
    string public constant VERSION = "ics20-1";
    string public constant ENCODING = "application/x-solidity-abi";
    /// ibc-go's ICS-20 limits.
    uint256 public constant MAX_MEMO_LENGTH = 32768;
    uint256 public constant MAX_RECEIVER_LENGTH = 2048;
    /// The success acknowledgement, exactly what ibc-go's transfer app writes and expects over
    /// IBC v2: the JSON of `Acknowledgement{result: [0x01]}` (base64 "AQ==").
    string public constant SUCCESS_ACK = '{"result":"AQ=="}';
    bytes32 private constant PORT_HASH = keccak256("transfer");
    bytes32 private constant UNIVERSAL_ERROR_ACK =
        0x4774d4a575993f963b1c06573736617a457abef8589178db8d10c94b4ab511ab;

    address public immutable router;
    mapping(string => address) public voucherOf;
    mapping(address => string) public traceOf;
    /// Escrowed amount per (local client the tokens left over, token).
    mapping(string => mapping(address => uint256)) public escrowed;

    constructor(address router_) {
        router = router_;
    }

    modifier onlyRouter() {
        if (msg.sender != router) revert OnlyRouter();
        _;
    }

    function sendTransfer(
        address token,
        uint256 amount,
        string calldata receiver,
        string calldata sourceClient,
        uint64 timeoutTimestamp,
        string calldata memo
    ) external returns (uint64 sequence) {
        if (amount == 0) revert ZeroAmount();
        if (bytes(memo).length > MAX_MEMO_LENGTH) revert MemoTooLong(bytes(memo).length, MAX_MEMO_LENGTH);
        if (bytes(receiver).length > MAX_RECEIVER_LENGTH) {
            revert ReceiverTooLong(bytes(receiver).length, MAX_RECEIVER_LENGTH);
        }
        string memory denom = traceOf[token];
        if (bytes(denom).length != 0) {
            VoucherToken(token).burn(msg.sender, amount);
        } else {
            _safeCall(token, abi.encodeCall(IERC20Minimal.transferFrom, (msg.sender, address(this), amount)));
            escrowed[sourceClient][token] += amount;
            denom = _toHex(token);
        }
        bytes memory data = abi.encode(
            FungibleTokenPacketData(denom, _toHex(msg.sender), receiver, amount, memo)
        );
        sequence = IFerryRouter(router).sendPacket(
            sourceClient, timeoutTimestamp, Payload(PORT, PORT, VERSION, ENCODING, data)
        );
        emit TransferSent(sequence, msg.sender, denom, amount, receiver);
    }

    function onRecvPacket(
        string calldata sourceClient,
        string calldata destClient,
        uint64 sequence,
        Payload calldata payload
    ) external onlyRouter returns (bytes memory) {
        if (keccak256(bytes(payload.sourcePort)) != PORT_HASH || keccak256(bytes(payload.destPort)) != PORT_HASH) {
            revert InvalidPort(payload.sourcePort, payload.destPort);
        }
        FungibleTokenPacketData memory d = _decode(payload);
        address receiver = _parseAddress(d.receiver);
        bytes memory prefix = abi.encodePacked(PORT, "/", sourceClient, "/");
        address token;
        if (_hasPrefix(bytes(d.denom), prefix)) {
            // Our own token coming home over `destClient`: the rest of the trace is its address,
            // released from what left over that client.
            token = _parseAddress(string(_slice(bytes(d.denom), prefix.length)));
            _unescrow(destClient, token, receiver, d.amount);
        } else {
            string memory trace = string.concat(PORT, "/", destClient, "/", d.denom);
            token = voucherOf[trace];
            if (token == address(0)) {
                token = address(new VoucherToken(trace));
                voucherOf[trace] = token;
                traceOf[token] = trace;
                emit VoucherCreated(token, trace);
            }
            VoucherToken(token).mint(receiver, d.amount);
        }
        emit TransferReceived(sequence, receiver, token, d.denom, d.amount);
        return bytes(SUCCESS_ACK);
    }

    function onAcknowledgementPacket(
        string calldata sourceClient,
        string calldata,
        uint64 sequence,
        Payload calldata payload,
        bytes calldata acknowledgement
    ) external onlyRouter {
        // The universal error ack (the app on the other side failed) refunds; any other ack,
        // `SUCCESS_ACK` included, is a success.
        if (acknowledgement.length == 32 && bytes32(acknowledgement) == UNIVERSAL_ERROR_ACK) {
            _refund(sourceClient, sequence, payload);
        }
    }

    function onTimeoutPacket(string calldata sourceClient, string calldata, uint64 sequence, Payload calldata payload)
        external
        onlyRouter
    {
        _refund(sourceClient, sequence, payload);
    }

    // --- internals -----------------------------------------------------------------------------

    /// Gives back what a packet sent over `sourceClient` took: re-mints a voucher, or releases
    /// the escrow of that client.
    function _refund(string calldata sourceClient, uint64 sequence, Payload calldata payload) private {
        FungibleTokenPacketData memory d = _decode(payload);
        address sender = _parseAddress(d.sender);
        address voucher = voucherOf[d.denom];
        if (voucher != address(0)) {
            VoucherToken(voucher).mint(sender, d.amount);
        } else {
            _unescrow(sourceClient, _parseAddress(d.denom), sender, d.amount);
        }
        emit TransferRefunded(sequence, sender, d.denom, d.amount);
    }

    function _unescrow(string calldata clientId, address token, address to, uint256 amount) private {
        mapping(address => uint256) storage pool = escrowed[clientId];
        uint256 held = pool[token];
        if (held < amount) revert InsufficientEscrow(token, held, amount);
        unchecked {
            pool[token] = held - amount;
        }
        _safeCall(token, abi.encodeCall(IERC20Minimal.transfer, (to, amount)));
    }

    function _decode(Payload calldata payload) private pure returns (FungibleTokenPacketData memory) {
        if (
            keccak256(bytes(payload.version)) != keccak256(bytes(VERSION))
                || keccak256(bytes(payload.encoding)) != keccak256(bytes(ENCODING))
        ) revert InvalidPayload();
        return abi.decode(payload.value, (FungibleTokenPacketData));
    }

    /// ERC-20 call that accepts tokens returning nothing as well as `true`.
    function _safeCall(address token, bytes memory data) private {
        (bool ok, bytes memory ret) = token.call(data);
        if (!ok || token.code.length == 0 || (ret.length != 0 && !abi.decode(ret, (bool)))) {
            revert TokenTransferFailed(token);
        }
    }

    function _hasPrefix(bytes memory s, bytes memory prefix) private pure returns (bool) {
        if (s.length < prefix.length) return false;
        bytes32 a;
        bytes32 b;
        uint256 n = prefix.length;
        assembly {
            a := keccak256(add(s, 32), n)
            b := keccak256(add(prefix, 32), n)
        }
        return a == b;
    }

    function _slice(bytes memory s, uint256 from) private pure returns (bytes memory out) {
        out = new bytes(s.length - from);
        for (uint256 i; i < out.length; ++i) {
            out[i] = s[from + i];
        }
    }

    /// Lower-case `0x` hex, the denom of a native token and the sender field.
    function _toHex(address a) private pure returns (string memory) {
        bytes memory out = new bytes(42);
        bytes16 digits = "0123456789abcdef";
        out[0] = "0";
        out[1] = "x";
        uint160 v = uint160(a);
        for (uint256 i = 41; i > 1; --i) {
            out[i] = digits[v & 0xf];
            v >>= 4;
        }
        return string(out);
    }

    /// `0x` and 40 hex digits (either case; no checksum check), else InvalidAddress.
    function _parseAddress(string memory text) private pure returns (address) {
        bytes memory s = bytes(text);
        if (s.length != 42 || s[0] != "0" || (s[1] != "x" && s[1] != "X")) revert InvalidAddress(text);
        uint160 v;
        for (uint256 i = 2; i < 42; ++i) {
            uint8 c = uint8(s[i]);
            uint8 d;
            if (c >= 48 && c <= 57) d = c - 48;
            else if (c >= 97 && c <= 102) d = c - 87;
            else if (c >= 65 && c <= 70) d = c - 55;
            else revert InvalidAddress(text);
            v = (v << 4) | d;
        }
        return address(v);
    }
}
