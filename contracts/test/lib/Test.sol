// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm} from "./Vm.sol";

/// @notice The smallest test base that forge needs: the cheatcode handle and a fuzz input bound.
/// @dev forge marks a test failed when it reverts; `vm.assert*` cheatcodes revert with a message.
abstract contract Test {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    /// @notice A figure a test reports; forge prints it with `-vv` (the DSTest log convention).
    event log_named_uint(string key, uint256 val);

    /// @dev Maps a fuzzed `x` into `[min, max]`, keeping values already inside it unchanged so the
    /// fuzzer's edge values (0, 1, max...) still reach the code under test.
    function bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        require(min <= max, "bound: min > max");
        if (x >= min && x <= max) return x;
        uint256 size = max - min;
        if (size == type(uint256).max) return x;
        return min + x % (size + 1);
    }
}

/// @notice What forge's invariant runner reads from an invariant test contract.
/// @dev forge calls `targetContracts()` and `targetSelectors()` (and a few more, which default to
/// empty when absent) once after `setUp`, then fuzzes calls to those selectors only.
abstract contract InvariantTest is Test {
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    address[] private _targetedContracts;
    FuzzSelector[] private _targetedSelectors;

    function targetContract(address target) internal {
        _targetedContracts.push(target);
    }

    function targetSelector(FuzzSelector memory selector) internal {
        _targetedSelectors.push(selector);
    }

    function targetContracts() public view returns (address[] memory) {
        return _targetedContracts;
    }

    function targetSelectors() public view returns (FuzzSelector[] memory) {
        return _targetedSelectors;
    }
}
