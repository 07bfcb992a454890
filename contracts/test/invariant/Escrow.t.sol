// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Latchkey} from "../../src/Latchkey.sol";
import {InvariantTest} from "../lib/Test.sol";
import {LatchkeyHandler} from "./LatchkeyHandler.sol";

/// @notice The escrow and the bookings hold under any sequence of rentals, settlements,
/// withdrawals, host changes, time warps and force-sent ether.
contract EscrowInvariantTest is InvariantTest {
    uint64 internal constant GRACE = 3600;

    Latchkey internal latchkey;
    LatchkeyHandler internal handler;

    function setUp() public {
        vm.warp(1_750_000_000);
        latchkey = new Latchkey(GRACE);
        handler = new LatchkeyHandler(latchkey, GRACE);
        targetContract(address(handler));
        bytes4[] memory selectors = new bytes4[](16);
        selectors[0] = LatchkeyHandler.registerDevice.selector;
        selectors[1] = LatchkeyHandler.rent.selector;
        selectors[2] = LatchkeyHandler.extend.selector;
        selectors[3] = LatchkeyHandler.cancel.selector;
        selectors[4] = LatchkeyHandler.checkout.selector;
        selectors[5] = LatchkeyHandler.checkoutByTime.selector;
        selectors[6] = LatchkeyHandler.withdraw.selector;
        selectors[7] = LatchkeyHandler.settleAgain.selector;
        selectors[8] = LatchkeyHandler.warp.selector;
        selectors[9] = LatchkeyHandler.setPrice.selector;
        selectors[10] = LatchkeyHandler.setSigner.selector;
        selectors[11] = LatchkeyHandler.setActive.selector;
        selectors[12] = LatchkeyHandler.forceSend.selector;
        selectors[13] = LatchkeyHandler.rentTooFarAhead.selector;
        selectors[14] = LatchkeyHandler.revokeSigner.selector;
        selectors[15] = LatchkeyHandler.setCalendar.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    /// @dev Ether held == Σ open deposits (ghost) + Σ credits (as the contract reports them) +
    /// force-sent ether; also Σ credits + open deposits <= balance.
    function invariant_etherHeldIsOpenDepositsPlusCreditsPlusForcedEther() public view {
        uint256 credits = _sumOfCredits();
        uint256 balance = address(latchkey).balance;
        vm.assertEq(balance, handler.openDeposits() + credits + handler.forced(), "ledger != balance");
        vm.assertLe(handler.openDeposits() + credits, balance, "owed more than held");
    }

    /// @dev Each rental is settled (or cancelled) at most once, for exactly its deposit, at the
    /// charge the rules give; and the contract's open commitments are exactly the ghost's.
    function invariant_eachRentalIsSettledOnceForExactlyItsDeposit() public view {
        vm.assertEq(handler.doubleSettlements(), 0, "settled twice");
        vm.assertEq(handler.badSettlements(), 0, "charge + refund != deposit");
        vm.assertEq(handler.wrongAmounts(), 0, "wrong charge, deposit or payout");
        vm.assertEq(handler.commitmentMismatches(), 0, "open commitments differ from the ghost ledger");
    }

    /// @dev The rentals of a device never overlap: no two open ones share a second, every open
    /// one ends by its device's `bookedUntil` (the latest end booked), every window the ghost
    /// calendar has free was booked and every taken one refused (in random order, near and far),
    /// and `bookedUntil` moved exactly as the rules say.
    function invariant_openRentalsOfADeviceNeverOverlap() public view {
        vm.assertEq(handler.overlaps(), 0, "open rentals of a device overlap");
        vm.assertEq(handler.bookingViolations(), 0, "bookedUntil before an open rental's end, or past the horizon");
        vm.assertEq(handler.wrongBookings(), 0, "a free window refused, a taken one booked, or bookedUntil wrong");
    }

    /// @dev Every cancel charged exactly the rule's fee (0 outside the rental's cancel window, then
    /// linear up to the booked rent at the start), credited to the host, and `cancelFee` said so.
    function invariant_cancellationFeesFollowTheRule() public view {
        vm.assertEq(handler.wrongCancelFees(), 0, "a cancellation fee differs from the rule");
    }

    /// @dev Rotating a key strands no open rental (the handler settles every one by the receipt of
    /// the key it was made under, so a refusal would fail the campaign), and a revoked key settles
    /// nothing, takes no rental and cannot be set again.
    function invariant_aRevokedKeyMovesNoMoney() public view {
        vm.assertEq(handler.revokedKeyUses(), 0, "a revoked key settled, rented or was set again");
    }

    /// @dev No rental starts more than `MAX_ADVANCE` ahead.
    function invariant_noRentalStartsBeyondTheHorizon() public view {
        vm.assertEq(handler.horizonBreaches(), 0, "a start beyond the horizon was accepted");
    }

    function _sumOfCredits() private view returns (uint256 sum) {
        address[] memory accounts = handler.accounts();
        for (uint256 i; i < accounts.length; ++i) {
            sum += latchkey.credit(accounts[i]);
        }
    }
}
