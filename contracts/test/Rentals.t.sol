// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ILatchkey} from "../src/ILatchkey.sol";
import {LatchkeyFixture} from "./LatchkeyFixture.sol";

/// @notice Renting, extending and cancelling, and the rental commitment.
contract RentalsTest is LatchkeyFixture {
    // ---------------------------------------------------------------- rent

    function test_rent_commitsTheRentalAndEmitsIt() public {
        uint256 deposit = uint256(PRICE) * 1 hours * FACTOR / 100 + uint256(PRICE_WH) * MAX_WATTS;
        uint256 expectedId = deviceId << 64;
        vm.expectEmit(address(latchkey));
        emit ILatchkey.Rented(
            expectedId,
            deviceId,
            guest,
            uint64(T0),
            uint64(T0 + 1 hours),
            uint128(deposit),
            PRICE,
            PRICE_WH,
            signer,
            MAX_WATTS,
            CANCEL_WINDOW
        );
        vm.prank(guest);
        uint256 id = latchkey.rent{value: deposit}(deviceId, 0, 1 hours);

        vm.assertEq(id, expectedId);
        ILatchkey.Rental memory r = ILatchkey.Rental({
            id: id,
            guest: guest,
            start: uint64(T0),
            end: uint64(T0 + 1 hours),
            deposit: uint128(deposit),
            pricePerSecond: PRICE,
            pricePerWh: PRICE_WH,
            signer: signer,
            maxWatts: MAX_WATTS,
            cancelWindow: CANCEL_WINDOW
        });
        vm.assertTrue(latchkey.isOpen(r));
        vm.assertEq(address(latchkey).balance, deposit);
        ILatchkey.Device memory d = latchkey.device(deviceId);
        vm.assertEq(d.bookedUntil, T0 + 1 hours);
        vm.assertEq(d.rentalCount, 1);
    }

    function test_rent_numbersRentalsPerDeviceInTheLow64Bits() public {
        vm.prank(host);
        uint256 second = latchkey.registerDevice(
            signer, ILatchkey.Kind.Lock, PRICE, 0, FACTOR, MIN, MAX, MAX_WATTS, SLOT, CANCEL_WINDOW
        );
        ILatchkey.Rental memory a = _rent(guest, 0, MIN);
        ILatchkey.Rental memory b = _rent(guest, a.end, MIN);
        ILatchkey.Rental memory c = _rentDevice(second, guest, 0, MIN);
        vm.assertEq(a.id, 1 << 64);
        vm.assertEq(b.id, 1 << 64 | 1);
        vm.assertEq(c.id, 2 << 64);
        vm.assertEq(c.id >> 64, second);
    }

    function test_rent_startsNowWhenStartIsZero() public {
        vm.warp(T0 + 123);
        ILatchkey.Rental memory r = _rent(guest, 0, MIN);
        vm.assertEq(r.start, T0 + 123);
        vm.assertTrue(latchkey.isOpen(r));
    }

    function test_rent_acceptsAStartRightNowAndInTheFuture() public {
        ILatchkey.Rental memory now_ = _rent(guest, uint64(T0), MIN);
        ILatchkey.Rental memory later = _rent(guest, uint64(T0 + 1 days), MIN);
        vm.assertTrue(latchkey.isOpen(now_));
        vm.assertTrue(latchkey.isOpen(later));
        vm.assertEq(latchkey.device(deviceId).bookedUntil, T0 + 1 days + MIN);
    }

    function test_rent_failsForAStartInThePast() public {
        uint256 deposit = latchkey.quote(deviceId, MIN).deposit;
        vm.prank(guest);
        vm.expectRevert(ILatchkey.InvalidStart.selector);
        latchkey.rent{value: deposit}(deviceId, uint64(T0 - 1), MIN);
    }

    function test_rent_failsForAnEndBeyond64Bits() public {
        // A clock this late, or the horizon alone would refuse the start.
        uint64 start = type(uint64).max - MIN + 1;
        vm.warp(start);
        uint256 deposit = latchkey.quote(deviceId, MIN).deposit;
        vm.prank(guest);
        vm.expectRevert(ILatchkey.InvalidStart.selector);
        latchkey.rent{value: deposit}(deviceId, start, MIN);
        vm.prank(guest);
        vm.expectRevert(ILatchkey.InvalidStart.selector);
        latchkey.rent{value: deposit}(deviceId, 0, MIN);
    }

    function test_maxAdvance_isThirtyDays() public view {
        vm.assertEq(latchkey.MAX_ADVANCE(), 30 days);
    }

    function test_rent_acceptsAStartAtTheHorizon() public {
        ILatchkey.Rental memory r = _rent(guest, uint64(T0 + 30 days), MIN);
        vm.assertTrue(latchkey.isOpen(r));
        vm.assertEq(latchkey.device(deviceId).bookedUntil, T0 + 30 days + MIN);
    }

    function test_rent_failsForAStartBeyondTheHorizon() public {
        uint256 deposit = latchkey.quote(deviceId, MIN).deposit;
        vm.prank(guest);
        vm.expectRevert(ILatchkey.InvalidStart.selector);
        latchkey.rent{value: deposit}(deviceId, uint64(T0 + 30 days + 1), MIN);
        vm.assertEq(latchkey.device(deviceId).bookedUntil, 0, "nothing booked");
        vm.assertEq(address(latchkey).balance, 0);
    }

    function test_rent_measuresTheHorizonFromNow() public {
        vm.warp(T0 + 10 days);
        ILatchkey.Rental memory r = _rent(guest, uint64(T0 + 40 days), MIN);
        vm.assertTrue(latchkey.isOpen(r));
        uint256 deposit = latchkey.quote(deviceId, MIN).deposit;
        vm.prank(guest);
        vm.expectRevert(ILatchkey.InvalidStart.selector);
        latchkey.rent{value: deposit}(deviceId, uint64(T0 + 40 days + MIN + 1), MIN);
    }

    /// @dev Back-to-back bookings cannot carry a device past the horizon either: each start is
    /// checked against the time it is booked at.
    function test_rent_failsForABackToBackBookingBeyondTheHorizon() public {
        ILatchkey.Rental memory last = _rent(guest, uint64(T0 + 30 days - 1 days), MAX);
        vm.assertGe(last.end, T0 + 30 days + 1, "the booking ends past the horizon");
        uint256 deposit = latchkey.quote(deviceId, MIN).deposit;
        vm.prank(guest);
        vm.expectRevert(ILatchkey.InvalidStart.selector);
        latchkey.rent{value: deposit}(deviceId, last.end, MIN);
        vm.warp(last.end - 30 days);
        ILatchkey.Rental memory next = _rent(guest, last.end, MIN);
        vm.assertTrue(latchkey.isOpen(next));
    }

    function testFuzz_rent_acceptsStartsFromNowUpToTheHorizonOnly(uint256 now_, uint256 offset, bool past) public {
        now_ = bound(now_, T0, type(uint64).max / 2);
        offset = bound(offset, 0, 60 days);
        vm.warp(now_);
        uint64 start = uint64(past ? now_ - offset : now_ + offset);
        uint256 deposit = latchkey.quote(deviceId, MIN).deposit;
        vm.prank(guest);
        if ((past && offset != 0) || offset > 30 days) {
            vm.expectRevert(ILatchkey.InvalidStart.selector);
            latchkey.rent{value: deposit}(deviceId, start, MIN);
            vm.assertEq(latchkey.device(deviceId).bookedUntil, 0);
        } else {
            latchkey.rent{value: deposit}(deviceId, start, MIN);
            vm.assertEq(latchkey.device(deviceId).bookedUntil, start + MIN);
        }
    }

    function test_rent_failsBelowTheMinimumDuration() public {
        uint256 deposit = latchkey.quote(deviceId, MIN - 1).deposit;
        vm.prank(guest);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.InvalidDuration.selector, MIN, MAX));
        latchkey.rent{value: deposit}(deviceId, 0, MIN - 1);
    }

    function test_rent_failsAboveTheMaximumDuration() public {
        uint256 deposit = latchkey.quote(deviceId, MAX + 1).deposit;
        vm.prank(guest);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.InvalidDuration.selector, MIN, MAX));
        latchkey.rent{value: deposit}(deviceId, 0, MAX + 1);
    }

    function test_rent_acceptsTheMinimumAndMaximumDurations() public {
        ILatchkey.Rental memory shortest = _rent(guest, 0, MIN);
        ILatchkey.Rental memory longest = _rent(guest, shortest.end, MAX);
        vm.assertEq(longest.end - longest.start, MAX);
    }

    function test_rent_failsWithTooLittleDeposit() public {
        uint256 deposit = latchkey.quote(deviceId, MIN).deposit;
        vm.prank(guest);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.WrongDeposit.selector, deposit));
        latchkey.rent{value: deposit - 1}(deviceId, 0, MIN);
    }

    function test_rent_failsWithTooMuchDeposit() public {
        uint256 deposit = latchkey.quote(deviceId, MIN).deposit;
        vm.prank(guest);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.WrongDeposit.selector, deposit));
        latchkey.rent{value: deposit + 1}(deviceId, 0, MIN);
    }

    function test_rent_failsForAnUnknownDevice() public {
        vm.prank(guest);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.UnknownDevice.selector, 2));
        latchkey.rent(2, 0, MIN);
    }

    function test_rent_failsOnAnInactiveDevice() public {
        vm.prank(host);
        latchkey.setActive(deviceId, false);
        uint256 deposit = latchkey.quote(deviceId, MIN).deposit;
        vm.prank(guest);
        vm.expectRevert(ILatchkey.DeviceInactive.selector);
        latchkey.rent{value: deposit}(deviceId, 0, MIN);
    }

    function testFuzz_rent_takesTheRentTimesTheFactorAsDeposit(
        uint128 price,
        uint16 factor,
        uint32 maxDuration,
        uint32 duration
    ) public {
        factor = uint16(bound(factor, 100, latchkey.MAX_DEPOSIT_FACTOR()));
        maxDuration = uint32(bound(maxDuration, 1, type(uint32).max));
        // Largest price whose largest deposit fits 128 bits.
        uint256 maxPrice = uint256(type(uint128).max) * 100 / (uint256(maxDuration) * factor);
        price = uint128(bound(price, 1, maxPrice < type(uint128).max ? maxPrice : type(uint128).max));
        duration = uint32(bound(duration, 1, maxDuration));
        vm.prank(host);
        // A slot long enough for the longest booking to span at most MAX_BOOKING_SLOTS slots.
        uint32 slot = uint32(maxDuration / latchkey.MAX_BOOKING_SLOTS() + SLOT);
        uint256 id = latchkey.registerDevice(
            signer, ILatchkey.Kind.Socket, price, 0, factor, 1, maxDuration, MAX_WATTS, slot, CANCEL_WINDOW
        );

        uint256 deposit = latchkey.quote(id, duration).deposit;
        vm.assertEq(deposit, uint256(price) * duration * factor / 100);
        vm.assertGe(deposit, uint256(price) * duration, "the deposit covers the booked rent");
        vm.deal(guest, deposit);
        ILatchkey.Rental memory r = _rentDevice(id, guest, 0, duration);
        vm.assertEq(r.deposit, deposit);
        vm.assertTrue(latchkey.isOpen(r));
        vm.assertEq(address(latchkey).balance, deposit);
    }

    // ---------------------------------------------------------------- isOpen

    function test_isOpen_isFalseForAnyAlteredField() public {
        ILatchkey.Rental memory r = _rent(guest, 0, 1 hours);
        vm.assertTrue(latchkey.isOpen(r));
        for (uint256 field; field < 10; ++field) {
            ILatchkey.Rental memory x = _copy(r);
            if (field == 0) x.id += 1;
            if (field == 1) x.guest = stranger;
            if (field == 2) x.start -= 1;
            if (field == 3) x.end += 1;
            if (field == 4) x.deposit += 1;
            if (field == 5) x.pricePerSecond -= 1;
            if (field == 6) x.pricePerWh = 0;
            if (field == 7) x.signer = stranger;
            if (field == 8) x.maxWatts += 1;
            if (field == 9) x.cancelWindow += 1;
            vm.assertFalse(latchkey.isOpen(x));
        }
    }

    function test_isOpen_isFalseForARentalNeverMade() public view {
        ILatchkey.Rental memory r;
        vm.assertFalse(latchkey.isOpen(r));
    }

    // ---------------------------------------------------------------- extend

    function test_extend_movesTheEndAndAddsTheDeposit() public {
        ILatchkey.Rental memory r = _rent(guest, 0, 1 hours);
        uint256 more = _deposit(30 minutes);
        vm.expectEmit(address(latchkey));
        emit ILatchkey.Extended(r.id, deviceId, r.end + 30 minutes, r.deposit + uint128(more));
        vm.prank(guest);
        latchkey.extend{value: more}(r, 30 minutes);

        vm.assertFalse(latchkey.isOpen(r), "the old commitment is gone");
        ILatchkey.Rental memory extended = _copy(r);
        extended.end += 30 minutes;
        extended.deposit += uint128(more);
        vm.assertTrue(latchkey.isOpen(extended));
        vm.assertEq(latchkey.device(deviceId).bookedUntil, extended.end);
        vm.assertEq(address(latchkey).balance, extended.deposit);
    }

    function test_extend_paysAtTheSnapshottedPrice() public {
        ILatchkey.Rental memory r = _rent(guest, 0, 1 hours);
        vm.prank(host);
        latchkey.setPrice(deviceId, 5 * PRICE, 5 * PRICE_WH, MAX_WATTS);
        // The rental's own prices, not today's.
        uint256 more = uint256(PRICE) * 1 hours * FACTOR / 100 + uint256(PRICE_WH) * 1 hours;
        vm.assertTrue(more < _deposit(1 hours));
        vm.prank(guest);
        latchkey.extend{value: more}(r, 1 hours);
        r.end += 1 hours;
        r.deposit += uint128(more);
        vm.assertTrue(latchkey.isOpen(r));
    }

    function test_extend_canBeRepeatedUpToTheMaximumDuration() public {
        ILatchkey.Rental memory r = _rent(guest, 0, MAX - 2 hours);
        for (uint256 i; i < 2; ++i) {
            uint256 more = _deposit(1 hours);
            vm.prank(guest);
            latchkey.extend{value: more}(r, 1 hours);
            r.end += 1 hours;
            r.deposit += uint128(more);
        }
        vm.assertEq(r.end - r.start, MAX);
        vm.assertTrue(latchkey.isOpen(r));
        uint256 oneSecond = _deposit(1);
        vm.prank(guest);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.InvalidDuration.selector, MIN, MAX));
        latchkey.extend{value: oneSecond}(r, 1);
    }

    function test_extend_failsForAnyoneButTheGuest() public {
        ILatchkey.Rental memory r = _rent(guest, 0, 1 hours);
        uint256 more = _deposit(60);
        vm.prank(stranger);
        vm.expectRevert(ILatchkey.NotGuest.selector);
        latchkey.extend{value: more}(r, 60);
    }

    function test_extend_failsAtTheEnd() public {
        ILatchkey.Rental memory r = _rent(guest, 0, 1 hours);
        vm.warp(r.end);
        uint256 more = _deposit(60);
        vm.prank(guest);
        vm.expectRevert(ILatchkey.WrongTime.selector);
        latchkey.extend{value: more}(r, 60);
    }

    function test_extend_failsBeyondTheMaximumDuration() public {
        ILatchkey.Rental memory r = _rent(guest, 0, MAX);
        uint256 more = _deposit(1);
        vm.prank(guest);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.InvalidDuration.selector, MIN, MAX));
        latchkey.extend{value: more}(r, 1);
    }

    function test_extend_failsForAnEndBeyond64Bits() public {
        // A clock this late: the end fits, the extended end would not (it must not wrap to ~0).
        vm.warp(type(uint64).max - 2 * MIN);
        ILatchkey.Rental memory r = _rent(guest, 0, MIN);
        uint32 extra = 2 * MIN;
        uint256 more = _deposit(extra);
        vm.prank(guest);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.InvalidDuration.selector, MIN, MAX));
        latchkey.extend{value: more}(r, extra);
        vm.assertEq(latchkey.device(deviceId).bookedUntil, r.end);
    }

    function test_extend_failsForZeroSeconds() public {
        ILatchkey.Rental memory r = _rent(guest, 0, 1 hours);
        vm.prank(guest);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.InvalidDuration.selector, MIN, MAX));
        latchkey.extend(r, 0);
    }

    function test_extend_failsWithoutTheExactExtraDeposit() public {
        ILatchkey.Rental memory r = _rent(guest, 0, 1 hours);
        uint256 more = _deposit(60);
        vm.startPrank(guest);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.WrongDeposit.selector, more));
        latchkey.extend{value: more - 1}(r, 60);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.WrongDeposit.selector, more));
        latchkey.extend{value: more + 1}(r, 60);
        vm.stopPrank();
    }

    function test_extend_failsOnAnInactiveDevice() public {
        ILatchkey.Rental memory r = _rent(guest, 0, 1 hours);
        vm.prank(host);
        latchkey.setActive(deviceId, false);
        uint256 more = _deposit(60);
        vm.prank(guest);
        vm.expectRevert(ILatchkey.DeviceInactive.selector);
        latchkey.extend{value: more}(r, 60);
    }

    function test_extend_failsForTheRentalAsItWasBeforeAnExtension() public {
        ILatchkey.Rental memory r = _rent(guest, 0, 1 hours);
        uint256 more = _deposit(60);
        vm.startPrank(guest);
        latchkey.extend{value: more}(r, 60);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.RentalNotOpen.selector, r.id));
        latchkey.extend{value: more}(r, 60);
        vm.stopPrank();
    }

    // ---------------------------------------------------------------- cancel

    function test_cancel_refundsTheWholeDepositBeforeTheStart() public {
        ILatchkey.Rental memory r = _rent(guest, uint64(T0 + 1 days), 1 hours);
        uint256 guestBefore = guest.balance;
        vm.expectEmit(address(latchkey));
        emit ILatchkey.Cancelled(r.id, deviceId, 0, r.deposit);
        vm.prank(guest);
        latchkey.cancel(r);

        vm.assertEq(guest.balance, guestBefore + r.deposit);
        vm.assertEq(address(latchkey).balance, 0);
        vm.assertFalse(latchkey.isOpen(r));
        vm.assertEq(latchkey.credit(host), 0);
        vm.assertEq(latchkey.device(deviceId).bookedUntil, r.end, "bookedUntil is the latest end booked, never lowered");
    }

    function test_cancel_failsForAnyoneButTheGuest() public {
        ILatchkey.Rental memory r = _rent(guest, uint64(T0 + 1 hours), 1 hours);
        vm.prank(host);
        vm.expectRevert(ILatchkey.NotGuest.selector);
        latchkey.cancel(r);
    }

    function test_cancel_failsOnceTheRentalHasStarted() public {
        ILatchkey.Rental memory r = _rent(guest, uint64(T0 + 1 hours), 1 hours);
        vm.warp(r.start);
        vm.prank(guest);
        vm.expectRevert(ILatchkey.WrongTime.selector);
        latchkey.cancel(r);
    }

    function test_cancel_failsIfAlreadyCancelled() public {
        ILatchkey.Rental memory r = _rent(guest, uint64(T0 + 1 hours), 1 hours);
        vm.startPrank(guest);
        latchkey.cancel(r);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.RentalNotOpen.selector, r.id));
        latchkey.cancel(r);
        vm.stopPrank();
    }

    function _copy(ILatchkey.Rental memory r) private pure returns (ILatchkey.Rental memory) {
        return abi.decode(abi.encode(r), (ILatchkey.Rental));
    }
}
