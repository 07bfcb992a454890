// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ILatchkey} from "../src/ILatchkey.sol";
import {LatchkeyFixture} from "./LatchkeyFixture.sol";

/// @notice Energy that is always paid and never above the deposit: the deposit prepays an energy
/// allowance (max power × duration), a receipt charges metered energy up to it, settling by time
/// charges all of it.
contract EnergyTest is LatchkeyFixture {
    function _allowance(uint32 watts, uint256 seconds_) internal pure returns (uint256) {
        return (uint256(watts) * seconds_ + 3599) / 3600;
    }

    function test_registerDevice_failsForAnEnergyPriceWithoutAMaxPower() public {
        vm.expectRevert(ILatchkey.InvalidDevice.selector);
        latchkey.registerDevice(
            signer, ILatchkey.Kind.Socket, PRICE, PRICE_WH, FACTOR, MIN, MAX, 0, SLOT, CANCEL_WINDOW
        );
        // A device without an energy price needs none.
        latchkey.registerDevice(signer, ILatchkey.Kind.Lock, PRICE, 0, FACTOR, MIN, MAX, 0, SLOT, CANCEL_WINDOW);
    }

    function test_setPrice_failsForAnEnergyPriceWithoutAMaxPower() public {
        vm.prank(host);
        vm.expectRevert(ILatchkey.InvalidDevice.selector);
        latchkey.setPrice(deviceId, PRICE, PRICE_WH, 0);
    }

    function test_registerDevice_failsWhenTheEnergyOfTheLargestDepositWouldNotFit128Bits() public {
        vm.expectRevert(ILatchkey.InvalidDevice.selector);
        latchkey.registerDevice(
            signer,
            ILatchkey.Kind.Socket,
            1,
            type(uint128).max / 100,
            FACTOR,
            1,
            1 hours,
            type(uint32).max,
            SLOT,
            CANCEL_WINDOW
        );
    }

    function test_quote_includesTheEnergyAllowanceRoundedUpToAWattHour() public {
        vm.prank(host);
        latchkey.setPrice(deviceId, PRICE, PRICE_WH, 100);
        ILatchkey.Quote memory q = latchkey.quote(deviceId, 60); // 100 W for a minute: 1.67 Wh
        vm.assertEq(q.energyWh, 2);
        vm.assertEq(q.energyCost, 2 * uint256(PRICE_WH));
        vm.assertEq(q.deposit, uint256(PRICE) * 60 * FACTOR / 100 + 2 * uint256(PRICE_WH));
        ILatchkey.Rental memory r = _rent(guest, 0, 60);
        vm.assertEq(r.deposit, q.deposit);
        vm.assertEq(r.maxWatts, 100);
    }

    function test_quote_hasNoEnergyCostWithoutAnEnergyPrice() public {
        _timePriceOnly();
        ILatchkey.Quote memory q = latchkey.quote(deviceId, 1 hours);
        vm.assertEq(q.energyWh, MAX_WATTS);
        vm.assertEq(q.energyCost, 0);
        vm.assertEq(q.deposit, uint256(PRICE) * 1 hours * FACTOR / 100);
    }

    function test_checkout_chargesMeteredEnergyOnlyUpToTheAllowance() public {
        ILatchkey.Rental memory r = _rent(guest, 0, 1 hours); // 3,600 Wh allowance
        vm.warp(r.end);
        _checkout(r, 60, 1_000_000);
        vm.assertEq(latchkey.credit(host), uint256(PRICE) * 60 + uint256(PRICE_WH) * 3600);
    }

    function test_checkoutByTime_byTheGuestChargesTheElapsedTimeAndTheWholeAllowance() public {
        ILatchkey.Rental memory r = _rent(guest, 0, 1 hours);
        vm.warp(T0 + 10 minutes);
        uint256 guestBefore = guest.balance;
        uint256 charge = uint256(PRICE) * 10 minutes + uint256(PRICE_WH) * 3600;
        vm.expectEmit(address(latchkey));
        emit ILatchkey.Settled(r.id, deviceId, uint128(charge), uint128(r.deposit - charge), false);
        vm.prank(guest);
        latchkey.checkoutByTime(r);
        vm.assertEq(latchkey.credit(host), charge);
        vm.assertEq(guest.balance, guestBefore + r.deposit - charge);
    }

    function test_checkoutByTime_afterTheGraceChargesTheBookedTimeAndTheWholeAllowance() public {
        ILatchkey.Rental memory r = _rent(guest, 0, 1 hours);
        vm.warp(uint256(r.end) + GRACE);
        vm.prank(stranger);
        latchkey.checkoutByTime(r);
        vm.assertEq(latchkey.credit(host), uint256(PRICE) * 1 hours + uint256(PRICE_WH) * 3600);
    }

    function test_extend_addsTheAllowanceOfTheExtraTime() public {
        vm.prank(host);
        latchkey.setPrice(deviceId, PRICE, PRICE_WH, 100);
        ILatchkey.Rental memory r = _rent(guest, 0, 60); // 2 Wh (1.67 rounded up)
        // 100 W for two minutes is 3.33 Wh, so 4 Wh in all: the extension adds 2 Wh, not 2 again.
        uint256 more = uint256(PRICE) * 60 * FACTOR / 100 + 2 * uint256(PRICE_WH);
        vm.prank(guest);
        latchkey.extend{value: more}(r, 60);
        r.end += 60;
        r.deposit += uint128(more);
        vm.assertTrue(latchkey.isOpen(r));
        vm.warp(r.end);
        _checkout(r, 120, 1000);
        vm.assertEq(latchkey.credit(host), uint256(PRICE) * 120 + 4 * uint256(PRICE_WH));
    }

    /// @dev Settling by time never charges less than any receipt the device could sign for the
    /// time elapsed, and never more than the deposit: no path lets the guest pay less than the
    /// device measured, none overcharges.
    function testFuzz_checkoutByTime_neverChargesLessThanAReceiptNorMoreThanTheDeposit(
        uint32 watts,
        uint32 duration,
        uint256 elapsed,
        uint64 secondsUsed,
        uint64 energyWh
    ) public {
        watts = uint32(bound(watts, 1, 20_000));
        duration = uint32(bound(duration, MIN, MAX));
        vm.prank(host);
        latchkey.setPrice(deviceId, PRICE, PRICE_WH, watts);
        ILatchkey.Rental memory r = _rent(guest, 0, duration);
        elapsed = bound(elapsed, 0, duration);
        secondsUsed = uint64(bound(secondsUsed, 0, elapsed)); // powered at most while it ran
        vm.warp(T0 + elapsed);

        uint256 snapshot = vm.snapshotState();
        _checkout(r, secondsUsed, energyWh);
        uint256 byReceipt = latchkey.credit(host);
        vm.revertToState(snapshot);
        vm.prank(guest);
        latchkey.checkoutByTime(r);
        uint256 byTime = latchkey.credit(host);

        vm.assertGe(byTime, byReceipt, "settling by time undercuts the receipt");
        vm.assertLe(byTime, r.deposit);
        uint256 allowance = _allowance(watts, duration);
        uint256 rentDue = uint256(PRICE) * (elapsed > MIN ? elapsed : MIN);
        vm.assertEq(byTime, rentDue + uint256(PRICE_WH) * allowance);
    }

    /// @dev Extensions in any steps prepay exactly the allowance of the whole rental.
    function testFuzz_extend_prepaysTheAllowanceOfTheWholeRental(uint32 watts, uint32 first, uint32 extra) public {
        watts = uint32(bound(watts, 1, 20_000));
        first = uint32(bound(first, MIN, MAX - 1));
        extra = uint32(bound(extra, 1, MAX - first));
        vm.prank(host);
        latchkey.setPrice(deviceId, PRICE, PRICE_WH, watts);
        ILatchkey.Rental memory r = _rent(guest, 0, first);
        uint256 energyBefore = uint256(PRICE_WH) * _allowance(watts, first);
        vm.assertEq(r.deposit, uint256(PRICE) * first * FACTOR / 100 + energyBefore);
        uint256 more = uint256(PRICE) * extra * FACTOR / 100 + uint256(PRICE_WH)
            * _allowance(watts, first + uint256(extra)) - energyBefore;
        vm.prank(guest);
        latchkey.extend{value: more}(r, extra);
        r.end += extra;
        r.deposit += uint128(more);
        vm.assertTrue(latchkey.isOpen(r));
        vm.warp(uint256(r.end) + GRACE);
        vm.prank(stranger);
        latchkey.checkoutByTime(r);
        vm.assertEq(
            latchkey.credit(host),
            uint256(PRICE) * (first + uint256(extra)) + uint256(PRICE_WH) * _allowance(watts, first + uint256(extra))
        );
    }
}
