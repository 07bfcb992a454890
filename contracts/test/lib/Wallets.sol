// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ILatchkey} from "../../src/ILatchkey.sol";

/// @notice A contract account (guest or host) whose `receive` misbehaves as told.
/// @dev Its settings live in transient storage so that reading them fits in the small gas
/// allowance a pushed refund gets; set them in the same test that triggers the payment.
contract HostileWallet {
    enum Mode {
        Accept,
        Revert,
        BurnGas,
        ReturnBomb,
        ReenterCheckoutByTime,
        ReenterWithdraw
    }

    /// @notice What a reentrant call into the contract returned.
    event Reentered(bool ok, bytes result);

    ILatchkey public immutable latchkey;
    Mode private transient _mode;
    // The rental to settle again from `receive`.
    uint256 private transient _id;
    address private transient _guest;
    uint64 private transient _start;
    uint64 private transient _end;
    uint128 private transient _deposit;
    uint128 private transient _pricePerSecond;
    uint128 private transient _pricePerWh;
    address private transient _signer;
    uint32 private transient _maxWatts;
    uint32 private transient _cancelWindow;

    constructor(ILatchkey latchkey_) {
        latchkey = latchkey_;
    }

    function setMode(Mode mode) external {
        _mode = mode;
    }

    function setReentryTarget(ILatchkey.Rental calldata r) external {
        (_id, _guest, _start, _end) = (r.id, r.guest, r.start, r.end);
        (_deposit, _pricePerSecond, _pricePerWh) = (r.deposit, r.pricePerSecond, r.pricePerWh);
        (_signer, _maxWatts, _cancelWindow) = (r.signer, r.maxWatts, r.cancelWindow);
    }

    /// @notice Calls the contract as this wallet, bubbling up any revert unchanged.
    function exec(bytes calldata data, uint256 value) external payable returns (bytes memory result) {
        bool ok;
        (ok, result) = address(latchkey).call{value: value}(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(result, 32), mload(result))
            }
        }
    }

    receive() external payable {
        Mode mode = _mode;
        if (mode == Mode.Accept) return;
        if (mode == Mode.Revert) revert("wallet refuses ether");
        if (mode == Mode.BurnGas) {
            while (true) {}
        }
        if (mode == Mode.ReturnBomb) {
            // As much revert data as the forwarded gas can pay for, for the caller to copy.
            assembly {
                revert(0, 48000)
            }
        }
        if (mode == Mode.ReenterCheckoutByTime) {
            ILatchkey.Rental memory r = ILatchkey.Rental(
                _id, _guest, _start, _end, _deposit, _pricePerSecond, _pricePerWh, _signer, _maxWatts, _cancelWindow
            );
            try latchkey.checkoutByTime(r) {
                emit Reentered(true, "");
            } catch (bytes memory reason) {
                emit Reentered(false, reason);
            }
            return;
        }
        if (mode == Mode.ReenterWithdraw) {
            try latchkey.withdraw() {
                emit Reentered(true, "");
            } catch (bytes memory reason) {
                emit Reentered(false, reason);
            }
        }
    }
}

/// @notice Sends its value to `to` without calling it: `selfdestruct` in the constructor still
/// transfers the balance after EIP-6780.
contract ForceSend {
    constructor(address payable to) payable {
        selfdestruct(to);
    }
}
