// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ILatchkey} from "../src/ILatchkey.sol";
import {LatchkeyFixture} from "./LatchkeyFixture.sol";
import {ForceSend, HostileWallet} from "./lib/Wallets.sol";
import {Vm} from "./lib/Vm.sol";

/// @notice Host credit and withdrawals, per-rental escrow, and refunds to recipients that revert,
/// burn gas or re-enter.
contract CreditTest is LatchkeyFixture {
    // ---------------------------------------------------------------- withdraw

    function test_withdraw_paysTheHostItsCreditAndEmits() public {
        ILatchkey.Rental memory r = _rent(guest, 0, 1 hours);
        _checkout(r, 1000, 0);
        uint256 charge = PRICE * 1000;
        vm.expectEmit(address(latchkey));
        emit ILatchkey.Withdrawn(host, charge);
        vm.prank(host);
        latchkey.withdraw();
        vm.assertEq(host.balance, charge);
        vm.assertEq(latchkey.credit(host), 0);
        vm.assertEq(address(latchkey).balance, 0);
    }

    function test_withdraw_failsWithNothingToWithdraw() public {
        vm.prank(stranger);
        vm.expectRevert(ILatchkey.NothingToWithdraw.selector);
        latchkey.withdraw();
    }

    function test_withdraw_failsTheSecondTime() public {
        _checkout(_rent(guest, 0, 1 hours), 1000, 0);
        vm.startPrank(host);
        latchkey.withdraw();
        vm.expectRevert(ILatchkey.NothingToWithdraw.selector);
        latchkey.withdraw();
        vm.stopPrank();
    }

    function test_withdraw_failsWhenTheAccountCannotReceive() public {
        HostileWallet wallet = _registerWalletDevice();
        ILatchkey.Rental memory r = _rent(guest, 0, 1 hours);
        _checkout(r, 1000, 0);
        wallet.setMode(HostileWallet.Mode.Revert);
        vm.expectRevert(ILatchkey.TransferFailed.selector);
        wallet.exec(abi.encodeCall(ILatchkey.withdraw, ()), 0);
        vm.assertEq(latchkey.credit(address(wallet)), PRICE * 1000, "the credit stays");
    }

    function test_credit_reportsOnlyTheWithdrawableAmountAfterAWithdrawal() public {
        _checkout(_rent(guest, 0, 1 hours), 1000, 0);
        vm.prank(host);
        latchkey.withdraw();
        vm.assertEq(latchkey.credit(host), 0);
        vm.warp(T0 + 1 hours);
        _checkout(_rent(guest, 0, 1 hours), 7, 0);
        vm.assertEq(latchkey.credit(host), PRICE * 7);
        vm.prank(host);
        latchkey.withdraw();
        vm.assertEq(host.balance, PRICE * 1007);
        vm.assertEq(address(latchkey).balance, 0, "nothing but credit was ever held");
    }

    /// @dev Unlock's M-04: a host must never withdraw money that is owed back as a refund.
    function test_withdraw_leavesOpenDepositsInEscrow() public {
        ILatchkey.Rental memory settled = _rent(guest, 0, 1 hours);
        ILatchkey.Rental memory open = _rent(stranger, settled.end, 5 hours);
        _checkout(settled, 3600, 0);
        vm.prank(host);
        latchkey.withdraw();
        vm.assertEq(address(latchkey).balance, open.deposit);
        vm.prank(host);
        vm.expectRevert(ILatchkey.NothingToWithdraw.selector);
        latchkey.withdraw();

        uint256 strangerBefore = stranger.balance;
        _checkout(open, 0, 0);
        vm.assertEq(stranger.balance, strangerBefore + open.deposit, "the whole deposit comes back");
        vm.assertEq(address(latchkey).balance, 0);
    }

    // ---------------------------------------------------------------- hostile refund recipients

    function test_refund_isCreditedWhenTheGuestReverts() public {
        HostileWallet wallet = _walletGuest();
        ILatchkey.Rental memory r = _rentAs(wallet, 1 hours);
        wallet.setMode(HostileWallet.Mode.Revert);
        uint128 charge = PRICE * 600;
        vm.expectEmit(address(latchkey));
        emit ILatchkey.RefundCredited(address(wallet), r.deposit - charge);
        _checkout(r, 600, 0);

        vm.assertEq(latchkey.credit(address(wallet)), r.deposit - charge);
        vm.assertEq(latchkey.credit(host), charge);
        vm.assertEq(address(latchkey).balance, r.deposit);

        vm.expectRevert(ILatchkey.TransferFailed.selector);
        wallet.exec(abi.encodeCall(ILatchkey.withdraw, ()), 0);
        wallet.setMode(HostileWallet.Mode.Accept);
        uint256 walletBefore = address(wallet).balance;
        wallet.exec(abi.encodeCall(ILatchkey.withdraw, ()), 0);
        vm.assertEq(address(wallet).balance - walletBefore, r.deposit - charge);
        vm.assertEq(address(latchkey).balance, charge);
    }

    function test_refund_isCreditedOnCancelWhenTheGuestReverts() public {
        HostileWallet wallet = _walletGuest();
        ILatchkey.Rental memory r = _rentAs(wallet, 1 hours);
        // Rented from now: cancel needs a future start, so book the next slot instead.
        ILatchkey.Rental memory later = _rentAsAt(wallet, r.end, 1 hours);
        wallet.setMode(HostileWallet.Mode.Revert);
        vm.expectEmit(address(latchkey));
        emit ILatchkey.RefundCredited(address(wallet), later.deposit);
        wallet.exec(abi.encodeCall(ILatchkey.cancel, (later)), 0);
        vm.assertEq(latchkey.credit(address(wallet)), later.deposit);
        vm.assertEq(address(latchkey).balance, r.deposit + later.deposit);
    }

    function test_refund_isCreditedWhenTheGuestBurnsAllGas() public {
        HostileWallet wallet = _walletGuest();
        ILatchkey.Rental memory r = _rentAs(wallet, 1 hours);
        wallet.setMode(HostileWallet.Mode.BurnGas);
        ILatchkey.Receipt memory receipt = _receipt(r, 600, 0);
        bytes memory signature = _sign(SIGNER_KEY, receipt);
        uint256 before = gasleft();
        latchkey.checkout(r, receipt, signature);
        uint256 spent = before - gasleft();
        vm.assertLe(spent, 100_000, "a gas-burning guest costs the caller a bounded amount");
        vm.assertEq(latchkey.credit(address(wallet)), r.deposit - PRICE * 600);
    }

    function test_refund_costsBoundedGasWhenTheGuestRevertsWithHugeData() public {
        HostileWallet wallet = _walletGuest();
        ILatchkey.Rental memory r = _rentAs(wallet, 1 hours);
        wallet.setMode(HostileWallet.Mode.ReturnBomb);
        ILatchkey.Receipt memory receipt = _receipt(r, 600, 0);
        bytes memory signature = _sign(SIGNER_KEY, receipt);
        uint256 before = gasleft();
        latchkey.checkout(r, receipt, signature);
        uint256 spent = before - gasleft();
        vm.assertLe(spent, 100_000, "copying the revert data is bounded by the forwarded gas");
        vm.assertEq(latchkey.credit(address(wallet)), r.deposit - PRICE * 600);
    }

    /// @dev The guest re-enters from its refund (the call is cheap enough to run within the
    /// forwarded gas): the commitment is already gone, so the rental is settled once.
    function test_refund_cannotBeUsedToSettleTheRentalAgain() public {
        HostileWallet wallet = _walletGuest();
        ILatchkey.Rental memory r = _rentAs(wallet, 1 hours);
        vm.warp(r.end);
        uint256 walletBefore = address(wallet).balance;
        wallet.setReentryTarget(r);
        wallet.setMode(HostileWallet.Mode.ReenterCheckoutByTime);
        vm.recordLogs();
        wallet.exec(abi.encodeCall(ILatchkey.checkoutByTime, (r)), 0);

        uint256 settledEvents;
        uint256 reentries;
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] == ILatchkey.Settled.selector) ++settledEvents;
            if (logs[i].topics[0] == HostileWallet.Reentered.selector) {
                ++reentries;
                (bool ok, bytes memory reason) = abi.decode(logs[i].data, (bool, bytes));
                vm.assertFalse(ok, "the reentrant settlement failed");
                vm.assertEq(
                    keccak256(reason), keccak256(abi.encodeWithSelector(ILatchkey.RentalNotOpen.selector, r.id))
                );
            }
        }
        vm.assertEq(reentries, 1, "the guest did re-enter");
        vm.assertEq(settledEvents, 1);
        uint256 charge = uint256(PRICE) * 1 hours + uint256(PRICE_WH) * 1 hours; // time + whole allowance
        uint256 refund = r.deposit - charge;
        vm.assertEq(address(wallet).balance - walletBefore + latchkey.credit(address(wallet)), refund);
        vm.assertEq(latchkey.credit(host), charge);
        vm.assertEq(address(latchkey).balance, latchkey.credit(host) + latchkey.credit(address(wallet)));
    }

    function test_withdraw_cannotBeReentered() public {
        HostileWallet wallet = _registerWalletDevice();
        _checkout(_rent(guest, 0, 1 hours), 1000, 0);
        ILatchkey.Rental memory open = _rent(guest, uint64(T0 + 1 hours), 1 hours);
        wallet.setMode(HostileWallet.Mode.ReenterWithdraw);
        vm.expectEmit(address(wallet));
        emit HostileWallet.Reentered(false, abi.encodeWithSelector(ILatchkey.NothingToWithdraw.selector));
        wallet.exec(abi.encodeCall(ILatchkey.withdraw, ()), 0);
        vm.assertEq(address(wallet).balance, PRICE * 1000, "paid once");
        vm.assertEq(address(latchkey).balance, open.deposit);
    }

    // ---------------------------------------------------------------- force-sent ether

    function test_forceSentEther_doesNotBreakTheAccounting() public {
        ILatchkey.Rental memory r = _rent(guest, 0, 1 hours);
        new ForceSend{value: 3 ether}(payable(address(latchkey)));
        vm.assertEq(address(latchkey).balance, r.deposit + 3 ether);
        vm.assertTrue(latchkey.isOpen(r));
        vm.assertEq(latchkey.credit(host), 0, "forced ether is nobody's credit");

        uint256 guestBefore = guest.balance;
        _checkout(r, 600, 0);
        vm.assertEq(guest.balance, guestBefore + r.deposit - PRICE * 600);
        vm.prank(host);
        latchkey.withdraw();
        vm.assertEq(host.balance, PRICE * 600);
        vm.assertEq(address(latchkey).balance, 3 ether, "only the forced ether is left");
        _rent(guest, r.end, MIN); // and the contract still takes exact deposits
        vm.assertEq(address(latchkey).balance, 3 ether + latchkey.quote(deviceId, MIN).deposit);
    }

    function test_plainEtherTransfers_areRefused() public {
        vm.prank(guest);
        (bool ok,) = address(latchkey).call{value: 1 ether}("");
        vm.assertFalse(ok);
    }

    // ---------------------------------------------------------------- helpers

    function _walletGuest() private returns (HostileWallet wallet) {
        wallet = new HostileWallet(latchkey);
        vm.deal(address(wallet), 100 ether);
    }

    function _registerWalletDevice() private returns (HostileWallet wallet) {
        wallet = new HostileWallet(latchkey);
        bytes memory result = wallet.exec(
            abi.encodeCall(
                ILatchkey.registerDevice,
                (signer, ILatchkey.Kind.Lock, PRICE, 0, FACTOR, MIN, MAX, MAX_WATTS, SLOT, CANCEL_WINDOW)
            ),
            0
        );
        deviceId = abi.decode(result, (uint256));
    }

    function _rentAs(HostileWallet wallet, uint32 duration) private returns (ILatchkey.Rental memory) {
        return _rentAsAt(wallet, 0, duration);
    }

    function _rentAsAt(HostileWallet wallet, uint64 start, uint32 duration)
        private
        returns (ILatchkey.Rental memory r)
    {
        uint256 deposit = latchkey.quote(deviceId, duration).deposit;
        bytes memory result = wallet.exec(abi.encodeCall(ILatchkey.rent, (deviceId, start, duration)), deposit);
        r = ILatchkey.Rental({
            id: abi.decode(result, (uint256)),
            guest: address(wallet),
            start: start == 0 ? uint64(block.timestamp) : start,
            end: (start == 0 ? uint64(block.timestamp) : start) + duration,
            deposit: uint128(deposit),
            pricePerSecond: PRICE,
            pricePerWh: PRICE_WH,
            signer: signer,
            maxWatts: MAX_WATTS,
            cancelWindow: CANCEL_WINDOW
        });
    }
}
