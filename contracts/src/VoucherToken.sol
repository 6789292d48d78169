// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ERC20} from "./lib/ERC20.sol";

/// The ERC-20 standing for a token received over IBC. Only the ICS-20 app that deployed it
/// (`minter`) mints and burns; the name is the full denom trace, e.g. `transfer/client-0/0xabc…`.
contract VoucherToken is ERC20 {
    error OnlyMinter();

    address public immutable minter;
    string private _trace;

    constructor(string memory trace) {
        minter = msg.sender;
        _trace = trace;
    }

    modifier onlyMinter() {
        if (msg.sender != minter) revert OnlyMinter();
        _;
    }

    function mint(address to, uint256 value) external onlyMinter {
        _mint(to, value);
    }

    function burn(address from, uint256 value) external onlyMinter {
        _burn(from, value);
    }

    function name() public view override returns (string memory) {
        return _trace;
    }

    function symbol() public pure override returns (string memory) {
        return "IBC";
    }

    /// The source chain's decimals are not known here, so none are assumed.
    function decimals() public pure override returns (uint8) {
        return 0;
    }
}
