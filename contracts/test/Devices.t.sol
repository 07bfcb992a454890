// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ILatchkey} from "../src/ILatchkey.sol";
import {LatchkeyFixture} from "./LatchkeyFixture.sol";

/// @notice Device registration, host settings and the device views.
contract DevicesTest is LatchkeyFixture {
    function test_registerDevice_storesTheDeviceAndEmitsIt() public {
        address key = vm.addr(OTHER_KEY);
        vm.expectEmit(address(latchkey));
        emit ILatchkey.DeviceRegistered(2, stranger, key, ILatchkey.Kind.Lock, 5, 7, 150, 30, 3600, MAX_WATTS);
        vm.prank(stranger);
        uint256 id =
            latchkey.registerDevice(key, ILatchkey.Kind.Lock, 5, 7, 150, 30, 3600, MAX_WATTS, SLOT, CANCEL_WINDOW);

        vm.assertEq(id, 2);
        ILatchkey.Device memory d = latchkey.device(id);
        vm.assertEq(d.host, stranger);
        vm.assertEq(d.minDuration, 30);
        vm.assertEq(d.maxDuration, 3600);
        vm.assertEq(d.depositFactor, 150);
        vm.assertTrue(d.kind == ILatchkey.Kind.Lock);
        vm.assertTrue(d.active);
        vm.assertEq(d.signer, key);
        vm.assertEq(d.bookedUntil, 0);
        vm.assertEq(d.rentalCount, 0);
        vm.assertEq(d.pricePerSecond, 5);
        vm.assertEq(d.pricePerWh, 7);
    }

    function test_registerDevice_numbersDevicesFromOne() public {
        vm.assertEq(deviceId, 1);
        vm.assertEq(
            latchkey.registerDevice(signer, ILatchkey.Kind.Socket, 1, 0, 100, 1, 1, MAX_WATTS, SLOT, CANCEL_WINDOW), 2
        );
        vm.assertEq(
            latchkey.registerDevice(signer, ILatchkey.Kind.Socket, 1, 0, 100, 1, 1, MAX_WATTS, SLOT, CANCEL_WINDOW), 3
        );
    }

    function test_registerDevice_failsForAZeroSigner() public {
        vm.expectRevert(ILatchkey.InvalidDevice.selector);
        latchkey.registerDevice(
            address(0), ILatchkey.Kind.Lock, PRICE, 0, FACTOR, MIN, MAX, MAX_WATTS, SLOT, CANCEL_WINDOW
        );
    }

    function test_registerDevice_failsForAZeroPricePerSecond() public {
        vm.expectRevert(ILatchkey.InvalidDevice.selector);
        latchkey.registerDevice(
            signer, ILatchkey.Kind.Lock, 0, PRICE_WH, FACTOR, MIN, MAX, MAX_WATTS, SLOT, CANCEL_WINDOW
        );
    }

    function test_registerDevice_failsForADepositFactorBelowOneHundred() public {
        vm.expectRevert(ILatchkey.InvalidDevice.selector);
        latchkey.registerDevice(signer, ILatchkey.Kind.Lock, PRICE, 0, 99, MIN, MAX, MAX_WATTS, SLOT, CANCEL_WINDOW);
    }

    function test_registerDevice_failsForADepositFactorAboveTheMaximum() public {
        vm.expectRevert(ILatchkey.InvalidDevice.selector);
        latchkey.registerDevice(signer, ILatchkey.Kind.Lock, PRICE, 0, 401, MIN, MAX, MAX_WATTS, SLOT, CANCEL_WINDOW);
        // The review's device: factor 65,535 would have charged 655x the rent.
        vm.expectRevert(ILatchkey.InvalidDevice.selector);
        latchkey.registerDevice(
            signer, ILatchkey.Kind.Lock, PRICE, 0, type(uint16).max, MIN, MAX, MAX_WATTS, SLOT, CANCEL_WINDOW
        );
    }

    function test_registerDevice_acceptsTheMaximumDepositFactor() public {
        vm.assertEq(latchkey.MAX_DEPOSIT_FACTOR(), 400);
        uint256 id = latchkey.registerDevice(
            signer, ILatchkey.Kind.Lock, PRICE, 0, 400, MIN, MAX, MAX_WATTS, SLOT, CANCEL_WINDOW
        );
        vm.assertEq(latchkey.quote(id, 1 hours).deposit, 4 * uint256(PRICE) * 1 hours);
    }

    function test_registerDevice_failsForAZeroMinimumDuration() public {
        vm.expectRevert(ILatchkey.InvalidDevice.selector);
        latchkey.registerDevice(signer, ILatchkey.Kind.Lock, PRICE, 0, FACTOR, 0, MAX, MAX_WATTS, SLOT, CANCEL_WINDOW);
    }

    function test_registerDevice_failsForAMinimumAboveTheMaximum() public {
        vm.expectRevert(ILatchkey.InvalidDevice.selector);
        latchkey.registerDevice(signer, ILatchkey.Kind.Lock, PRICE, 0, FACTOR, 101, 100, MAX_WATTS, SLOT, CANCEL_WINDOW);
    }

    function test_registerDevice_failsWhenTheLargestDepositWouldNotFit128Bits() public {
        vm.expectRevert(ILatchkey.InvalidDevice.selector);
        latchkey.registerDevice(
            signer, ILatchkey.Kind.Lock, type(uint128).max / 2, 0, 100, 1, 3, MAX_WATTS, SLOT, CANCEL_WINDOW
        );
        // The same price with a shorter maximum fits.
        latchkey.registerDevice(
            signer, ILatchkey.Kind.Lock, type(uint128).max / 2, 0, 100, 1, 2, MAX_WATTS, SLOT, CANCEL_WINDOW
        );
    }

    function test_setPrice_changesTheQuoteAndEmits() public {
        vm.expectEmit(address(latchkey));
        emit ILatchkey.PriceChanged(deviceId, 3 * PRICE, 0, MAX_WATTS);
        vm.prank(host);
        latchkey.setPrice(deviceId, 3 * PRICE, 0, MAX_WATTS);

        ILatchkey.Device memory d = latchkey.device(deviceId);
        vm.assertEq(d.pricePerSecond, 3 * PRICE);
        vm.assertEq(d.pricePerWh, 0);
        vm.assertEq(latchkey.quote(deviceId, 100).deposit, uint256(3 * PRICE) * 100 * FACTOR / 100);
    }

    function test_setPrice_neverAffectsOpenRentals() public {
        ILatchkey.Rental memory r = _rent(guest, 0, 1 hours);
        vm.prank(host);
        latchkey.setPrice(deviceId, 10 * PRICE, 10 * PRICE_WH, MAX_WATTS);

        vm.assertTrue(latchkey.isOpen(r), "the committed rental keeps its prices");
        vm.warp(r.end);
        uint256 hostBefore = latchkey.credit(host);
        _checkout(r, 600, 3);
        vm.assertEq(latchkey.credit(host) - hostBefore, uint256(PRICE) * 600 + uint256(PRICE_WH) * 3);
    }

    function test_setPrice_failsForAnyoneButTheHost() public {
        vm.prank(stranger);
        vm.expectRevert(ILatchkey.NotHost.selector);
        latchkey.setPrice(deviceId, 1, 1, MAX_WATTS);
    }

    function test_setPrice_failsForAnUnknownDevice() public {
        vm.prank(host);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.UnknownDevice.selector, 99));
        latchkey.setPrice(99, 1, 1, MAX_WATTS);
    }

    function test_setPrice_failsForAZeroPricePerSecond() public {
        vm.prank(host);
        vm.expectRevert(ILatchkey.InvalidDevice.selector);
        latchkey.setPrice(deviceId, 0, 1, MAX_WATTS);
    }

    function test_setPrice_failsWhenTheLargestDepositWouldNotFit128Bits() public {
        vm.prank(host);
        vm.expectRevert(ILatchkey.InvalidDevice.selector);
        latchkey.setPrice(deviceId, type(uint128).max, 0, MAX_WATTS);
    }

    function test_setSigner_rotatesTheReceiptKey() public {
        ILatchkey.Rental memory r = _rent(guest, 0, 1 hours);
        address next = vm.addr(OTHER_KEY);
        vm.expectEmit(address(latchkey));
        emit ILatchkey.SignerChanged(deviceId, next);
        vm.prank(host);
        latchkey.setSigner(deviceId, next);
        vm.assertEq(latchkey.device(deviceId).signer, next);

        // The open rental keeps the key it was made under; a new one takes the new key.
        ILatchkey.Rental memory later = _rent(stranger, r.end, 1 hours);
        vm.assertEq(r.signer, signer);
        vm.assertEq(later.signer, next);
        vm.assertTrue(latchkey.isOpen(r));
        vm.assertTrue(latchkey.isOpen(later));
    }

    function test_setSigner_failsForAnyoneButTheHost() public {
        vm.prank(guest);
        vm.expectRevert(ILatchkey.NotHost.selector);
        latchkey.setSigner(deviceId, guest);
    }

    function test_setSigner_failsForAZeroSigner() public {
        vm.prank(host);
        vm.expectRevert(ILatchkey.InvalidDevice.selector);
        latchkey.setSigner(deviceId, address(0));
    }

    function test_setSigner_failsForAnUnknownDevice() public {
        vm.prank(host);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.UnknownDevice.selector, 2));
        latchkey.setSigner(2, signer);
    }

    function test_setActive_closesAndReopensTheDeviceToNewRentals() public {
        vm.expectEmit(address(latchkey));
        emit ILatchkey.ActiveChanged(deviceId, false);
        vm.prank(host);
        latchkey.setActive(deviceId, false);
        vm.assertFalse(latchkey.device(deviceId).active);

        uint256 deposit = latchkey.quote(deviceId, MIN).deposit;
        vm.prank(guest);
        vm.expectRevert(ILatchkey.DeviceInactive.selector);
        latchkey.rent{value: deposit}(deviceId, 0, MIN);

        vm.expectEmit(address(latchkey));
        emit ILatchkey.ActiveChanged(deviceId, true);
        vm.prank(host);
        latchkey.setActive(deviceId, true);
        _rent(guest, 0, MIN);
    }

    function test_setActive_letsOpenRentalsRunToTheEnd() public {
        ILatchkey.Rental memory r = _rent(guest, 0, 1 hours);
        vm.prank(host);
        latchkey.setActive(deviceId, false);
        vm.assertTrue(latchkey.isOpen(r));
        vm.warp(r.end);
        _checkout(r, 3600, 0);
        vm.assertFalse(latchkey.isOpen(r));
    }

    function test_setActive_failsForAnyoneButTheHost() public {
        vm.prank(stranger);
        vm.expectRevert(ILatchkey.NotHost.selector);
        latchkey.setActive(deviceId, false);
    }

    function test_setActive_failsForAnUnknownDevice() public {
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.UnknownDevice.selector, 0));
        latchkey.setActive(0, false);
    }

    function test_setDurations_changesTheBoundsOfNewRentalsAndEmits() public {
        vm.expectEmit(address(latchkey));
        emit ILatchkey.DurationsChanged(deviceId, 2 * MIN, 2 hours);
        vm.prank(host);
        latchkey.setDurations(deviceId, 2 * MIN, 2 hours);
        ILatchkey.Device memory d = latchkey.device(deviceId);
        vm.assertEq(d.minDuration, 2 * MIN);
        vm.assertEq(d.maxDuration, 2 hours);

        uint256 deposit = latchkey.quote(deviceId, MIN).deposit;
        vm.prank(guest);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.InvalidDuration.selector, 2 * MIN, 2 hours));
        latchkey.rent{value: deposit}(deviceId, 0, MIN);
        _rent(guest, 0, 2 hours);
    }

    function test_setDurations_raisesTheMinimumOnlyWhileNoBookingRunsOrWaits() public {
        ILatchkey.Rental memory r = _rent(guest, 0, 1 hours);
        vm.prank(host);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.DeviceBusy.selector, r.end));
        latchkey.setDurations(deviceId, MIN + 1, MAX);
        // lowering it only helps the guest: allowed at once
        vm.prank(host);
        latchkey.setDurations(deviceId, 1, MAX);
        vm.warp(r.end);
        vm.prank(host);
        latchkey.setDurations(deviceId, MIN + 1, MAX);
        vm.assertEq(latchkey.device(deviceId).minDuration, MIN + 1);
    }

    function test_setDurations_refusesBadBoundsAndOthers() public {
        vm.startPrank(host);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.InvalidDuration.selector, 0, MAX));
        latchkey.setDurations(deviceId, 0, MAX);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.InvalidDuration.selector, MAX, MAX - 1));
        latchkey.setDurations(deviceId, MAX, MAX - 1);
        vm.stopPrank();
        // a price whose deposit fits for one second only
        uint256 dear = latchkey.registerDevice(
            signer, ILatchkey.Kind.Lock, type(uint128).max / 4, 0, 100, 1, 1, 0, SLOT, CANCEL_WINDOW
        );
        vm.expectRevert(ILatchkey.InvalidDevice.selector);
        latchkey.setDurations(dear, 1, 10);
        vm.prank(stranger);
        vm.expectRevert(ILatchkey.NotHost.selector);
        latchkey.setDurations(deviceId, MIN, MAX);
    }

    function test_quote_isTheRentTimesTheDepositFactor() public view {
        ILatchkey.Quote memory q = latchkey.quote(deviceId, 1 hours);
        vm.assertEq(q.rent, uint256(PRICE) * 1 hours);
        vm.assertEq(q.energyWh, MAX_WATTS, "an hour at the max power");
        vm.assertEq(q.energyCost, uint256(PRICE_WH) * MAX_WATTS);
        vm.assertEq(q.deposit, uint256(PRICE) * 1 hours * FACTOR / 100 + q.energyCost);
        vm.assertEq(q.maxCharge, q.deposit);
    }

    /// @dev The worst case the quote shows is what a receipt for far more than the booked use
    /// charges, at the largest factor: never more than 4x the rent.
    function testFuzz_quote_maxChargeIsTheWorstCaseAndAtMostFourTimesTheRentPlusEnergy(
        uint16 factor,
        uint32 duration,
        uint64 secondsUsed,
        uint64 energyWh
    ) public {
        factor = uint16(bound(factor, 100, latchkey.MAX_DEPOSIT_FACTOR()));
        duration = uint32(bound(duration, MIN, MAX));
        vm.prank(host);
        uint256 id = latchkey.registerDevice(
            signer, ILatchkey.Kind.Socket, PRICE, PRICE_WH, factor, MIN, MAX, MAX_WATTS, SLOT, CANCEL_WINDOW
        );
        ILatchkey.Quote memory q = latchkey.quote(id, duration);
        vm.assertLe(q.maxCharge, 4 * q.rent + q.energyCost);
        ILatchkey.Rental memory r = _rentDevice(id, guest, 0, duration);
        vm.warp(r.end);
        uint256 hostBefore = latchkey.credit(host);
        _checkout(r, secondsUsed, energyWh);
        vm.assertLe(latchkey.credit(host) - hostBefore, q.maxCharge);
    }

    function test_quote_failsForAnUnknownDevice() public {
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.UnknownDevice.selector, 7));
        latchkey.quote(7, 1 hours).deposit;
    }

    function test_device_failsForAnUnknownDevice() public {
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.UnknownDevice.selector, 0));
        latchkey.device(0);
    }

    /// @dev The layout promised by the interface: host…active, signer…rentalCount, the two prices,
    /// maxWatts…cancelWindow.
    function test_device_isPackedIntoFourStorageSlots() public {
        ILatchkey.Rental memory r = _rent(guest, 0, 1 hours);
        ILatchkey.Device memory d = latchkey.device(deviceId);
        vm.assertEq(d.bookedUntil, r.end);
        vm.assertEq(d.rentalCount, 1);
        // `_devices` follows EIP712's two fallback strings and `_deviceCount` (`forge inspect Latchkey storageLayout`).
        bytes32 base = keccak256(abi.encode(deviceId, uint256(3)));
        vm.assertEq(
            vm.load(address(latchkey), base),
            bytes32(
                uint256(uint160(host)) | uint256(MIN) << 160 | uint256(SLOT) << 192 | uint256(FACTOR) << 224
                    | uint256(uint8(ILatchkey.Kind.Socket)) << 240 | uint256(1) << 248
            )
        );
        vm.assertEq(
            vm.load(address(latchkey), bytes32(uint256(base) + 1)),
            bytes32(uint256(uint160(signer)) | uint256(r.end) << 160 | uint256(1) << 224)
        );
        vm.assertEq(
            vm.load(address(latchkey), bytes32(uint256(base) + 2)), bytes32(uint256(PRICE) | uint256(PRICE_WH) << 128)
        );
        vm.assertEq(
            vm.load(address(latchkey), bytes32(uint256(base) + 3)),
            bytes32(uint256(MAX_WATTS) | uint256(MAX) << 32 | uint256(CANCEL_WINDOW) << 64)
        );
        vm.assertEq(vm.load(address(latchkey), bytes32(uint256(base) + 4)), bytes32(0));
    }
}
