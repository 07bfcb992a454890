// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ILatchkey} from "../src/ILatchkey.sol";
import {LatchkeyFixture} from "./LatchkeyFixture.sol";
import {Vm} from "./lib/Vm.sol";

/// @dev A contract whose only call costs nothing, to tell whether forge isolates calls.
contract NoOp {
    function poke() external {}
}

/// @notice A steady state for gas measurements: a warm contract, a host holding credit, a rental
/// running and one booked after it. Each test touches the contract only in the measured call, so
/// its storage is cold as in a fresh transaction (setUp runs in a transaction of its own).
abstract contract GasFixture is LatchkeyFixture {
    uint32 internal constant HOUR = 1 hours;

    ILatchkey.Rental internal running; // started 30 minutes ago, ends in 30 minutes
    ILatchkey.Rental internal upcoming; // starts when `running` ends
    ILatchkey.Receipt internal receipt; // for `running`
    bytes internal signature;
    uint256 internal otherDeviceId; // same host; its calendar word for now was used once (cancelled)
    NoOp private noOp;

    function setUp() public virtual override {
        super.setUp();
        noOp = new NoOp();
        vm.prank(host);
        otherDeviceId = latchkey.registerDevice(
            signer, ILatchkey.Kind.Lock, PRICE, 0, FACTOR, MIN, MAX, MAX_WATTS, SLOT, CANCEL_WINDOW
        );
        ILatchkey.Rental memory first = _rent(guest, 0, HOUR);
        vm.warp(block.timestamp + HOUR);
        _checkout(first, 1800, 10);
        running = _rent(guest, 0, HOUR);
        upcoming = _rent(guest, running.end, HOUR);
        vm.warp(block.timestamp + 30 minutes);
        receipt = _receipt(running, 1500, 20);
        signature = _sign(SIGNER_KEY, receipt);
        // Steady state for otherDeviceId: a booking of the slots a rent from now takes, cancelled,
        // leaves its calendar word non-zero (the tag), as any device rented before has.
        ILatchkey.Rental memory warm = _rentDevice(otherDeviceId, guest, uint64(block.timestamp + 1), HOUR);
        vm.prank(guest);
        latchkey.cancel(warm);
    }

    function _checkoutRunning() internal returns (uint256) {
        latchkey.checkout(running, receipt, signature);
        return _txGas(abi.encodeCall(ILatchkey.checkout, (running, receipt, signature)));
    }

    function _rentGas(uint256 id, uint64 start) internal returns (uint256) {
        uint256 deposit = latchkey.quote(id, HOUR).deposit;
        vm.prank(guest);
        latchkey.rent{value: deposit}(id, start, HOUR);
        return _txGas(abi.encodeCall(ILatchkey.rent, (id, start, HOUR)));
    }

    /// @dev What a transaction sending `data` would pay for the last call: the 21,000 base, the
    /// calldata (EIP-2028, with the EIP-7623 floor) and the callee's execution, less the refund
    /// (capped at a fifth, EIP-3529). Reaching the cold contract is not counted, as a
    /// transaction's target is warm. Under `--isolate` (and `--gas-report`, which isolates) forge
    /// runs each call as a transaction and already reports exactly that.
    function _txGas(bytes memory data) internal returns (uint256) {
        Vm.Gas memory g = vm.lastCallGas();
        if (_isolated()) return g.gasTotalUsed;
        uint256 tokens;
        for (uint256 i; i < data.length; ++i) {
            tokens += data[i] == 0 ? 1 : 4;
        }
        uint256 used = 21_000 + tokens * 4 + g.gasTotalUsed;
        uint256 refund = g.gasRefunded > 0 ? uint256(int256(g.gasRefunded)) : 0;
        used -= refund < used / 5 ? refund : used / 5;
        uint256 floor = 21_000 + tokens * 10;
        return used > floor ? used : floor;
    }

    function _isolated() private returns (bool) {
        noOp.poke();
        return vm.lastCallGas().gasTotalUsed >= 21_000;
    }
}

