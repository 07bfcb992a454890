// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ILatchkey} from "../src/ILatchkey.sol";
import {LatchkeyFixture} from "./LatchkeyFixture.sol";

/// @notice The calendar: bookings in any order, slots freed by cancels and early settlements,
/// extensions into free slots, the host's calendar settings and the cancellation fee.
contract CalendarTest is LatchkeyFixture {
    uint32 internal constant HOUR = 1 hours;
    uint32 internal constant WINDOW = 1 days; // the cancel window the fee tests set
    /// @dev Calendar words per device (`Latchkey.RING_WORDS`) × slots per word × the shortest slot.
    uint256 internal constant RING_PERIOD = 512 * 192 * 60;

    function _setCalendar(uint32 slotSeconds, uint32 cancelWindow) internal {
        vm.prank(host);
        latchkey.setCalendar(deviceId, slotSeconds, cancelWindow);
    }

    function _expectTaken(uint64 start, uint32 duration, uint256 slotStart) internal {
        uint256 deposit = latchkey.quote(deviceId, duration).deposit;
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.WindowTaken.selector, uint64(slotStart)));
        latchkey.rent{value: deposit}(deviceId, start, duration);
    }

    // ---------------------------------------------------------------- booking in any order

    function test_rent_acceptsBookingsInAnyOrder() public {
        ILatchkey.Rental memory friday = _rent(guest, uint64(T0 + 7 days), HOUR);
        ILatchkey.Rental memory today = _rent(stranger, 0, HOUR);
        ILatchkey.Rental memory tuesday = _rent(guest, uint64(T0 + 3 days), 2 * HOUR);
        vm.assertTrue(latchkey.isOpen(friday) && latchkey.isOpen(today) && latchkey.isOpen(tuesday));
        vm.assertEq(latchkey.device(deviceId).bookedUntil, friday.end, "the latest end booked");
    }

    function test_rent_failsForAWindowThatOverlapsAnOpenBooking() public {
        ILatchkey.Rental memory r = _rent(guest, uint64(T0 + 1 days), HOUR);
        _expectTaken(uint64(T0 + 1 days - 30 minutes), HOUR, r.start); // overlaps its start
        _expectTaken(uint64(T0 + 1 days + 30 minutes), HOUR, T0 + 1 days + 30 minutes); // inside
        _expectTaken(uint64(T0 + 1 days - 1 hours), 3 hours, r.start); // covers it
    }

    function test_rent_acceptsABookingRightBeforeAndRightAfterAnother() public {
        ILatchkey.Rental memory r = _rent(guest, uint64(T0 + 1 days), HOUR);
        _rent(stranger, r.end, HOUR);
        _rent(stranger, r.start - HOUR, HOUR);
    }

    /// @dev A booking holds the slot its end falls in: the next one starts at the slot boundary.
    function test_rent_holdsEverySlotItTouches() public {
        ILatchkey.Rental memory r = _rent(guest, uint64(T0 + 10), HOUR); // ends 10 s into a slot
        _expectTaken(r.end, HOUR, r.end - 10);
        _expectTaken(uint64(T0), MIN, T0); // the slot its start falls in is held too
        _rent(stranger, r.end - 10 + SLOT, HOUR);
    }

    function test_rent_failsOnlyForTheWindowOfABookingAtTheHorizon() public {
        ILatchkey.Rental memory far = _rent(guest, uint64(T0 + latchkey.MAX_ADVANCE()), MAX);
        ILatchkey.Rental memory now_ = _rent(stranger, 0, MAX);
        vm.assertEq(now_.start, T0, "a booking a month ahead leaves today rentable");
        _expectTaken(far.start, MIN, far.start);
    }

    function test_rent_spansManyCalendarWordsUpToTheMaximumDuration() public {
        ILatchkey.Rental memory week = _rent(guest, uint64(T0 + 1 days), MAX); // 10,080 slots, 53 words
        _expectTaken(uint64(T0 + 4 days + 17 minutes), MIN, T0 + 4 days + 17 minutes);
        _expectTaken(week.end - SLOT, MIN, week.end - SLOT);
        _rent(stranger, week.end, MIN);
        _rent(stranger, week.start - MIN, MIN);
    }

    /// @dev The ring reuses a word once the time it held has passed: a booking one ring period
    /// after another at the same place is accepted, even while the old one was never settled.
    function test_rent_reusesACalendarWordOnceItsTimeHasPassed() public {
        ILatchkey.Rental memory old = _rent(guest, uint64(T0 + 1 days), HOUR);
        vm.warp(T0 + RING_PERIOD);
        ILatchkey.Rental memory later = _rent(stranger, uint64(old.start + RING_PERIOD), HOUR);
        vm.assertTrue(latchkey.isOpen(old) && latchkey.isOpen(later));
        _expectTaken(later.start, MIN, later.start);
        vm.prank(guest);
        latchkey.checkoutByTime(old); // the old one still settles
    }

    // ---------------------------------------------------------------- nextFree

    function test_nextFree_isTheAskedStartWhenFreeElseTheEndOfTheBookingsInTheWay() public {
        vm.assertEq(latchkey.nextFree(deviceId, 0, HOUR), T0, "free now");
        ILatchkey.Rental memory a = _rent(guest, 0, HOUR + 10);
        ILatchkey.Rental memory b = _rent(guest, uint64(T0 + HOUR + SLOT), HOUR); // right after a's last slot
        _rent(guest, uint64(b.end + 30 minutes), HOUR);
        vm.assertEq(latchkey.nextFree(deviceId, 0, 30 minutes), b.end, "the 30-minute gap after b");
        vm.assertEq(latchkey.nextFree(deviceId, 0, 31 minutes), b.end + 30 minutes + HOUR, "after the third");
        vm.assertEq(latchkey.nextFree(deviceId, uint64(T0 + 1 days + 7), HOUR), T0 + 1 days + 7, "a later start");
        vm.assertEq(a.start, T0);
        _rent(stranger, uint64(b.end), 30 minutes); // what it said is bookable
    }

    function test_nextFree_skipsARunOfBackToBackBookingsLongerThanOneBooking() public {
        uint64 start = uint64(T0);
        for (uint256 i; i < 3; ++i) {
            start = _rent(guest, start, MAX).end;
        }
        vm.assertEq(latchkey.nextFree(deviceId, 0, MIN), start);
    }

    function test_nextFree_isZeroWhenNothingFitsBeforeTheHorizonAndFailsForAnUnknownDevice() public {
        uint64 start = uint64(T0);
        while (start + MAX <= T0 + latchkey.MAX_ADVANCE() + MAX) {
            start = _rent(guest, start, MAX).end;
        }
        vm.assertEq(latchkey.nextFree(deviceId, 0, MIN), 0);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.UnknownDevice.selector, 9));
        latchkey.nextFree(9, 0, MIN);
    }

    // ---------------------------------------------------------------- freeing slots

    function test_cancel_freesTheWindowAtOnce() public {
        ILatchkey.Rental memory r = _rent(guest, uint64(T0 + 2 days), 3 * HOUR);
        ILatchkey.Rental memory after_ = _rent(guest, r.end, HOUR);
        vm.prank(guest);
        latchkey.cancel(r);
        ILatchkey.Rental memory again = _rent(stranger, r.start, 3 * HOUR);
        vm.assertTrue(latchkey.isOpen(again) && latchkey.isOpen(after_));
        _expectTaken(after_.start, MIN, after_.start); // the booking after it kept its slots
    }

    function test_checkout_beforeTheEndFreesItsSlotsFromTheOneHoldingNow() public {
        ILatchkey.Rental memory r = _rent(guest, 0, 2 * HOUR);
        ILatchkey.Rental memory next = _rent(guest, r.end, HOUR);
        vm.warp(T0 + 30 minutes + 20);
        _checkout(r, 1800, 0);
        // The rest of its slot of now is free at once: a rental "from now" fits up to the next one.
        ILatchkey.Rental memory y = _rent(stranger, 0, uint32(next.start - block.timestamp));
        vm.assertEq(y.start, block.timestamp);
        vm.assertEq(y.end, next.start, "free up to the booking that follows, which keeps its slots");
        _expectTaken(next.start, MIN, next.start);
    }

    function test_checkoutByTime_beforeTheEndFreesItsSlotsFromTheOneHoldingNow() public {
        ILatchkey.Rental memory r = _rent(guest, 0, 2 * HOUR);
        vm.warp(T0 + 1000);
        vm.prank(guest);
        latchkey.checkoutByTime(r);
        vm.assertEq(_rent(stranger, 0, 2 * HOUR).start, T0 + 1000);
    }

    function test_checkout_withinTheSlotItEndedInFreesTheRestOfIt() public {
        ILatchkey.Rental memory r = _rent(guest, 0, HOUR - 30); // ends 30 s before a slot boundary
        vm.warp(r.end + 5);
        _expectTaken(0, MIN, (r.end / SLOT) * SLOT); // ended, not settled: its last slot is held
        _checkout(r, HOUR - 30, 0);
        vm.assertEq(_rent(stranger, 0, MIN).start, r.end + 5);
    }

    function test_checkout_beforeTheStartFreesTheWholeWindow() public {
        ILatchkey.Rental memory running = _rent(guest, 0, HOUR);
        ILatchkey.Rental memory later = _rent(guest, running.end, HOUR);
        _checkout(later, 0, 0);
        _rent(stranger, later.start, HOUR);
        _expectTaken(running.end - MIN, MIN, running.end - MIN); // the running one keeps its slots
    }

    function test_checkout_afterTheEndFreesNothing() public {
        ILatchkey.Rental memory r = _rent(guest, 0, HOUR);
        ILatchkey.Rental memory next = _rent(guest, r.end, HOUR);
        vm.warp(r.end + 10 minutes);
        _checkout(r, HOUR, 0);
        _expectTaken(uint64(block.timestamp), MIN, block.timestamp);
        vm.assertTrue(latchkey.isOpen(next));
    }

    // ---------------------------------------------------------------- extend

    function test_extend_worksForABookingOthersFollowWhenTheNextSlotsAreFree() public {
        ILatchkey.Rental memory a = _rent(guest, 0, HOUR);
        ILatchkey.Rental memory b = _rent(stranger, uint64(T0 + 3 hours), HOUR); // a is not the last
        uint256 more = _deposit(HOUR);
        vm.prank(guest);
        latchkey.extend{value: more}(a, HOUR);
        vm.assertEq(latchkey.device(deviceId).bookedUntil, b.end, "bookedUntil stays the latest end");
        _expectTaken(uint64(T0 + 90 minutes), MIN, T0 + 90 minutes);
    }

    function test_extend_failsIntoTheSlotsOfAnotherBooking() public {
        ILatchkey.Rental memory a = _rent(guest, 0, HOUR);
        ILatchkey.Rental memory b = _rent(stranger, uint64(T0 + 2 hours), HOUR);
        uint256 more = _deposit(HOUR + 1);
        vm.prank(guest);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.WindowTaken.selector, b.start));
        latchkey.extend{value: more}(a, HOUR + 1);
        more = _deposit(HOUR);
        vm.prank(guest);
        latchkey.extend{value: more}(a, HOUR); // exactly up to b
    }

    function test_extend_withinTheSlotItEndsInNeedsNoNewSlot() public {
        ILatchkey.Rental memory a = _rent(guest, 0, HOUR - 30); // ends 30 s into its last slot
        _rent(stranger, uint64(T0 + HOUR), HOUR);
        uint256 more = _deposit(30);
        vm.prank(guest);
        latchkey.extend{value: more}(a, 30);
    }

    function test_extend_afterAnEarlierCancelUsesTheFreedSlots() public {
        ILatchkey.Rental memory a = _rent(guest, 0, HOUR);
        ILatchkey.Rental memory b = _rent(stranger, a.end, HOUR);
        vm.prank(stranger);
        latchkey.cancel(b);
        uint256 more = _deposit(HOUR);
        vm.prank(guest);
        latchkey.extend{value: more}(a, HOUR);
    }

    // ---------------------------------------------------------------- host settings

    function test_registerDevice_setsTheCalendarAndEmitsIt() public {
        vm.expectEmit(address(latchkey));
        emit ILatchkey.CalendarChanged(2, 300, 2 hours);
        vm.prank(host);
        uint256 id = latchkey.registerDevice(signer, ILatchkey.Kind.Lock, PRICE, 0, FACTOR, MIN, MAX, 0, 300, 2 hours);
        ILatchkey.Device memory d = latchkey.device(id);
        vm.assertEq(d.slotSeconds, 300);
        vm.assertEq(d.cancelWindow, 2 hours);
    }

    function test_registerDevice_refusesCalendarsOutOfRange() public {
        vm.startPrank(host);
        vm.expectRevert(ILatchkey.InvalidCalendar.selector);
        latchkey.registerDevice(signer, ILatchkey.Kind.Lock, PRICE, 0, FACTOR, MIN, MAX, 0, 59, 0);
        vm.expectRevert(ILatchkey.InvalidCalendar.selector);
        latchkey.registerDevice(signer, ILatchkey.Kind.Lock, PRICE, 0, FACTOR, MIN, MAX + 1, 0, 60, 0);
        vm.expectRevert(ILatchkey.InvalidCalendar.selector);
        latchkey.registerDevice(signer, ILatchkey.Kind.Lock, PRICE, 0, FACTOR, MIN, MAX, 0, 60, 30 days + 1);
        latchkey.registerDevice(signer, ILatchkey.Kind.Lock, PRICE, 0, FACTOR, MIN, MAX + 1, 0, 61, 30 days);
        vm.stopPrank();
    }

    function test_setCalendar_changesTheSettingsAndEmits() public {
        vm.expectEmit(address(latchkey));
        emit ILatchkey.CalendarChanged(deviceId, 900, WINDOW);
        _setCalendar(900, WINDOW);
        ILatchkey.Device memory d = latchkey.device(deviceId);
        vm.assertEq(d.slotSeconds, 900);
        vm.assertEq(d.cancelWindow, WINDOW);
        ILatchkey.Rental memory r = _rent(guest, uint64(T0 + 1 days), HOUR);
        _expectTaken(r.end, MIN, r.end - 420); // T0, and so r.end, is 420 s past a 15-minute boundary
    }

    function test_setCalendar_failsForAnyoneButTheHostAndForAnUnknownDevice() public {
        vm.prank(stranger);
        vm.expectRevert(ILatchkey.NotHost.selector);
        latchkey.setCalendar(deviceId, SLOT, WINDOW);
        vm.prank(host);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.UnknownDevice.selector, 9));
        latchkey.setCalendar(9, SLOT, WINDOW);
    }

    function test_setCalendar_refusesValuesOutOfRange() public {
        vm.startPrank(host);
        vm.expectRevert(ILatchkey.InvalidCalendar.selector);
        latchkey.setCalendar(deviceId, 59, 0);
        vm.expectRevert(ILatchkey.InvalidCalendar.selector);
        latchkey.setCalendar(deviceId, SLOT, 30 days + 1);
        latchkey.setCalendar(deviceId, 120, 30 days);
        latchkey.setDurations(deviceId, MIN, 2 * MAX);
        vm.expectRevert(ILatchkey.InvalidCalendar.selector);
        latchkey.setCalendar(deviceId, 60, 0); // the longest booking would span 20,160 minute slots
        vm.stopPrank();
    }

    function test_setDurations_refusesAMaximumLongerThanTheSlotsABookingMaySpan() public {
        vm.prank(host);
        vm.expectRevert(ILatchkey.InvalidCalendar.selector);
        latchkey.setDurations(deviceId, MIN, MAX + 1);
        _setCalendar(120, 0);
        vm.prank(host);
        latchkey.setDurations(deviceId, MIN, 2 * MAX);
    }

    function test_setCalendar_refusesANewSlotLengthUntilTheLatestBookingHasEnded() public {
        ILatchkey.Rental memory r = _rent(guest, uint64(T0 + 1 days), HOUR);
        vm.prank(guest);
        latchkey.cancel(r); // bookedUntil is never lowered: the conservative rule
        vm.prank(host);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.DeviceBusy.selector, r.end));
        latchkey.setCalendar(deviceId, 300, 0);
        _setCalendar(SLOT, WINDOW); // the cancel window alone may change any time
        vm.warp(r.end);
        _setCalendar(300, WINDOW);
        vm.assertEq(latchkey.device(deviceId).slotSeconds, 300);
    }

    /// @dev Words written under another slot length read as empty: a rental that ended (never
    /// settled) leaves nothing behind after the change.
    function test_setCalendar_aNewSlotLengthStartsFromAnEmptyCalendar() public {
        ILatchkey.Rental memory r = _rent(guest, 0, HOUR - 10);
        vm.warp(r.end);
        _setCalendar(300, 0);
        _rent(stranger, 0, HOUR); // the old slot of `now` was held by r under 60-second slots
        vm.prank(guest);
        latchkey.checkoutByTime(r);
    }

    // ---------------------------------------------------------------- cancellation fee

    function test_cancel_isFreeAtLeastTheCancelWindowBeforeTheStart() public {
        _setCalendar(SLOT, WINDOW);
        ILatchkey.Rental memory r = _rent(guest, uint64(T0 + WINDOW), HOUR);
        vm.assertEq(r.cancelWindow, WINDOW);
        vm.assertEq(latchkey.cancelFee(r), 0);
        uint256 before = guest.balance;
        vm.expectEmit(address(latchkey));
        emit ILatchkey.Cancelled(r.id, deviceId, 0, r.deposit);
        vm.prank(guest);
        latchkey.cancel(r);
        vm.assertEq(guest.balance - before, r.deposit);
        vm.assertEq(latchkey.credit(host), 0);
    }

    function test_cancel_insideTheWindowChargesAFeeGrowingToTheRent() public {
        _setCalendar(SLOT, WINDOW);
        ILatchkey.Rental memory r = _rent(guest, uint64(T0 + WINDOW), HOUR);
        uint256 rent = uint256(PRICE) * HOUR;
        vm.warp(T0 + WINDOW / 4);
        vm.assertEq(latchkey.cancelFee(r), rent / 4);
        vm.warp(T0 + WINDOW / 2);
        vm.assertEq(latchkey.cancelFee(r), rent / 2);
        vm.warp(r.start - 1);
        uint256 fee = rent * (WINDOW - 1) / WINDOW;
        vm.assertEq(latchkey.cancelFee(r), fee);
        uint256 before = guest.balance;
        vm.expectEmit(address(latchkey));
        emit ILatchkey.Cancelled(r.id, deviceId, uint128(fee), uint128(r.deposit - fee));
        vm.prank(guest);
        latchkey.cancel(r);
        vm.assertEq(guest.balance - before, r.deposit - fee);
        vm.assertEq(latchkey.credit(host), fee);
        vm.assertEq(address(latchkey).balance, fee, "the fee stays as the host's credit");
    }

    function test_cancel_keepsTheWindowTheRentalWasBookedUnder() public {
        ILatchkey.Rental memory r = _rent(guest, uint64(T0 + 1 hours), HOUR); // booked with no window
        _setCalendar(SLOT, WINDOW);
        vm.assertEq(latchkey.cancelFee(r), 0);
        vm.prank(guest);
        latchkey.cancel(r);
        vm.assertEq(latchkey.credit(host), 0);
    }

    function test_cancelFee_failsOnceTheRentalHasStartedOrIsClosed() public {
        _setCalendar(SLOT, WINDOW);
        ILatchkey.Rental memory r = _rent(guest, uint64(T0 + 1 hours), HOUR);
        vm.warp(r.start);
        vm.expectRevert(ILatchkey.WrongTime.selector);
        latchkey.cancelFee(r);
        _checkout(r, 60, 0);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.RentalNotOpen.selector, r.id));
        latchkey.cancelFee(r);
    }

    function testFuzz_cancel_feeIsLinearInTheWindowAndNeverAboveTheRent(uint32 window, uint32 lead, uint32 duration)
        public
    {
        window = uint32(bound(window, 1, 30 days));
        duration = uint32(bound(duration, MIN, MAX));
        _setCalendar(SLOT, window);
        ILatchkey.Rental memory r = _rent(guest, uint64(T0 + 30 days), duration);
        lead = uint32(bound(lead, 1, 30 days));
        vm.warp(r.start - lead);
        uint256 rent = uint256(PRICE) * duration;
        uint256 expected = lead >= window ? 0 : rent * (window - lead) / window;
        vm.assertEq(latchkey.cancelFee(r), expected);
        vm.assertLe(expected, rent);
        uint256 before = guest.balance;
        vm.prank(guest);
        latchkey.cancel(r);
        vm.assertEq(guest.balance - before + latchkey.credit(host), r.deposit);
        vm.assertEq(latchkey.credit(host), expected);
    }

    // ---------------------------------------------------------------- fuzz: random order

    /// @dev Random windows, near and far, booked in the order drawn, some cancelled on the way: each
    /// is accepted exactly when no open booking holds one of its slots, and no two open bookings
    /// ever overlap.
    function testFuzz_rent_inRandomOrderAcceptsExactlyTheFreeWindows(uint256[12] calldata seeds) public {
        ILatchkey.Rental[] memory open = new ILatchkey.Rental[](seeds.length);
        uint256 n;
        for (uint256 k; k < seeds.length; ++k) {
            uint256 seed = seeds[k];
            if (seed % 7 == 0 && n > 0) {
                // Cancel one of the open bookings that has not started.
                uint256 pick = (seed >> 8) % n;
                if (block.timestamp < open[pick].start) {
                    vm.prank(open[pick].guest);
                    latchkey.cancel(open[pick]);
                    open[pick] = open[--n];
                }
                continue;
            }
            uint64 start = uint64(T0 + 1 + bound(seed >> 16, 0, seed % 2 == 0 ? 12 hours : 30 days - 1));
            if (seed % 3 == 0) start = uint64(start / SLOT * SLOT); // on a boundary
            uint32 duration = uint32(bound(seed >> 128, MIN, seed % 5 == 0 ? MAX : 6 hours));
            bool free = true;
            for (uint256 j; j < n; ++j) {
                if (
                    start / SLOT < (uint256(open[j].end) + SLOT - 1) / SLOT
                        && open[j].start / SLOT < (uint256(start) + duration + SLOT - 1) / SLOT
                ) free = false;
            }
            uint256 deposit = latchkey.quote(deviceId, duration).deposit;
            if (!free) {
                vm.prank(stranger);
                vm.expectPartialRevert(ILatchkey.WindowTaken.selector);
                latchkey.rent{value: deposit}(deviceId, start, duration);
                continue;
            }
            open[n++] = _rent(k % 2 == 0 ? guest : stranger, start, duration);
        }
        for (uint256 i; i < n; ++i) {
            vm.assertTrue(latchkey.isOpen(open[i]));
            for (uint256 j = i + 1; j < n; ++j) {
                vm.assertFalse(open[i].start < open[j].end && open[j].start < open[i].end, "overlap");
            }
        }
    }

    /// @dev Whatever is booked around it, a window whose slots are free can be booked, and one
    /// whose slots are not is refused with the first held slot.
    function testFuzz_rent_everyFreeWindowCanBeBooked(uint64 a, uint64 b, uint64 start, uint32 duration) public {
        ILatchkey.Rental memory x = _rent(guest, uint64(T0 + bound(a, 0, 30 days)), 3 hours);
        uint64 bStart = uint64(T0 + bound(b, 0, 30 days));
        bool bFree =
            bStart >= (uint256(x.end) + SLOT - 1) / SLOT * SLOT || uint256(bStart) + HOUR <= x.start / SLOT * SLOT;
        ILatchkey.Rental memory y;
        if (bFree) y = _rent(guest, bStart, HOUR);
        start = uint64(T0 + bound(start, 0, 30 days));
        duration = uint32(bound(duration, MIN, 1 days));
        uint256 from = start / SLOT;
        uint256 to = (uint256(start) + duration + SLOT - 1) / SLOT;
        uint256 firstTaken = type(uint256).max;
        ILatchkey.Rental[2] memory booked = [x, y];
        for (uint256 i; i < (bFree ? 2 : 1); ++i) {
            uint256 lo = booked[i].start / SLOT;
            uint256 hi = (uint256(booked[i].end) + SLOT - 1) / SLOT;
            if (lo < to && from < hi) {
                uint256 first = lo > from ? lo : from;
                if (first < firstTaken) firstTaken = first;
            }
        }
        if (firstTaken == type(uint256).max) {
            ILatchkey.Rental memory z = _rent(stranger, start, duration);
            vm.assertTrue(latchkey.isOpen(z));
        } else {
            _expectTaken(start, duration, firstTaken * SLOT);
        }
    }

    // ---------------------------------------------------------------- griefing

    /// @dev Version 1's grief (book at the horizon, cancel just before the start for a full refund,
    /// book again) no longer blocks anything but the booked window, and holding a window into its
    /// cancel window costs rent. Keeping a device blocked "from now" for a week with day-long
    /// bookings cancelled a second before each start costs (almost) a week's rent, credited to the
    /// host.
    function test_griefing_blockingADeviceForAWeekCostsAWeeksRent() public {
        _setCalendar(SLOT, WINDOW);
        uint256 dayRent = uint256(PRICE) * 1 days;

        // The old round: one booking at the horizon, cancelled free more than a window ahead.
        ILatchkey.Rental memory far = _rent(stranger, uint64(T0 + latchkey.MAX_ADVANCE()), MAX);
        ILatchkey.Rental memory honest = _rent(guest, 0, HOUR);
        vm.assertEq(honest.start, T0, "a guest still rents from now");
        vm.prank(stranger);
        latchkey.cancel(far);
        emit log_named_uint("gas of a free cancel at the horizon (execution)", vm.lastCallGas().gasTotalUsed);
        vm.assertEq(latchkey.credit(host), 0, "cancelling a month ahead stays free");

        // The new grief: hold every day from now for a week, cancelling each a second before it starts.
        vm.warp(honest.end);
        uint256 stranger0 = stranger.balance;
        uint256 gasUsed;
        ILatchkey.Rental memory held = _rent(stranger, uint64(block.timestamp + 1 days), 1 days);
        for (uint256 day; day < 7; ++day) {
            ILatchkey.Rental memory next = _rent(stranger, held.end, 1 days);
            gasUsed += vm.lastCallGas().gasTotalUsed;
            vm.warp(held.start - 1);
            _expectTaken(held.start, MIN, held.start); // nobody else gets the day about to start
            vm.prank(stranger);
            latchkey.cancel(held);
            gasUsed += vm.lastCallGas().gasTotalUsed;
            held = next;
        }
        uint256 fees = latchkey.credit(host);
        emit log_named_uint("gas per day held (rent + cancel, execution)", gasUsed / 7);
        emit log_named_uint("fees for a week held (wei)", fees);
        emit log_named_uint("a week's rent (wei)", 7 * dayRent);
        vm.assertEq(fees, 7 * (dayRent * (WINDOW - 1) / WINDOW), "each day cost its rent less 1/86,400");
        vm.assertEq(stranger0 - stranger.balance, fees + held.deposit, "paid the fees; the last day is still held");
    }
}
