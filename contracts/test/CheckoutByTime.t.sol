// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ILatchkey} from "../src/ILatchkey.sol";
import {Latchkey} from "../src/Latchkey.sol";
import {LatchkeyFixture} from "./LatchkeyFixture.sol";

/// @notice Settling without a receipt: the guest pays the elapsed time, anyone else the booked
/// time once the grace period is over (on a device priced by time alone; Energy.t.sol adds the
/// energy allowance).
contract CheckoutByTimeTest is LatchkeyFixture {
    ILatchkey.Rental internal r; // two hours from T0 + 1 hour

    function setUp() public override {
        super.setUp();
        _timePriceOnly();
        r = _rent(guest, uint64(T0 + 1 hours), 2 hours);
    }

    function test_checkoutByTime_chargesTheGuestTheElapsedTime() public {
        vm.warp(r.start + 1000);
        uint128 charge = PRICE * 1000;
        uint256 guestBefore = guest.balance;
        vm.expectEmit(address(latchkey));
        emit ILatchkey.Settled(r.id, deviceId, charge, r.deposit - charge, false);
        vm.prank(guest);
        latchkey.checkoutByTime(r);
        vm.assertEq(latchkey.credit(host), charge);
        vm.assertEq(guest.balance, guestBefore + r.deposit - charge);
        vm.assertFalse(latchkey.isOpen(r));
    }

    function test_checkoutByTime_chargesTheGuestAtLeastTheMinimumDuration() public {
        vm.warp(r.start);
        vm.prank(guest);
        latchkey.checkoutByTime(r);
        vm.assertEq(latchkey.credit(host), PRICE * MIN);
    }

    function test_checkoutByTime_chargesTheGuestAtMostTheBookedTime() public {
        vm.warp(r.end + 10 days);
        vm.prank(guest);
        latchkey.checkoutByTime(r);
        vm.assertEq(latchkey.credit(host), PRICE * 2 hours);
    }

    function test_checkoutByTime_failsForTheGuestBeforeTheStart() public {
        vm.warp(r.start - 1);
        vm.prank(guest);
        vm.expectRevert(ILatchkey.WrongTime.selector);
        latchkey.checkoutByTime(r);
    }

    function test_checkoutByTime_failsForOthersBeforeTheEndPlusGrace() public {
        vm.warp(r.end + GRACE - 1);
        vm.prank(host);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.TooEarly.selector, r.end + GRACE));
        latchkey.checkoutByTime(r);
        vm.warp(r.start - 1);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.TooEarly.selector, r.end + GRACE));
        latchkey.checkoutByTime(r);
    }

    function test_checkoutByTime_letsAnyoneChargeTheBookedTimeAfterTheGrace() public {
        vm.warp(r.end + GRACE);
        uint128 charge = PRICE * 2 hours;
        uint256 guestBefore = guest.balance;
        vm.expectEmit(address(latchkey));
        emit ILatchkey.Settled(r.id, deviceId, charge, r.deposit - charge, false);
        vm.prank(stranger);
        latchkey.checkoutByTime(r);
        vm.assertEq(latchkey.credit(host), charge);
        vm.assertEq(latchkey.credit(stranger), 0);
        vm.assertEq(guest.balance, guestBefore + r.deposit - charge);
    }

    function test_grace_isTheValueGivenAtDeployment() public {
        vm.assertEq(latchkey.GRACE(), GRACE);
        vm.assertEq(new Latchkey(0).GRACE(), 0);
        vm.assertEq(new Latchkey(type(uint64).max).GRACE(), type(uint64).max);
    }

    function test_checkoutByTime_usesTheGraceGivenAtDeployment() public {
        latchkey = new Latchkey(0);
        vm.prank(host);
        deviceId = latchkey.registerDevice(
            signer, ILatchkey.Kind.Lock, PRICE, 0, FACTOR, MIN, MAX, MAX_WATTS, SLOT, CANCEL_WINDOW
        );
        ILatchkey.Rental memory x = _rent(guest, 0, 1 hours);
        vm.warp(x.end - 1);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.TooEarly.selector, x.end));
        latchkey.checkoutByTime(x);
        vm.warp(x.end);
        latchkey.checkoutByTime(x);
        vm.assertEq(latchkey.credit(host), PRICE * 1 hours);
    }

    function test_checkoutByTime_chargesTheSnapshottedPrice() public {
        vm.prank(host);
        latchkey.setPrice(deviceId, 100 * PRICE, 0, MAX_WATTS);
        vm.warp(r.start + 600);
        vm.prank(guest);
        latchkey.checkoutByTime(r);
        vm.assertEq(latchkey.credit(host), PRICE * 600);
    }

    function test_checkoutByTime_failsIfAlreadySettled() public {
        vm.warp(r.end);
        vm.startPrank(guest);
        latchkey.checkoutByTime(r);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.RentalNotOpen.selector, r.id));
        latchkey.checkoutByTime(r);
        vm.stopPrank();
        _assertReceiptRefused();
    }

    function test_checkoutByTime_failsAfterACheckoutByReceipt() public {
        vm.warp(r.end);
        _checkout(r, 60, 0);
        vm.warp(r.end + GRACE);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.RentalNotOpen.selector, r.id));
        latchkey.checkoutByTime(r);
    }

    function test_checkoutByTime_chargesAnExtendedRentalItsWholeBookedTime() public {
        uint256 more = _deposit(1 hours);
        vm.prank(guest);
        latchkey.extend{value: more}(r, 1 hours);
        r.end += 1 hours;
        r.deposit += uint128(more);
        vm.warp(r.end + GRACE);
        latchkey.checkoutByTime(r);
        vm.assertEq(latchkey.credit(host), PRICE * 3 hours);
    }

    /// @dev Guest: max(elapsed, min) capped at the booked rent; others: the booked rent; always
    /// within the deposit, and charge + refund == deposit.
    function testFuzz_checkoutByTime_staysWithinItsBounds(uint32 duration, uint256 elapsed, bool byGuest) public {
        duration = uint32(bound(duration, MIN, MAX));
        ILatchkey.Rental memory x = _rent(stranger, r.end, duration);
        uint256 booked = uint256(PRICE) * duration;
        uint256 expected;
        address caller;
        if (byGuest) {
            caller = stranger;
            elapsed = bound(elapsed, 0, 30 days);
            uint256 charged = elapsed > MIN ? elapsed : MIN;
            expected = uint256(PRICE) * charged;
            if (expected > booked) expected = booked;
        } else {
            caller = host;
            elapsed = bound(elapsed, duration + GRACE, 30 days + duration + GRACE);
            expected = booked;
        }
        vm.warp(x.start + elapsed);
        uint256 guestBefore = stranger.balance;
        vm.prank(caller);
        latchkey.checkoutByTime(x);

        uint256 charge = latchkey.credit(host);
        vm.assertEq(charge, expected);
        vm.assertGe(charge, uint256(PRICE) * (duration < MIN ? duration : MIN), "at least the minimum");
        vm.assertLe(charge, booked, "at most the booked rent");
        vm.assertLe(charge, x.deposit, "at most the deposit");
        vm.assertEq(charge + stranger.balance - guestBefore, x.deposit, "charge + refund == deposit");
        vm.assertEq(address(latchkey).balance, r.deposit + charge);
    }

    function _assertReceiptRefused() private {
        ILatchkey.Receipt memory receipt = _receipt(r, 60, 0);
        bytes memory signature = _sign(SIGNER_KEY, receipt);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.RentalNotOpen.selector, r.id));
        latchkey.checkout(r, receipt, signature);
    }
}