/// @notice Gas budgets of the hot path, and one call per step for the gas report and snapshot.
contract GasTest is GasFixture {
    uint256 internal constant RENT_BUDGET = 80_000;
    uint256 internal constant CHECKOUT_BUDGET = 65_000;
    uint256 internal constant RENT_AND_CHECKOUT_BUDGET = 140_000;

    function test_rent_staysWithinItsGasBudget() public {
        vm.assertLe(_rentGas(deviceId, upcoming.end), RENT_BUDGET, "rent");
    }

    function test_checkout_staysWithinItsGasBudget() public {
        vm.assertLe(_checkoutRunning(), CHECKOUT_BUDGET, "checkout");
    }

    function test_rentAndCheckout_stayWithinTheirGasBudget() public {
        // Another device, so that the checkout does not find the rented device's slots warm.
        uint256 used = _rentGas(otherDeviceId, 0) + _checkoutRunning();
        vm.assertLe(used, RENT_AND_CHECKOUT_BUDGET, "rent + checkout");
    }

    function test_gas_checkoutByTime() public {
        vm.prank(guest);
        latchkey.checkoutByTime(running);
    }

    function test_gas_extend() public {
        uint32 extra = 30 minutes;
        uint256 more = _deposit(extra);
        vm.prank(guest);
        latchkey.extend{value: more}(upcoming, extra);
    }

    function test_gas_cancel() public {
        vm.prank(guest);
        latchkey.cancel(upcoming);
    }

    function test_gas_withdraw() public {
        vm.prank(host);
        latchkey.withdraw();
    }

    function test_gas_registerDevice() public {
        vm.prank(host);
        latchkey.registerDevice(signer, ILatchkey.Kind.Lock, PRICE, 0, FACTOR, MIN, MAX, MAX_WATTS, SLOT, CANCEL_WINDOW);
    }
}

/// @notice An early checkout: the running rental is the device's last booking (the one after it
/// was cancelled) and is settled half an hour before its end, so checkout also frees the device.
contract GasEarlyCheckoutTest is GasFixture {
    uint256 internal constant CHECKOUT_BUDGET = 65_000;
    uint256 internal constant RENT_AND_CHECKOUT_BUDGET = 140_000;

    function setUp() public override {
        super.setUp();
        vm.prank(guest);
        latchkey.cancel(upcoming);
    }

    function test_checkout_early_staysWithinItsGasBudget() public {
        vm.assertLe(_checkoutRunning(), CHECKOUT_BUDGET, "early checkout");
        // Free from its slot of now on: a rental "from now" is accepted.
        _rent(stranger, 0, HOUR);
    }

    function test_rentAndEarlyCheckout_stayWithinTheirGasBudget() public {
        uint256 used = _rentGas(otherDeviceId, 0) + _checkoutRunning();
        vm.assertLe(used, RENT_AND_CHECKOUT_BUDGET, "rent + early checkout");
    }
}

/// @notice The first checkout after the host withdrew all its credit: the credit slot keeps a
/// marker (see `Latchkey._credit`) so this costs no more than any other checkout.
contract GasAfterFullWithdrawalTest is GasFixture {
    function setUp() public override {
        super.setUp();
        vm.prank(host);
        latchkey.withdraw();
    }

    function test_checkout_staysWithinItsGasBudgetAfterTheHostWithdrewEverything() public {
        vm.assertLe(_checkoutRunning(), 65_000, "checkout after a full withdrawal");
    }
}

/// @notice The first booking ever of a calendar word writes it from zero (22,100 gas instead of
/// 5,000): once per ring word of a device, i.e. in its first RING_WORDS × 192 slots of use.
contract GasFirstTouchTest is GasFixture {
    uint256 internal fresh; // registered, never rented

    function setUp() public override {
        super.setUp();
        vm.prank(host);
        fresh = latchkey.registerDevice(signer, ILatchkey.Kind.Lock, PRICE, 0, FACTOR, MIN, MAX, MAX_WATTS, SLOT, 0);
    }

    function test_rent_firstTouchOfACalendarWordPaysTheZeroToNonZeroPremiumOnly() public {
        uint256 first = _rentGas(fresh, 0);
        emit log_named_uint("rent, first touch of a calendar word", first);
        // Over the rent budget by at most the zero-to-non-zero premium of one word (17,100).
        vm.assertLe(first, 80_000 + 17_100, "rent, first touch");
    }

    function test_rent_steadyStateOnTheSameWindow() public {
        uint256 steady = _rentGas(otherDeviceId, 0);
        emit log_named_uint("rent, steady state", steady);
        vm.assertLe(steady, 80_000, "rent, steady state");
    }
}
