// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ILatchkey} from "../src/ILatchkey.sol";
import {LatchkeyFixture} from "./LatchkeyFixture.sol";

/// @notice Rentals commit the signer they were made under; rotating the key strands none of them,
/// and a revoked (stolen) key settles nothing from the block of its revocation on.
contract KeyRotationTest is LatchkeyFixture {
    function _rotate(uint256 key) internal {
        vm.prank(host);
        latchkey.setSigner(deviceId, vm.addr(key));
    }

    function _revoke(address key) internal {
        vm.prank(host);
        latchkey.revokeSigner(key);
    }

    function test_rent_commitsTheDevicesCurrentSigner() public {
        ILatchkey.Rental memory r = _rent(guest, 0, 1 hours);
        vm.assertEq(r.signer, signer);
        vm.assertTrue(latchkey.isOpen(r));
        ILatchkey.Rental memory forged = r;
        forged.signer = vm.addr(OTHER_KEY);
        vm.assertFalse(latchkey.isOpen(forged), "the signer is part of the commitment");
    }

    function test_setSigner_leavesOpenRentalsSettleableByTheirOwnKey() public {
        ILatchkey.Rental memory r = _rent(guest, 0, 1 hours);
        _rotate(OTHER_KEY);
        vm.warp(T0 + 600);
        ILatchkey.Receipt memory receipt = _receipt(r, 600, 2);
        vm.expectRevert(ILatchkey.InvalidReceiptSignature.selector);
        latchkey.checkout(r, receipt, _sign(OTHER_KEY, receipt));
        latchkey.checkout(r, receipt, _sign(SIGNER_KEY, receipt));
        vm.assertEq(latchkey.credit(host), uint256(PRICE) * 600 + uint256(PRICE_WH) * 2);
    }

    function test_setSigner_rentalsAfterTheRotationTakeTheNewKey() public {
        _rotate(OTHER_KEY);
        ILatchkey.Rental memory r = _rent(guest, 0, 1 hours);
        vm.assertEq(r.signer, vm.addr(OTHER_KEY));
        ILatchkey.Receipt memory receipt = _receipt(r, 60, 0);
        vm.expectRevert(ILatchkey.InvalidReceiptSignature.selector);
        latchkey.checkout(r, receipt, _sign(SIGNER_KEY, receipt));
        latchkey.checkout(r, receipt, _sign(OTHER_KEY, receipt));
        vm.assertFalse(latchkey.isOpen(r));
    }

    function test_revokeSigner_marksTheKeyRevokedForThatHostOnlyAndEmits() public {
        vm.expectEmit(address(latchkey));
        emit ILatchkey.SignerRevoked(host, signer);
        _revoke(signer);
        vm.assertTrue(latchkey.isRevoked(host, signer));
        vm.assertFalse(latchkey.isRevoked(stranger, signer), "another host's devices are not affected");
        vm.assertFalse(latchkey.isRevoked(host, vm.addr(OTHER_KEY)));
    }

    function test_revokeSigner_byAnotherHostLeavesTheDeviceAlone() public {
        ILatchkey.Rental memory r = _rent(guest, 0, 1 hours);
        vm.prank(stranger);
        latchkey.revokeSigner(signer);
        _checkout(r, 60, 0);
        vm.assertFalse(latchkey.isOpen(r));
        vm.warp(T0 + SLOT); // the checkout's own slot stays held
        _rent(guest, 0, 1 hours);
    }

    function test_checkout_failsForAReceiptOfARevokedKey() public {
        ILatchkey.Rental memory r = _rent(guest, 0, 1 hours);
        vm.warp(T0 + 60);
        _revoke(signer);
        ILatchkey.Receipt memory receipt = _receipt(r, 60, 0);
        bytes memory signature = _sign(SIGNER_KEY, receipt);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.RevokedSigner.selector, signer));
        latchkey.checkout(r, receipt, signature);
        vm.assertTrue(latchkey.isOpen(r));
    }

    /// @dev The stolen key's receipt is refused even if the rental was made before the
    /// revocation and the device has moved to a new key since.
    function test_revokeSigner_openRentalsOfTheKeySettleByTime() public {
        _timePriceOnly();
        ILatchkey.Rental memory started = _rent(guest, 0, 1 hours);
        ILatchkey.Rental memory future = _rent(stranger, started.end + 1 days, 1 hours);
        ILatchkey.Rental memory ended = _rent(guest, future.end, 1 hours);
        _rotate(OTHER_KEY);
        _revoke(signer);

        // Before its start the future booking is cancelled for its whole deposit.
        uint256 strangerBefore = stranger.balance;
        vm.prank(stranger);
        latchkey.cancel(future);
        vm.assertEq(stranger.balance, strangerBefore + future.deposit);

        // The running one: its guest settles by time, paying the time elapsed.
        vm.warp(T0 + 30 minutes);
        uint256 guestBefore = guest.balance;
        vm.prank(guest);
        latchkey.checkoutByTime(started);
        vm.assertEq(guest.balance, guestBefore + started.deposit - uint256(PRICE) * 30 minutes);

        // The last one: anyone, after end + grace, charging the booked rent.
        vm.warp(ended.end + GRACE);
        ILatchkey.Receipt memory receipt = _receipt(ended, 1, 0);
        bytes memory signature = _sign(SIGNER_KEY, receipt);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.RevokedSigner.selector, signer));
        latchkey.checkout(ended, receipt, signature);
        vm.prank(stranger);
        latchkey.checkoutByTime(ended);
        vm.assertFalse(latchkey.isOpen(ended));
        vm.assertEq(latchkey.credit(host), uint256(PRICE) * 30 minutes + uint256(PRICE) * 1 hours);
    }

    function test_rent_failsWhileTheDevicesSignerIsRevoked() public {
        _revoke(signer);
        uint256 deposit = latchkey.quote(deviceId, 1 hours).deposit;
        vm.prank(guest);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.RevokedSigner.selector, signer));
        latchkey.rent{value: deposit}(deviceId, 0, 1 hours);
        _rotate(OTHER_KEY);
        ILatchkey.Rental memory r = _rent(guest, 0, 1 hours);
        vm.assertEq(r.signer, vm.addr(OTHER_KEY));
    }

    function test_extend_failsForARentalOfARevokedKey() public {
        ILatchkey.Rental memory r = _rent(guest, 0, 1 hours);
        _rotate(OTHER_KEY);
        _revoke(signer);
        uint256 more = latchkey.quote(deviceId, 1 hours).deposit;
        vm.prank(guest);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.RevokedSigner.selector, signer));
        latchkey.extend{value: more}(r, 1 hours);
    }

    function test_setSigner_failsForARevokedKey() public {
        _rotate(OTHER_KEY);
        _revoke(signer);
        vm.prank(host);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.RevokedSigner.selector, signer));
        latchkey.setSigner(deviceId, signer);
    }

    function test_registerDevice_failsForARevokedKey() public {
        _revoke(signer);
        vm.prank(host);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.RevokedSigner.selector, signer));
        latchkey.registerDevice(signer, ILatchkey.Kind.Lock, PRICE, 0, FACTOR, MIN, MAX, MAX_WATTS, SLOT, CANCEL_WINDOW);
        // Another host may still use the same address for its own devices.
        vm.prank(stranger);
        latchkey.registerDevice(signer, ILatchkey.Kind.Lock, PRICE, 0, FACTOR, MIN, MAX, MAX_WATTS, SLOT, CANCEL_WINDOW);
    }

    /// @dev Rotating any number of times strands no open rental: each settles by its own key.
    function testFuzz_setSigner_strandsNoOpenRental(uint8 rotations, uint64 secondsUsed) public {
        rotations = uint8(bound(rotations, 1, 8));
        secondsUsed = uint64(bound(secondsUsed, 0, 1 hours));
        ILatchkey.Rental[] memory rentals = new ILatchkey.Rental[](rotations);
        uint256[] memory keys = new uint256[](rotations);
        uint64 start = uint64(T0);
        for (uint256 i; i < rotations; ++i) {
            keys[i] = 0x1000 + i;
            vm.prank(host);
            latchkey.setSigner(deviceId, vm.addr(keys[i]));
            rentals[i] = _rent(guest, start, 1 hours);
            start = rentals[i].end;
        }
        vm.warp(start);
        for (uint256 i; i < rotations; ++i) {
            ILatchkey.Receipt memory receipt = _receipt(rentals[i], secondsUsed, 0);
            latchkey.checkout(rentals[i], receipt, _sign(keys[i], receipt));
            vm.assertFalse(latchkey.isOpen(rentals[i]));
        }
        vm.assertEq(latchkey.credit(host), uint256(PRICE) * secondsUsed * rotations);
    }
}
