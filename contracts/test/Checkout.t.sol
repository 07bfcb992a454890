// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ILatchkey} from "../src/ILatchkey.sol";
import {Latchkey} from "../src/Latchkey.sol";
import {LatchkeyFixture} from "./LatchkeyFixture.sol";
import {Vm} from "./lib/Vm.sol";

/// @notice Settling by receipt, the receipt signature rules, and the receipt digest.
contract CheckoutTest is LatchkeyFixture {
    ILatchkey.Rental internal r;

    function setUp() public override {
        super.setUp();
        r = _rent(guest, 0, 2 hours);
        vm.warp(T0 + 1 hours);
    }

    function test_checkout_chargesTheMeteredUseAndRefundsTheRest() public {
        uint128 charge = PRICE * 1800 + PRICE_WH * 40;
        uint128 refund = r.deposit - charge;
        uint256 guestBefore = guest.balance;
        vm.expectEmit(address(latchkey));
        emit ILatchkey.Settled(r.id, deviceId, charge, refund, true);
        _checkout(r, 1800, 40);

        vm.assertEq(latchkey.credit(host), charge);
        vm.assertEq(guest.balance, guestBefore + refund);
        vm.assertEq(address(latchkey).balance, charge, "only the host's credit is left");
        vm.assertFalse(latchkey.isOpen(r));
    }

    function test_checkout_canBeSubmittedByAnyone() public {
        uint256 guestBefore = guest.balance;
        ILatchkey.Receipt memory receipt = _receipt(r, 600, 0);
        bytes memory signature = _sign(SIGNER_KEY, receipt);
        vm.prank(stranger);
        latchkey.checkout(r, receipt, signature);
        vm.assertEq(latchkey.credit(host), PRICE * 600);
        vm.assertEq(latchkey.credit(stranger), 0);
        vm.assertEq(guest.balance, guestBefore + r.deposit - PRICE * 600, "the refund goes to the guest");
    }

    function test_checkout_capsTheChargeAtTheDeposit() public {
        uint256 guestBefore = guest.balance;
        vm.expectEmit(address(latchkey));
        emit ILatchkey.Settled(r.id, deviceId, r.deposit, 0, true);
        _checkout(r, type(uint64).max, type(uint64).max);
        vm.assertEq(latchkey.credit(host), r.deposit);
        vm.assertEq(guest.balance, guestBefore);
    }

    /// @dev A receipt cannot take a future booking's deposit ahead of its guest's free `cancel`
    /// (a host who rotated the signer to a key it holds, or a stolen gateway key).
    function test_checkout_beforeTheStartChargesNothing() public {
        ILatchkey.Rental memory next = _rent(stranger, r.end, 1 hours);
        uint256 before = stranger.balance;
        vm.expectEmit(address(latchkey));
        emit ILatchkey.Settled(next.id, deviceId, 0, next.deposit, true);
        _checkout(next, type(uint64).max, type(uint64).max);
        vm.assertEq(stranger.balance, before + next.deposit);
        vm.assertEq(latchkey.credit(host), 0);
        vm.warp(next.start);
        ILatchkey.Rental memory started = _rent(stranger, 0, 1 hours);
        _checkout(started, 60, 0);
        vm.assertEq(latchkey.credit(host), PRICE * 60, "charged from the start on");
    }

    function test_checkout_chargesNothingForAnUnusedRental() public {
        uint256 guestBefore = guest.balance;
        _checkout(r, 0, 0);
        vm.assertEq(latchkey.credit(host), 0);
        vm.assertEq(guest.balance, guestBefore + r.deposit);
        vm.assertEq(address(latchkey).balance, 0);
    }

    // ---------------------------------------------------------------- settled once (freeing slots: Calendar.t.sol)

    function test_checkout_failsIfAlreadySettled() public {
        _checkout(r, 60, 0);
        ILatchkey.Receipt memory receipt = _receipt(r, 60, 0);
        bytes memory signature = _sign(SIGNER_KEY, receipt);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.RentalNotOpen.selector, r.id));
        latchkey.checkout(r, receipt, signature);
    }

    function test_checkout_failsForARentalWithAnInflatedDeposit() public {
        ILatchkey.Rental memory forged = r;
        forged.deposit = r.deposit * 2;
        ILatchkey.Receipt memory receipt = _receipt(forged, 0, 0);
        bytes memory signature = _sign(SIGNER_KEY, receipt);
        vm.expectRevert(abi.encodeWithSelector(ILatchkey.RentalNotOpen.selector, r.id));
        latchkey.checkout(forged, receipt, signature);
    }

    function test_checkout_failsForAReceiptSignedByAnotherKey() public {
        ILatchkey.Receipt memory receipt = _receipt(r, 60, 0);
        bytes memory signature = _sign(OTHER_KEY, receipt);
        vm.expectRevert(ILatchkey.InvalidReceiptSignature.selector);
        latchkey.checkout(r, receipt, signature);
    }

    function test_checkout_failsForATamperedReceipt() public {
        ILatchkey.Receipt memory receipt = _receipt(r, 3600, 50);
        bytes memory signature = _sign(SIGNER_KEY, receipt);
        receipt.secondsUsed = 60;
        vm.expectRevert(ILatchkey.InvalidReceiptSignature.selector);
        latchkey.checkout(r, receipt, signature);
        receipt.secondsUsed = 3600;
        receipt.energyWh = 0;
        vm.expectRevert(ILatchkey.InvalidReceiptSignature.selector);
        latchkey.checkout(r, receipt, signature);
    }

    function test_checkout_failsForAReceiptOfAnotherRental() public {
        ILatchkey.Rental memory next = _rent(guest, r.end, 1 hours);
        ILatchkey.Receipt memory receipt = _receipt(next, 60, 0);
        bytes memory signature = _sign(SIGNER_KEY, receipt);
        vm.expectRevert(ILatchkey.InvalidReceiptSignature.selector);
        latchkey.checkout(r, receipt, signature);
        latchkey.checkout(next, receipt, signature);
        vm.assertTrue(latchkey.isOpen(r));
    }

    function test_checkout_failsForSignaturesOfTheWrongLength() public {
        ILatchkey.Receipt memory receipt = _receipt(r, 60, 0);
        bytes memory signature = _sign(SIGNER_KEY, receipt);
        bytes[4] memory malformed =
            [bytes(""), _slice(signature, 64), _slice(signature, 1), abi.encodePacked(signature, uint8(0))];
        for (uint256 i; i < malformed.length; ++i) {
            vm.expectRevert(ILatchkey.InvalidReceiptSignature.selector);
            latchkey.checkout(r, receipt, malformed[i]);
        }
    }

    function test_checkout_failsForARecoveryByteOtherThan27Or28() public {
        ILatchkey.Receipt memory receipt = _receipt(r, 60, 0);
        (uint8 v, bytes32 rr, bytes32 s) = vm.sign(SIGNER_KEY, _digest(receipt));
        uint8[4] memory bad = [v - 27, v + 2, 0, 255];
        for (uint256 i; i < bad.length; ++i) {
            vm.expectRevert(ILatchkey.InvalidReceiptSignature.selector);
            latchkey.checkout(r, receipt, abi.encodePacked(rr, s, bad[i]));
        }
        latchkey.checkout(r, receipt, abi.encodePacked(rr, s, v));
    }

    function test_checkout_failsForAZeroSignature() public {
        ILatchkey.Receipt memory receipt = _receipt(r, 60, 0);
        vm.expectRevert(ILatchkey.InvalidReceiptSignature.selector);
        latchkey.checkout(r, receipt, new bytes(65));
    }

    function test_receiptDigest_isTheEIP712DigestOfTheReceipt() public view {
        ILatchkey.Receipt memory receipt = _receipt(r, 1234, 56);
        vm.assertEq(latchkey.receiptDigest(receipt), _digest(receipt));
    }

    function test_receiptDigest_dependsOnTheChain() public {
        ILatchkey.Receipt memory receipt = _receipt(r, 1234, 56);
        bytes32 here = latchkey.receiptDigest(receipt);
        vm.chainId(block.chainid + 1);
        vm.assertTrue(latchkey.receiptDigest(receipt) != here);
        vm.assertEq(latchkey.receiptDigest(receipt), _digest(receipt));
    }

    // ---------------------------------------------------------------- fuzz

    function testFuzz_checkout_chargePlusRefundIsTheDeposit(uint64 secondsUsed, uint64 energyWh, uint32 duration)
        public
    {
        duration = uint32(bound(duration, MIN, MAX));
        ILatchkey.Rental memory x = _rent(stranger, r.end, duration);
        vm.warp(x.start);
        uint256 before = stranger.balance + latchkey.credit(host);
        vm.recordLogs();
        _checkout(x, secondsUsed, energyWh);

        uint256 allowance = x.end - x.start; // 1 Wh a second at MAX_WATTS
        uint256 metered =
            uint256(PRICE) * secondsUsed + uint256(PRICE_WH) * (energyWh < allowance ? energyWh : allowance);
        uint256 charge = metered < x.deposit ? metered : x.deposit;
        vm.assertEq(latchkey.credit(host), charge);
        vm.assertEq(stranger.balance + latchkey.credit(host), before + x.deposit, "charge + refund == deposit");
        (uint128 loggedCharge, uint128 loggedRefund,) = _settled();
        vm.assertEq(uint256(loggedCharge) + loggedRefund, x.deposit);
        vm.assertEq(loggedCharge, charge);
        vm.assertEq(address(latchkey).balance, r.deposit + charge, "the other rental's deposit is untouched");
    }

    /// @dev The same (r, s, v) must be accepted in exactly one encoding: 65 bytes, low s.
    function testFuzz_checkout_rejectsReencodedSignatures(uint64 secondsUsed, uint64 energyWh, uint256 padding) public {
        ILatchkey.Receipt memory receipt = _receipt(r, secondsUsed, energyWh);
        bytes32 digest = _digest(receipt);
        (uint8 v, bytes32 rr, bytes32 s) = vm.sign(SIGNER_KEY, digest);
        (bytes32 compactR, bytes32 vs) = vm.signCompact(SIGNER_KEY, digest);
        vm.assertEq(compactR, rr);
        bytes32 highS = bytes32(SECP256K1_N - uint256(s));
        uint8 flippedV = v == 27 ? 28 : 27;
        vm.assertEq(ecrecover(digest, flippedV, rr, highS), signer, "the high-s twin is a valid ecrecover input");

        bytes[5] memory variants = [
            abi.encodePacked(compactR, vs), // EIP-2098, 64 bytes
            abi.encodePacked(rr, highS, flippedV), // malleable twin
            abi.encodePacked(rr, s, v, bytes1(uint8(padding))), // one byte of padding
            abi.encodePacked(rr, s, v, padding), // a word of padding
            abi.encodePacked(rr, s, uint256(v)) // v as a full word
        ];
        for (uint256 i; i < variants.length; ++i) {
            vm.expectRevert(ILatchkey.InvalidReceiptSignature.selector);
            latchkey.checkout(r, receipt, variants[i]);
        }
        latchkey.checkout(r, receipt, abi.encodePacked(rr, s, v));
    }

    function testFuzz_checkout_rejectsAnyOtherSigner(uint256 key, uint64 secondsUsed) public {
        key = bound(key, 1, SECP256K1_N - 1);
        vm.assume(key != SIGNER_KEY);
        ILatchkey.Receipt memory receipt = _receipt(r, secondsUsed, 0);
        bytes memory signature = _sign(key, receipt);
        vm.expectRevert(ILatchkey.InvalidReceiptSignature.selector);
        latchkey.checkout(r, receipt, signature);
    }

    function testFuzz_checkout_rejectsAReceiptReplayedOnAnotherRental(uint64 secondsUsed, uint8 later) public {
        ILatchkey.Rental memory x = r;
        for (uint256 i; i <= later % 4; ++i) {
            x = _rent(stranger, x.end, 1 hours);
        }
        ILatchkey.Receipt memory receipt = _receipt(r, secondsUsed, 0);
        bytes memory signature = _sign(SIGNER_KEY, receipt);
        vm.expectRevert(ILatchkey.InvalidReceiptSignature.selector);
        latchkey.checkout(x, receipt, signature);
        // Re-labelled for the other rental, the signature no longer matches.
        receipt.rentalId = x.id;
        vm.expectRevert(ILatchkey.InvalidReceiptSignature.selector);
        latchkey.checkout(x, receipt, signature);
    }

    /// @dev The same contract address on another chain: a receipt signed for one chain is
    /// refused on the other, both ways.
    function testFuzz_checkout_rejectsASignatureFromAnotherChain(uint64 otherChain, uint64 secondsUsed) public {
        uint256 home = block.chainid;
        vm.assume(otherChain != home && otherChain != 0);
        ILatchkey.Receipt memory receipt = _receipt(r, secondsUsed, 0);
        bytes memory signedHere = _sign(SIGNER_KEY, receipt);
        vm.chainId(otherChain);
        bytes memory signedThere = _sign(SIGNER_KEY, receipt);
        vm.expectRevert(ILatchkey.InvalidReceiptSignature.selector);
        latchkey.checkout(r, receipt, signedHere);

        vm.chainId(home);
        vm.expectRevert(ILatchkey.InvalidReceiptSignature.selector);
        latchkey.checkout(r, receipt, signedThere);
        latchkey.checkout(r, receipt, signedHere);
    }

    function testFuzz_checkout_rejectsASignatureForAnotherDeployment(uint64 secondsUsed) public {
        Latchkey other = new Latchkey(GRACE);
        ILatchkey.Receipt memory receipt = _receipt(r, secondsUsed, 0);
        bytes32 foreign = other.receiptDigest(receipt);
        vm.assertTrue(foreign != latchkey.receiptDigest(receipt));
        (uint8 v, bytes32 rr, bytes32 s) = vm.sign(SIGNER_KEY, foreign);
        vm.expectRevert(ILatchkey.InvalidReceiptSignature.selector);
        latchkey.checkout(r, receipt, abi.encodePacked(rr, s, v));
    }

    function _settled() private returns (uint128 charge, uint128 refund, bool byReceipt) {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] == ILatchkey.Settled.selector) {
                return abi.decode(logs[i].data, (uint128, uint128, bool));
            }
        }
        revert("no Settled event");
    }

    function _slice(bytes memory data, uint256 length) private pure returns (bytes memory out) {
        out = new bytes(length);
        for (uint256 i; i < length; ++i) {
            out[i] = data[i];
        }
    }
}
