// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {TestToken} from "./TestToken.sol";

/// A hostile ERC-20 for tests: `transferFrom` works (so it can be sent and escrowed) but
/// `transfer` always reverts (so its refund or release never can). The relayer must quarantine
/// such a packet rather than let it block the others.
contract HostileToken is TestToken {
    error TransferDisabled();

    constructor(string memory name_, string memory symbol_, uint8 decimals_, uint256 supply)
        TestToken(name_, symbol_, decimals_, supply)
    {}

    function transfer(address, uint256) external pure override returns (bool) {
        revert TransferDisabled();
    }
}
