// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ILatchkey} from "../../src/ILatchkey.sol";
import {Latchkey} from "../../src/Latchkey.sol";
import {Test} from "../lib/Test.sol";
import {ForceSend, HostileWallet} from "../lib/Wallets.sol";

/// @notice Drives Latchkey through valid sequences of register / rent / extend / cancel /
/// checkout / checkoutByTime / withdraw / host settings / time warps / force-sent ether, keeping
/// a ghost ledger of open deposits, checking every move of a device's `bookedUntil` against the
/// booking rules, and counting every settlement that breaks the rules.
/// @dev Each action picks valid parameters from its fuzzed seeds or returns early, so any revert
/// from the contract is a bug (the invariant config sets `fail_on_revert`).
contract LatchkeyHandler is Test {
    uint256 private constant HOSTS = 3;
    uint256 private constant GUESTS = 4; // three EOAs and a contract wallet
    uint256 private constant MAX_DEVICES = 5;
    uint256 private constant KEYS = 4;

    enum Want {
        Open,
        Closed,
        Cancellable,
        Extendable,
        SettleableByGuest,
        SettleableByAnyone
    }

    Latchkey public immutable latchkey;
    uint64 public immutable grace;
    HostileWallet public immutable wallet;

    address[HOSTS] private _hosts;
    address[GUESTS] private _guests;
    uint256[KEYS] private _keys;
    mapping(address signer => uint256 key) private _keyOf;

    uint256[] private _deviceIds;

    ILatchkey.Rental[] private _rentals; // latest committed struct of every rental ever made
    bool[] private _open;
    /// @dev The ghost calendar: each rental holds the slots [start / slot, _heldEnd) of the slot
    /// length it was booked under (`_slotOf`): up to ceil(end / slot) while open, nothing once
    /// cancelled, up to the slot holding the settlement time (excluded; at most its end) once settled.
    uint256[] private _slotOf;
    uint256[] private _heldEnd;

    /// @notice The clock of the campaign: every action runs at this time.
    uint256 public time;
    /// @notice Σ deposits of the rentals the ghost ledger believes open.
    uint256 public openDeposits;
    /// @notice Ether sent to the contract without calling it.
    uint256 public forced;
    /// @notice Settlements, cancellations and refunds that succeeded more than once.
    uint256 public doubleSettlements;
    /// @notice Settlements where charge + refund != deposit, or the money went elsewhere.
    uint256 public badSettlements;
    /// @notice Charges, deposits or payouts different from what the rules say.
    uint256 public wrongAmounts;
    /// @notice Actions after which a device's `bookedUntil` is not what the booking rules say, or
    /// a booking the ghost calendar says is free was refused, or one it says is taken accepted.
    uint256 public wrongBookings;
    /// @notice Cancellations whose fee is not the rule's (0 outside the window, then linear to the rent).
    uint256 public wrongCancelFees;
    /// @notice Rentals accepted with a start beyond the booking horizon.
    uint256 public horizonBreaches;
    /// @notice Receipts of a revoked key that settled something, and rentals or extensions a
    /// revoked key was allowed to take.
    uint256 public revokedKeyUses;
    /// @notice Actions that did something (the rest found nothing valid to do), for tuning.
    mapping(bytes4 selector => uint256 count) public done;

    constructor(Latchkey latchkey_, uint64 grace_) {
        latchkey = latchkey_;
        grace = grace_;
        wallet = new HostileWallet(latchkey_);
        for (uint256 i; i < HOSTS; ++i) {
            _hosts[i] = address(uint160(0x4057_0000 + i));
        }
        for (uint256 i; i < GUESTS - 1; ++i) {
            _guests[i] = address(uint160(0x6E57_0000 + i));
        }
        _guests[GUESTS - 1] = address(wallet);
        _keys = [uint256(0xA11CE), 0xB0B, 0xCA401, 0xD0D0];
        for (uint256 i; i < KEYS; ++i) {
            _keyOf[vm.addr(_keys[i])] = _keys[i];
        }
        time = block.timestamp;
        registerDevice(0, 0, 1e12, 1e13, 200, 60, 1 days, 0, 0);
        registerDevice(1, 1, 3e11, 0, 100, 1, 3 days, 1, 1 days);
    }

    modifier atTime() {
        vm.warp(time);
        _;
    }

    /// @dev Counts the action as done; placed after its early returns.
    function _did() private {
        ++done[msg.sig];
    }

    /// @notice Every account that can ever hold credit: hosts and guests.
    function accounts() external view returns (address[] memory all) {
        all = new address[](HOSTS + GUESTS);
        for (uint256 i; i < HOSTS; ++i) {
            all[i] = _hosts[i];
        }
        for (uint256 i; i < GUESTS; ++i) {
            all[HOSTS + i] = _guests[i];
        }
    }

    /// @notice Open rentals whose commitment the contract does not recognise, plus settled ones
    /// it still does.
    function commitmentMismatches() external view returns (uint256 mismatches) {
        for (uint256 i; i < _rentals.length; ++i) {
            if (latchkey.isOpen(_rentals[i]) != _open[i]) ++mismatches;
        }
    }

    function rentalCount() external view returns (uint256) {
        return _rentals.length;
    }

    /// @notice Pairs of open rentals of the same device whose [start, end) windows intersect.
    function overlaps() external view returns (uint256 count) {
        for (uint256 i; i < _rentals.length; ++i) {
            if (!_open[i]) continue;
            ILatchkey.Rental storage a = _rentals[i];
            for (uint256 j = i + 1; j < _rentals.length; ++j) {
                ILatchkey.Rental storage b = _rentals[j];
                if (_open[j] && a.id >> 64 == b.id >> 64 && a.start < b.end && b.start < a.end) ++count;
            }
        }
    }

    /// @notice Open rentals ending after their device's `bookedUntil` (a new rental could then
    /// overlap them), plus devices booked further ahead than the horizon allows.
    function bookingViolations() external view returns (uint256 count) {
        for (uint256 i; i < _rentals.length; ++i) {
            if (_open[i] && _rentals[i].end > latchkey.device(_rentals[i].id >> 64).bookedUntil) ++count;
        }
        for (uint256 k; k < _deviceIds.length; ++k) {
            ILatchkey.Device memory d = latchkey.device(_deviceIds[k]);
            if (d.bookedUntil > time + latchkey.MAX_ADVANCE() + d.maxDuration) ++count;
        }
    }

    // ---------------------------------------------------------------- actions

    function registerDevice(
        uint256 hostSeed,
        uint256 keySeed,
        uint128 price,
        uint128 priceWh,
        uint16 factor,
        uint32 minDuration,
        uint32 maxDuration,
        uint256 slotSeed,
        uint32 cancelWindow
    ) public atTime {
        if (_deviceIds.length >= MAX_DEVICES) return;
        price = uint128(bound(price, 1, 1e15));
        priceWh = uint128(bound(priceWh, 0, 1e16));
        factor = uint16(bound(factor, 100, 400));
        minDuration = uint32(bound(minDuration, 1, 1 hours));
        maxDuration = uint32(bound(maxDuration, minDuration, 3 days));
        (bool found, address key) = _usableKey(_hosts[hostSeed % HOSTS], keySeed);
        if (!found) return;
        _register(_hosts[hostSeed % HOSTS], key, price, priceWh, factor, minDuration, maxDuration);
        uint256 id = _deviceIds[_deviceIds.length - 1];
        vm.prank(_hosts[hostSeed % HOSTS]);
        latchkey.setCalendar(id, _slotSeconds(slotSeed), uint32(bound(cancelWindow, 0, 2 days)));
        _did();
    }

    /// @dev A slot length of 1, 5 or 15 minutes, from a fuzzed seed.
    function _slotSeconds(uint256 seed) private pure returns (uint32) {
        return [uint32(60), 300, 900][seed % 3];
    }

    function _register(
        address host,
        address key,
        uint128 price,
        uint128 priceWh,
        uint16 factor,
        uint32 minDuration,
        uint32 maxDuration
    ) private {
        vm.prank(host);
        _deviceIds.push(
            latchkey.registerDevice(
                key, ILatchkey.Kind(factor % 2), price, priceWh, factor, minDuration, maxDuration, _watts(price), 60, 0
            )
        );
    }

    function rent(uint256 deviceSeed, uint256 guestSeed, uint256 delay, uint256 duration) external atTime {
        _rent(deviceSeed, guestSeed, delay, duration);
    }

    /// @dev Books a random window, near now or anywhere up to the horizon, in no particular order:
    /// it must be accepted exactly when the ghost calendar has all its slots free.
    function _rent(uint256 deviceSeed, uint256 guestSeed, uint256 delay, uint256 duration) private {
        (bool found, uint256 id) = _activeDevice(deviceSeed);
        if (!found) return;
        ILatchkey.Device memory d = latchkey.device(id);
        uint256 reach = delay % 2 == 0 ? 6 hours : latchkey.MAX_ADVANCE();
        uint64 start = uint64(time + bound(delay >> 1, 0, reach));
        if (delay % 5 == 0) start = uint64(_ceilDiv(start, d.slotSeconds) * d.slotSeconds); // on a boundary
        if (start > time + latchkey.MAX_ADVANCE()) start = uint64(time);
        uint32 span = uint32(bound(duration, d.minDuration, d.maxDuration));
        uint256 deposit = latchkey.quote(id, span).deposit;
        if (deposit != uint256(d.pricePerSecond) * span * d.depositFactor / 100 + d.pricePerWh * _wh(d.maxWatts, span))
        {
            ++wrongAmounts;
        }
        address guest = _guests[guestSeed % GUESTS];
        vm.deal(guest, guest.balance + deposit);
        uint256 from = start / d.slotSeconds;
        uint256 to = _ceilDiv(uint256(start) + span, d.slotSeconds);
        if (!_free(id, d.slotSeconds, from, to, type(uint256).max)) {
            // Taken: refused with `WindowTaken`, nothing booked.
            vm.prank(guest);
            try latchkey.rent{value: deposit}(id, start, span) {
                ++wrongBookings;
            } catch (bytes memory reason) {
                if (bytes4(reason) != ILatchkey.WindowTaken.selector) ++wrongBookings;
            }
            if (latchkey.device(id).rentalCount != d.rentalCount) ++wrongBookings;
            ++done[this.rentTaken.selector];
            return;
        }
        uint256 rentalId;
        if (guest == address(wallet)) {
            bytes memory result = wallet.exec(abi.encodeCall(ILatchkey.rent, (id, start, span)), deposit);
            rentalId = abi.decode(result, (uint256));
        } else {
            vm.prank(guest);
            rentalId = latchkey.rent{value: deposit}(id, start, span);
        }
        _rentals.push(
            ILatchkey.Rental(
                rentalId,
                guest,
                start,
                start + span,
                uint128(deposit),
                d.pricePerSecond,
                d.pricePerWh,
                d.signer,
                d.maxWatts,
                d.cancelWindow
            )
        );
        _open.push(true);
        _slotOf.push(d.slotSeconds);
        _heldEnd.push(to);
        openDeposits += deposit;
        _expectBookedUntil(id, start + span > d.bookedUntil ? start + span : d.bookedUntil);
        ++done[this.rent.selector];
    }

    /// @notice Only a counter key for `done`: rentals the ghost calendar expected to be refused.
    function rentTaken() external pure {}

    /// @notice The host changes the calendar: a new slot length only once `bookedUntil` has
    /// passed (`DeviceBusy` before), a new cancel window any time.
    function setCalendar(uint256 deviceSeed, uint256 slotSeed, uint32 cancelWindow) external atTime {
        uint256 id = _deviceIds[deviceSeed % _deviceIds.length];
        ILatchkey.Device memory d = latchkey.device(id);
        uint32 slot = _slotSeconds(slotSeed);
        cancelWindow = uint32(bound(cancelWindow, 0, 2 days));
        vm.prank(d.host);
        if (slot != d.slotSeconds && d.bookedUntil > time) {
            try latchkey.setCalendar(id, slot, cancelWindow) {
                ++wrongBookings;
            } catch (bytes memory reason) {
                if (bytes4(reason) != ILatchkey.DeviceBusy.selector) ++wrongBookings;
            }
            return;
        }
        latchkey.setCalendar(id, slot, cancelWindow);
        _did();
    }

    /// @notice Asks for a start past the horizon, which must be refused with nothing booked.
    function rentTooFarAhead(uint256 deviceSeed, uint256 beyond, uint256 duration) external atTime {
        (bool found, uint256 id) = _activeDevice(deviceSeed);
        if (!found) return;
        ILatchkey.Device memory d = latchkey.device(id);
        uint64 start = uint64(time + latchkey.MAX_ADVANCE() + bound(beyond, 1, 365 days));
        uint32 span = uint32(bound(duration, d.minDuration, d.maxDuration));
        uint256 deposit = latchkey.quote(id, span).deposit;
        address guest = _guests[0];
        vm.deal(guest, guest.balance + deposit);
        vm.prank(guest);
        try latchkey.rent{value: deposit}(id, start, span) {
            ++horizonBreaches;
        } catch (bytes memory reason) {
            if (bytes4(reason) != ILatchkey.InvalidStart.selector) ++horizonBreaches;
        }
        if (latchkey.device(id).bookedUntil != d.bookedUntil) ++wrongBookings;
        _did();
    }

    /// @dev Extends any open rental, the device's last booking or not: accepted exactly when the
    /// slots after its end are free in the ghost calendar.
    function extend(uint256 rentalSeed, uint256 extra) external atTime {
        (bool found, uint256 i) = _find(rentalSeed, Want.Extendable);
        if (!found) return _rentInstead(rentalSeed);
        ILatchkey.Rental memory r = _rentals[i];
        uint256 id = r.id >> 64;
        ILatchkey.Device memory d = latchkey.device(id);
        uint256 room = d.maxDuration - (r.end - r.start);
        uint32 more = uint32(bound(extra, 1, room));
        uint256 value = uint256(r.pricePerSecond) * more * d.depositFactor / 100 + r.pricePerWh
            * (_wh(r.maxWatts, r.end + more - r.start) - _wh(r.maxWatts, r.end - r.start));
        vm.deal(r.guest, r.guest.balance + value);
        uint256 to = _ceilDiv(uint256(r.end) + more, d.slotSeconds);
        if (!_free(id, d.slotSeconds, _heldEnd[i], to, i)) {
            vm.prank(r.guest);
            try latchkey.extend{value: value}(r, more) {
                ++wrongBookings;
            } catch (bytes memory reason) {
                if (bytes4(reason) != ILatchkey.WindowTaken.selector) ++wrongBookings;
            }
            return;
        }
        if (r.guest == address(wallet)) {
            wallet.exec(abi.encodeCall(ILatchkey.extend, (r, more)), value);
        } else {
            vm.prank(r.guest);
            latchkey.extend{value: value}(r, more);
        }
        _rentals[i].end = r.end + more;
        _rentals[i].deposit = r.deposit + uint128(value);
        if (to > _heldEnd[i]) _heldEnd[i] = to;
        openDeposits += value;
        _expectBookedUntil(id, r.end + more > d.bookedUntil ? r.end + more : d.bookedUntil);
        _did();
    }

    /// @dev Cancels a future booking: the guest gets the deposit less the fee, the host the fee, the
    /// slots are free again and `bookedUntil` does not move.
    function cancel(uint256 rentalSeed, uint256 walletMode) external atTime {
        (bool found, uint256 i) = _find(rentalSeed, Want.Cancellable);
        if (!found) return _rentInstead(rentalSeed);
        ILatchkey.Rental memory r = _rentals[i];
        ILatchkey.Device memory d = latchkey.device(r.id >> 64);
        uint256 lead = r.start - time;
        uint256 fee = lead >= r.cancelWindow
            ? 0
            : uint256(r.pricePerSecond) * (r.end - r.start) * (r.cancelWindow - lead) / r.cancelWindow;
        if (latchkey.cancelFee(r) != fee) ++wrongCancelFees;
        (uint256 hostBefore, uint256 before) = (latchkey.credit(d.host), _guestFunds(r.guest));
        if (r.guest == address(wallet)) {
            wallet.setMode(_walletMode(walletMode));
            wallet.exec(abi.encodeCall(ILatchkey.cancel, (r)), 0);
        } else {
            vm.prank(r.guest);
            latchkey.cancel(r);
        }
        if (_guestFunds(r.guest) - before + (latchkey.credit(d.host) - hostBefore) != r.deposit) ++badSettlements;
        if (latchkey.credit(d.host) - hostBefore != fee) ++wrongCancelFees;
        _expectBookedUntil(r.id >> 64, d.bookedUntil);
        _heldEnd[i] = r.start / _slotOf[i];
        _close(i);
        _did();
    }

    function checkout(uint256 rentalSeed, uint64 secondsUsed, uint64 energyWh, uint256 callerSeed, uint256 walletMode)
        external
        atTime
    {
        (bool found, uint256 i) = _find(rentalSeed, Want.Open);
        if (!found) return _rentInstead(rentalSeed);
        ILatchkey.Rental memory r = _rentals[i];
        secondsUsed = uint64(bound(secondsUsed, 0, uint256(r.end - r.start) * 2));
        ILatchkey.Receipt memory receipt = ILatchkey.Receipt(r.id, secondsUsed, energyWh % 10_000);
        bytes memory signature = _sign(r, receipt);
        ILatchkey.Device memory d = latchkey.device(r.id >> 64);
        if (latchkey.isRevoked(d.host, r.signer)) {
            // Its receipt settles nothing; the rental settles by time instead.
            try latchkey.checkout(r, receipt, signature) {
                ++revokedKeyUses;
                _close(i);
            } catch (bytes memory reason) {
                if (bytes4(reason) != ILatchkey.RevokedSigner.selector) ++revokedKeyUses;
            }
            return _did();
        }
        uint256 allowance = _wh(r.maxWatts, r.end - r.start);
        uint256 metered = uint256(r.pricePerSecond) * receipt.secondsUsed + uint256(r.pricePerWh)
            * (receipt.energyWh < allowance ? receipt.energyWh : allowance);
        if (block.timestamp < r.start) metered = 0; // nothing is charged before the start
        uint256 expected = metered < r.deposit ? metered : r.deposit;

        if (r.guest == address(wallet)) wallet.setMode(_walletMode(walletMode));
        (uint256 hostBefore, uint256 guestBefore) = (latchkey.credit(d.host), _guestFunds(r.guest));
        vm.prank(_caller(callerSeed, r));
        latchkey.checkout(r, receipt, signature);
        _checkSettlement(i, d.host, hostBefore, guestBefore, expected);
        _checkReleased(i, d.bookedUntil);
        _did();
    }

    function checkoutByTime(uint256 rentalSeed, bool byGuest, uint256 callerSeed, uint256 walletMode) external atTime {
        (bool found, uint256 i) = _find(rentalSeed, byGuest ? Want.SettleableByGuest : Want.SettleableByAnyone);
        if (!found) return _rentInstead(rentalSeed);
        ILatchkey.Rental memory r = _rentals[i];
        ILatchkey.Device memory d = latchkey.device(r.id >> 64);
        uint256 booked = uint256(r.pricePerSecond) * (r.end - r.start);
        uint256 expected = booked;
        if (byGuest) {
            uint256 elapsed = time - r.start;
            uint256 used = uint256(r.pricePerSecond) * (elapsed > d.minDuration ? elapsed : d.minDuration);
            if (used < booked) expected = used;
        }
        expected += uint256(r.pricePerWh) * _wh(r.maxWatts, r.end - r.start); // the whole allowance
        if (expected > r.deposit) expected = r.deposit;

        if (r.guest == address(wallet)) wallet.setMode(_walletMode(walletMode));
        (uint256 hostBefore, uint256 guestBefore) = (latchkey.credit(d.host), _guestFunds(r.guest));
        if (byGuest && r.guest == address(wallet)) {
            wallet.exec(abi.encodeCall(ILatchkey.checkoutByTime, (r)), 0);
        } else {
            address caller = r.guest;
            if (!byGuest) {
                caller = _caller(callerSeed, r);
                if (caller == r.guest) caller = d.host; // after the grace period, as someone else
            }
            vm.prank(caller);
            latchkey.checkoutByTime(r);
        }
        _checkSettlement(i, d.host, hostBefore, guestBefore, expected);
        _checkReleased(i, d.bookedUntil);
        _did();
    }

    function withdraw(uint256 accountSeed) external atTime {
        address[] memory all = this.accounts();
        address account;
        uint256 amount;
        for (uint256 k; k < all.length && amount == 0; ++k) {
            account = all[(accountSeed % all.length + k) % all.length];
            amount = latchkey.credit(account);
        }
        if (amount == 0) return _rentInstead(accountSeed);
        uint256 before = account.balance;
        if (account == address(wallet)) {
            wallet.exec(abi.encodeCall(ILatchkey.withdraw, ()), 0); // transient mode: Accept
        } else {
            vm.prank(account);
            latchkey.withdraw();
        }
        if (account.balance - before != amount || latchkey.credit(account) != 0) ++wrongAmounts;
        _did();
    }

    /// @notice Tries every way to settle a rental that is already settled or cancelled.
    function settleAgain(uint256 rentalSeed, uint64 secondsUsed) external atTime {
        (bool found, uint256 i) = _find(rentalSeed, Want.Closed);
        if (!found) return _rentInstead(rentalSeed);
        ILatchkey.Rental memory r = _rentals[i];
        ILatchkey.Receipt memory receipt = ILatchkey.Receipt(r.id, secondsUsed, 0);
        try latchkey.checkout(r, receipt, _sign(r, receipt)) {
            ++doubleSettlements;
        } catch {}
        vm.prank(r.guest);
        try latchkey.checkoutByTime(r) {
            ++doubleSettlements;
        } catch {}
        vm.warp(uint256(r.end) + grace);
        try latchkey.checkoutByTime(r) {
            ++doubleSettlements;
        } catch {}
        vm.warp(time);
        vm.prank(r.guest);
        try latchkey.cancel(r) {
            ++doubleSettlements;
        } catch {}
        _did();
    }

    function warp(uint256 seconds_) external {
        time += bound(seconds_, 1, 6 hours);
        vm.warp(time);
    }

    function setPrice(uint256 deviceSeed, uint128 price, uint128 priceWh) external atTime {
        uint256 id = _deviceIds[deviceSeed % _deviceIds.length];
        vm.prank(latchkey.device(id).host);
        latchkey.setPrice(id, uint128(bound(price, 1, 1e15)), uint128(bound(priceWh, 0, 1e16)), _watts(priceWh));
    }

    /// @notice Rotates a device's key; open rentals keep theirs and still settle by receipt.
    function setSigner(uint256 deviceSeed, uint256 keySeed) external atTime {
        uint256 id = _deviceIds[deviceSeed % _deviceIds.length];
        address host = latchkey.device(id).host;
        (bool found, address key) = _usableKey(host, keySeed);
        if (!found) return;
        vm.prank(host);
        latchkey.setSigner(id, key);
    }

    /// @notice A host revokes one of its keys (keeping at least one usable), checks that the key
    /// can no longer be set or rented under, and moves its devices off it as a host would.
    function revokeSigner(uint256 hostSeed, uint256 keySeed) external atTime {
        address host = _hosts[hostSeed % HOSTS];
        uint256 usable;
        for (uint256 k; k < KEYS; ++k) {
            if (!latchkey.isRevoked(host, vm.addr(_keys[k]))) ++usable;
        }
        (bool found, address key) = _usableKey(host, keySeed);
        if (!found || usable < 3) return; // keep two keys per host: rentals must go on
        vm.prank(host);
        latchkey.revokeSigner(key);
        for (uint256 k; k < _deviceIds.length; ++k) {
            uint256 id = _deviceIds[k];
            ILatchkey.Device memory d = latchkey.device(id);
            if (d.host != host || d.signer != key) continue;
            if (d.active) {
                vm.prank(_guests[0]);
                try latchkey.rent(id, 0, d.minDuration) {
                    ++revokedKeyUses;
                } catch {}
            }
            vm.prank(host);
            try latchkey.setSigner(id, key) {
                ++revokedKeyUses;
            } catch {}
            (, address next) = _usableKey(host, keySeed % KEYS + 1);
            vm.prank(host);
            latchkey.setSigner(id, next);
        }
        _did();
    }

    function setActive(uint256 deviceSeed, uint256 activeSeed) external atTime {
        uint256 id = _deviceIds[deviceSeed % _deviceIds.length];
        vm.prank(latchkey.device(id).host);
        latchkey.setActive(id, activeSeed % 4 != 0); // mostly open, or few rentals happen
    }

    function forceSend(uint256 amount) external atTime {
        amount = bound(amount, 1, 10 ether);
        vm.deal(address(this), address(this).balance + amount);
        new ForceSend{value: amount}(payable(address(latchkey)));
        forced += amount;
    }

    // ---------------------------------------------------------------- helpers

    /// @dev After a settlement: the host got exactly the expected charge, the guest (paid or
    /// credited) exactly the rest, and the rental is closed.
    function _checkSettlement(uint256 i, address host, uint256 hostBefore, uint256 guestBefore, uint256 expected)
        private
    {
        ILatchkey.Rental memory r = _rentals[i];
        uint256 charge = latchkey.credit(host) - hostBefore;
        uint256 refund = _guestFunds(r.guest) - guestBefore;
        if (charge + refund != r.deposit) ++badSettlements;
        if (charge != expected) ++wrongAmounts;
        _close(i);
    }

    /// @dev After settling rental `i`: `bookedUntil` did not move, and the rental holds its slots
    /// only up to the one holding now, excluded (none after its end, none before its start).
    function _checkReleased(uint256 i, uint64 bookedUntil) private {
        ILatchkey.Rental memory r = _rentals[i];
        _expectBookedUntil(r.id >> 64, bookedUntil);
        uint256 first = r.start / _slotOf[i];
        uint256 kept = time / _slotOf[i];
        if (kept < first) kept = first;
        if (kept < _heldEnd[i]) _heldEnd[i] = kept;
    }

    /// @dev Whether the ghost calendar has slots [from, to) of `deviceId` (at `slot` seconds) free,
    /// leaving out rental `except`. Rentals booked under another slot length hold nothing the
    /// contract still reads (their slot length changed only once they had all ended).
    function _free(uint256 deviceId, uint256 slot, uint256 from, uint256 to, uint256 except)
        private
        view
        returns (bool)
    {
        for (uint256 k; k < _rentals.length; ++k) {
            if (k == except || _rentals[k].id >> 64 != deviceId || _slotOf[k] != slot) continue;
            uint256 first = _rentals[k].start / slot;
            if (first < _heldEnd[k] && first < to && from < _heldEnd[k]) return false;
        }
        return true;
    }

    function _ceilDiv(uint256 a, uint256 b) private pure returns (uint256) {
        return (a + b - 1) / b;
    }

    function _expectBookedUntil(uint256 deviceId, uint64 expected) private {
        if (latchkey.device(deviceId).bookedUntil != expected) ++wrongBookings;
    }

    function _close(uint256 i) private {
        if (!_open[i]) ++doubleSettlements;
        _open[i] = false;
        openDeposits -= _rentals[i].deposit;
    }

    /// @dev Signed by the key the rental committed to, as its gateway (which keeps old keys) would.
    function _sign(ILatchkey.Rental memory rental, ILatchkey.Receipt memory receipt)
        private
        view
        returns (bytes memory)
    {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(_keyOf[rental.signer], latchkey.receiptDigest(receipt));
        return abi.encodePacked(r, s, v);
    }

    /// @dev A max power from 1 W to 5 kW, from a fuzzed seed.
    function _watts(uint256 seed) private pure returns (uint32) {
        return uint32(1 + seed % 5000);
    }

    /// @dev The energy allowance of `seconds` at `watts`, rounded up to whole watt-hours.
    function _wh(uint32 watts, uint256 seconds_) private pure returns (uint256) {
        return (uint256(watts) * seconds_ + 3599) / 3600;
    }

    /// @dev The first key at or after `seed` (wrapping) that `host` has not revoked.
    function _usableKey(address host, uint256 seed) private view returns (bool, address) {
        for (uint256 k; k < KEYS; ++k) {
            address key = vm.addr(_keys[(seed % KEYS + k) % KEYS]);
            if (!latchkey.isRevoked(host, key)) return (true, key);
        }
        return (false, address(0));
    }

    function _guestFunds(address guest) private view returns (uint256) {
        return guest.balance + latchkey.credit(guest);
    }

    function _caller(uint256 seed, ILatchkey.Rental memory r) private view returns (address) {
        if (seed % 3 == 0) return r.guest == address(wallet) ? address(0xCA11) : r.guest;
        if (seed % 3 == 1) return _hosts[seed / 3 % HOSTS];
        return address(0xCA11);
    }

    function _walletMode(uint256 seed) private pure returns (HostileWallet.Mode) {
        return HostileWallet.Mode(seed % 4); // Accept, Revert, BurnGas, ReturnBomb
    }

    /// @dev The first rental at or after `seed` (wrapping) that the action can act on.
    function _find(uint256 seed, Want want) private view returns (bool, uint256) {
        uint256 n = _rentals.length;
        for (uint256 k; k < n; ++k) {
            uint256 i = (seed % n + k) % n;
            if (_eligible(i, want)) return (true, i);
        }
        return (false, 0);
    }

    function _eligible(uint256 i, Want want) private view returns (bool) {
        if (want == Want.Closed) return !_open[i];
        if (!_open[i]) return false;
        ILatchkey.Rental storage r = _rentals[i];
        if (want == Want.Cancellable) return time < r.start;
        if (want == Want.SettleableByGuest) return time >= r.start;
        if (want == Want.SettleableByAnyone) return time >= uint256(r.end) + grace;
        if (want == Want.Extendable) {
            ILatchkey.Device memory d = latchkey.device(r.id >> 64);
            return time < r.end && d.active && d.maxDuration > r.end - r.start && !latchkey.isRevoked(d.host, r.signer);
        }
        return true;
    }

    /// @dev When an action finds no rental to act on, it books one instead, so that campaigns
    /// spend their calls on rentals rather than on no-ops.
    function _rentInstead(uint256 seed) private {
        _rent(seed, seed >> 64, seed >> 128, seed >> 192);
    }

    function _activeDevice(uint256 seed) private view returns (bool, uint256) {
        uint256 n = _deviceIds.length;
        for (uint256 k; k < n; ++k) {
            uint256 id = _deviceIds[(seed % n + k) % n];
            if (latchkey.device(id).active) return (true, id);
        }
        return (false, 0);
    }
}
