// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ILatchkey} from "./ILatchkey.sol";

/// @title Latchkey rental contract
/// @notice Rents smart locks and power sockets by the second against a deposit held in escrow per
/// rental, settled once by a device-signed usage receipt or by time. See {ILatchkey} for the rules.
/// @dev Only `keccak256(abi.encode(rental))` of a rental is stored; callers pass the struct back.
/// Ether held == Σ open deposits + Σ credits (+ anything force-sent, which nobody can withdraw).
contract Latchkey is ILatchkey, EIP712 {
    /// @notice EIP-712 type of a usage receipt; must match `RECEIPT_TYPES` in contracts/typedData.ts.
    bytes32 private constant RECEIPT_TYPEHASH =
        keccak256("Receipt(uint256 rentalId,uint64 secondsUsed,uint64 energyWh)");

    /// @notice Gas forwarded with a pushed refund: enough for a smart wallet's `receive` (a proxy
    /// delegatecall and an event), small enough that a gas-burning guest costs the caller little.
    /// A push that fails for any reason is credited to the guest instead.
    uint256 private constant REFUND_GAS = 10_000;

    /// @inheritdoc ILatchkey
    uint256 public constant MAX_ADVANCE = 30 days;

    /// @inheritdoc ILatchkey
    uint64 public immutable GRACE;

    /// @inheritdoc ILatchkey
    uint16 public constant MAX_DEPOSIT_FACTOR = 400;

    /// @inheritdoc ILatchkey
    uint32 public constant MIN_SLOT_SECONDS = 60;

    /// @inheritdoc ILatchkey
    uint32 public constant MAX_BOOKING_SLOTS = 10_080;

    /// @dev Slots per calendar word: the low 192 bits; the top 64 are the word's tag.
    uint256 private constant WORD_SLOTS = 192;
    uint256 private constant SLOT_MASK = (1 << 192) - 1;
    /// @dev Calendar words per device, used as a ring. The live range is at most
    /// MAX_ADVANCE / MIN_SLOT_SECONDS / 192 + MAX_BOOKING_SLOTS / 192 + 2 = 280 words (see ILatchkey).
    uint256 private constant RING_WORDS = 512;

    uint256 private _deviceCount;
    mapping(uint256 deviceId => Device) private _devices;
    mapping(uint256 rentalId => bytes32 commitment) private _rentals;
    /// @dev `withdrawable + 1` once an account has ever been credited, 0 before: `withdraw` leaves
    /// the 1 behind so the next credit writes a nonzero slot (~17k gas cheaper than zero → nonzero).
    /// The 1 is a marker, not ether: `credit()` reports the withdrawable amount only.
    mapping(address account => uint256 creditPlusOne) private _credit;
    mapping(address host => mapping(address signer => bool)) private _revoked;
    /// @dev Per device, a ring of `RING_WORDS` words: `tag << 192 | slots`, the tag being
    /// `slotSeconds << 32 | uint32(absolute word index)`, slot `i` of word `w` being slot
    /// `w × 192 + i`, i.e. time [slot × slotSeconds, (slot + 1) × slotSeconds).
    mapping(uint256 deviceId => mapping(uint256 position => uint256 word)) private _calendar;

    /// @param graceSeconds how long after a rental's end only its guest may settle it by time.
    constructor(uint64 graceSeconds) EIP712("Latchkey", "1") {
        GRACE = graceSeconds;
    }

    // ---------------------------------------------------------------- devices

    /// @inheritdoc ILatchkey
    /// @dev Also `InvalidDevice` when the largest deposit (`maxDuration` at `pricePerSecond`) would
    /// not fit a rental's 128-bit deposit. The device starts active.
    function registerDevice(
        address signer,
        Kind kind,
        uint128 pricePerSecond,
        uint128 pricePerWh,
        uint16 depositFactor,
        uint32 minDuration,
        uint32 maxDuration,
        uint32 maxWatts,
        uint32 slotSeconds,
        uint32 cancelWindow
    ) external returns (uint256 deviceId) {
        if (
            signer == address(0) || depositFactor < 100 || depositFactor > MAX_DEPOSIT_FACTOR || minDuration == 0
                || minDuration > maxDuration
                || !_depositFits(pricePerSecond, pricePerWh, maxWatts, maxDuration, depositFactor)
        ) revert InvalidDevice();
        _checkCalendar(slotSeconds, cancelWindow, maxDuration);
        if (_revoked[msg.sender][signer]) revert RevokedSigner(signer);
        deviceId = ++_deviceCount;
        _devices[deviceId] = Device({
            host: msg.sender,
            minDuration: minDuration,
            slotSeconds: slotSeconds,
            depositFactor: depositFactor,
            kind: kind,
            active: true,
            signer: signer,
            bookedUntil: 0,
            rentalCount: 0,
            pricePerSecond: pricePerSecond,
            pricePerWh: pricePerWh,
            maxWatts: maxWatts,
            maxDuration: maxDuration,
            cancelWindow: cancelWindow
        });
        emit DeviceRegistered(
            deviceId,
            msg.sender,
            signer,
            kind,
            pricePerSecond,
            pricePerWh,
            depositFactor,
            minDuration,
            maxDuration,
            maxWatts
        );
        emit CalendarChanged(deviceId, slotSeconds, cancelWindow);
    }

    /// @inheritdoc ILatchkey
    /// @dev Reverts `InvalidDevice` for a zero price per second, an energy price without a max
    /// power, or prices whose largest deposit would not fit the 128-bit deposit of a rental.
    function setPrice(uint256 deviceId, uint128 pricePerSecond, uint128 pricePerWh, uint32 maxWatts) external {
        Device storage d = _hostDevice(deviceId);
        if (!_depositFits(pricePerSecond, pricePerWh, maxWatts, d.maxDuration, d.depositFactor)) {
            revert InvalidDevice();
        }
        d.pricePerSecond = pricePerSecond;
        d.pricePerWh = pricePerWh;
        d.maxWatts = maxWatts;
        emit PriceChanged(deviceId, pricePerSecond, pricePerWh, maxWatts);
    }

    /// @inheritdoc ILatchkey
    function setDurations(uint256 deviceId, uint32 minDuration, uint32 maxDuration) external {
        Device storage d = _hostDevice(deviceId);
        if (minDuration == 0 || minDuration > maxDuration) revert InvalidDuration(minDuration, maxDuration);
        if (minDuration > d.minDuration && d.bookedUntil > block.timestamp) revert DeviceBusy(d.bookedUntil);
        if (maxDuration > uint256(d.slotSeconds) * MAX_BOOKING_SLOTS) revert InvalidCalendar();
        if (!_depositFits(d.pricePerSecond, d.pricePerWh, d.maxWatts, maxDuration, d.depositFactor)) {
            revert InvalidDevice();
        }
        d.minDuration = minDuration;
        d.maxDuration = maxDuration;
        emit DurationsChanged(deviceId, minDuration, maxDuration);
    }

    /// @inheritdoc ILatchkey
    function setCalendar(uint256 deviceId, uint32 slotSeconds, uint32 cancelWindow) external {
        Device storage d = _hostDevice(deviceId);
        _checkCalendar(slotSeconds, cancelWindow, d.maxDuration);
        if (slotSeconds != d.slotSeconds && d.bookedUntil > block.timestamp) revert DeviceBusy(d.bookedUntil);
        d.slotSeconds = slotSeconds;
        d.cancelWindow = cancelWindow;
        emit CalendarChanged(deviceId, slotSeconds, cancelWindow);
    }

    /// @inheritdoc ILatchkey
    function setSigner(uint256 deviceId, address signer) external {
        if (signer == address(0)) revert InvalidDevice();
        Device storage d = _hostDevice(deviceId);
        if (_revoked[msg.sender][signer]) revert RevokedSigner(signer);
        d.signer = signer;
        emit SignerChanged(deviceId, signer);
    }

    /// @inheritdoc ILatchkey
    /// @dev Scoped to the caller's devices (a key revoked by one host means nothing to another's),
    /// and permanent: a stolen key stays stolen. Revoking twice just emits again.
    function revokeSigner(address signer) external {
        _revoked[msg.sender][signer] = true;
        emit SignerRevoked(msg.sender, signer);
    }

    /// @inheritdoc ILatchkey
    /// @dev An inactive device takes neither new rentals nor extensions; open rentals can still be
    /// cancelled and settled.
    function setActive(uint256 deviceId, bool active) external {
        _hostDevice(deviceId).active = active;
        emit ActiveChanged(deviceId, active);
    }

    // ---------------------------------------------------------------- rentals

    /// @inheritdoc ILatchkey
    /// @dev The rental id is `deviceId << 64 | n` for the device's n-th rental (from 0). The end
    /// check is for a clock near the top of 64 bits, where the horizon alone does not bound it.
    function rent(uint256 deviceId, uint64 start, uint32 duration) external payable returns (uint256 rentalId) {
        Device memory d = _devices[deviceId];
        if (d.host == address(0)) revert UnknownDevice(deviceId);
        if (!d.active) revert DeviceInactive();
        if (duration < d.minDuration || duration > d.maxDuration) {
            revert InvalidDuration(d.minDuration, d.maxDuration);
        }
        if (start == 0) start = uint64(block.timestamp);
        else if (start < block.timestamp || start > block.timestamp + MAX_ADVANCE) revert InvalidStart();
        if (_revoked[d.host][d.signer]) revert RevokedSigner(d.signer);
        uint256 end = uint256(start) + duration;
        if (end > type(uint64).max) revert InvalidStart();
        _book(deviceId, d.slotSeconds, start / d.slotSeconds, _ceilDiv(end, d.slotSeconds));
        // Fits in 128 bits: registerDevice/setPrice bound the deposit for maxDuration.
        uint256 deposit = _deposit(d.pricePerSecond, d.pricePerWh, d.maxWatts, d.depositFactor, 0, duration);
        if (msg.value != deposit) revert WrongDeposit(deposit);

        rentalId = deviceId << 64 | d.rentalCount;
        Device storage stored = _devices[deviceId];
        if (end > d.bookedUntil) stored.bookedUntil = uint64(end);
        stored.rentalCount = d.rentalCount + 1;
        _rentals[rentalId] = keccak256(
            abi.encode(
                Rental({
                    id: rentalId,
                    guest: msg.sender,
                    start: start,
                    end: uint64(end),
                    deposit: uint128(deposit),
                    pricePerSecond: d.pricePerSecond,
                    pricePerWh: d.pricePerWh,
                    signer: d.signer,
                    maxWatts: d.maxWatts,
                    cancelWindow: d.cancelWindow
                })
            )
        );
        emit Rented(
            rentalId,
            deviceId,
            msg.sender,
            start,
            uint64(end),
            uint128(deposit),
            d.pricePerSecond,
            d.pricePerWh,
            d.signer,
            d.maxWatts,
            d.cancelWindow
        );
    }

    /// @inheritdoc ILatchkey
    /// @dev Guest only, before the end, when the slots after the end are free, while the device is active
    /// and the rental's signer is not revoked (an extension could then only settle by time);
    /// the extra deposit is priced at the rental's own snapshot, and the total duration stays
    /// within the device's maximum. `extra` of 0 is rejected as `InvalidDuration`.
    function extend(Rental calldata rental, uint32 extra) external payable {
        _requireOpen(rental);
        if (msg.sender != rental.guest) revert NotGuest();
        if (block.timestamp >= rental.end) revert WrongTime();
        uint256 deviceId = rental.id >> 64;
        Device storage d = _devices[deviceId];
        if (!d.active) revert DeviceInactive();
        if (_revoked[d.host][rental.signer]) revert RevokedSigner(rental.signer);
        uint32 maxDuration = d.maxDuration;
        uint256 end = uint256(rental.end) + extra;
        if (extra == 0 || end - rental.start > maxDuration || end > type(uint64).max) {
            revert InvalidDuration(d.minDuration, maxDuration);
        }
        uint256 more = _deposit(
            rental.pricePerSecond, rental.pricePerWh, rental.maxWatts, d.depositFactor, rental.end - rental.start, extra
        );
        if (msg.value != more) revert WrongDeposit(more);
        uint32 slotSeconds = d.slotSeconds;
        _book(deviceId, slotSeconds, _ceilDiv(rental.end, slotSeconds), _ceilDiv(end, slotSeconds));

        uint128 deposit = rental.deposit + uint128(more);
        if (end > d.bookedUntil) d.bookedUntil = uint64(end);
        _rentals[rental.id] = keccak256(
            abi.encode(
                Rental({
                    id: rental.id,
                    guest: rental.guest,
                    start: rental.start,
                    end: uint64(end),
                    deposit: deposit,
                    pricePerSecond: rental.pricePerSecond,
                    pricePerWh: rental.pricePerWh,
                    signer: rental.signer,
                    maxWatts: rental.maxWatts,
                    cancelWindow: rental.cancelWindow
                })
            )
        );
        emit Extended(rental.id, deviceId, uint64(end), deposit);
    }

    /// @inheritdoc ILatchkey
    /// @dev Guest only, strictly before the start. The fee is at most the booked rent, so at most
    /// the deposit (factor >= 100).
    function cancel(Rental calldata rental) external {
        _requireOpen(rental);
        if (msg.sender != rental.guest) revert NotGuest();
        if (block.timestamp >= rental.start) revert WrongTime();
        uint256 deviceId = rental.id >> 64;
        delete _rentals[rental.id];
        Device storage d = _devices[deviceId];
        uint32 slotSeconds = d.slotSeconds;
        _free(deviceId, slotSeconds, rental.start / slotSeconds, _ceilDiv(rental.end, slotSeconds));
        uint128 fee = uint128(_cancelFee(rental));
        uint128 refund = rental.deposit - fee;
        if (fee != 0) _addCredit(d.host, fee);
        emit Cancelled(rental.id, deviceId, fee, refund);
        _pay(rental.guest, refund);
    }

    /// @inheritdoc ILatchkey
    /// @dev `receipt.rentalId` must be `rental.id`, and the signature 65 bytes `r ‖ s ‖ v` with a
    /// low `s` and `v` ∈ {27, 28}; anything else is `InvalidReceiptSignature`. The receipt may be
    /// submitted at any time while the rental is open: the device decides when to sign it. The
    /// signer is the rental's own (committed at rent time), not the device's current one.
    function checkout(Rental calldata rental, Receipt calldata receipt, bytes calldata signature) external {
        _requireOpen(rental);
        if (receipt.rentalId != rental.id) revert InvalidReceiptSignature();
        uint256 deviceId = rental.id >> 64;
        Device storage d = _devices[deviceId];
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(_receiptDigest(receipt), signature);
        if (err != ECDSA.RecoverError.NoError || recovered != rental.signer) revert InvalidReceiptSignature();
        if (_revoked[d.host][recovered]) revert RevokedSigner(recovered);
        // Nothing is charged before the start: the device cannot have been used yet.
        uint256 metered;
        if (block.timestamp >= rental.start) {
            uint256 allowance = _energyWh(rental.maxWatts, rental.end - rental.start);
            uint256 energy = receipt.energyWh < allowance ? receipt.energyWh : allowance;
            metered = uint256(rental.pricePerSecond) * receipt.secondsUsed + uint256(rental.pricePerWh) * energy;
        }
        uint128 charge = metered < rental.deposit ? uint128(metered) : rental.deposit;
        _settle(rental, d, deviceId, charge, true);
    }

    /// @inheritdoc ILatchkey
    /// @dev The guest, from the start on, pays `pricePerSecond × max(elapsed, minDuration)`
    /// capped at the booked rent; before the start it must `cancel` (`WrongTime`). Anyone else may
    /// settle from `end + grace` on (`TooEarly(end + grace)` before) and the booked rent is
    /// charged. Both add the whole energy allowance; the sum never exceeds the deposit (factor >= 1).
    function checkoutByTime(Rental calldata rental) external {
        _requireOpen(rental);
        uint256 deviceId = rental.id >> 64;
        Device storage d = _devices[deviceId];
        uint64 duration = rental.end - rental.start;
        uint256 booked = uint256(rental.pricePerSecond) * duration;
        uint256 rentCharged = booked;
        if (msg.sender == rental.guest) {
            if (block.timestamp < rental.start) revert WrongTime();
            uint256 elapsed = block.timestamp - rental.start;
            uint256 minDuration = d.minDuration;
            uint256 used = uint256(rental.pricePerSecond) * (elapsed > minDuration ? elapsed : minDuration);
            if (used < booked) rentCharged = used;
        } else {
            uint256 openAt = uint256(rental.end) + GRACE;
            if (block.timestamp < openAt) revert TooEarly(uint64(openAt));
        }
        uint256 due = rentCharged + uint256(rental.pricePerWh) * _energyWh(rental.maxWatts, duration);
        uint128 charge = due < rental.deposit ? uint128(due) : rental.deposit;
        _settle(rental, d, deviceId, charge, false);
    }

    /// @inheritdoc ILatchkey
    /// @dev Pays the whole credit with all remaining gas; the credit is cleared first, so a
    /// reentrant call finds nothing left. Reverts `TransferFailed` if the caller cannot receive.
    function withdraw() external {
        uint256 stored = _credit[msg.sender];
        if (stored <= 1) revert NothingToWithdraw();
        uint256 amount = stored - 1;
        _credit[msg.sender] = 1;
        emit Withdrawn(msg.sender, amount);
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert TransferFailed();
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc ILatchkey
    /// @dev Does not check `duration` against the device's bounds; `rent` does. `maxCharge` is the
    /// deposit: a receipt is capped at it, and settling by time charges at most the booked rent
    /// plus the energy cost.
    function quote(uint256 deviceId, uint32 duration) external view returns (Quote memory q) {
        Device memory d = _devices[deviceId];
        if (d.host == address(0)) revert UnknownDevice(deviceId);
        q.rent = uint256(d.pricePerSecond) * duration;
        q.energyWh = _energyWh(d.maxWatts, duration);
        q.energyCost = uint256(d.pricePerWh) * q.energyWh;
        q.deposit = _deposit(d.pricePerSecond, d.pricePerWh, d.maxWatts, d.depositFactor, 0, duration);
        q.maxCharge = q.deposit;
    }

    /// @inheritdoc ILatchkey
    /// @dev Reverts `UnknownDevice` for an id never registered.
    function device(uint256 deviceId) external view returns (Device memory d) {
        d = _devices[deviceId];
        if (d.host == address(0)) revert UnknownDevice(deviceId);
    }

    /// @inheritdoc ILatchkey
    /// @dev Skips a whole held run per step, so it costs a few words per open booking in the way.
    function nextFree(uint256 deviceId, uint64 start, uint32 duration) external view returns (uint64) {
        Device storage d = _devices[deviceId];
        if (d.host == address(0)) revert UnknownDevice(deviceId);
        uint256 slotSeconds = d.slotSeconds;
        mapping(uint256 => uint256) storage ring = _calendar[deviceId];
        uint256 candidate = start > block.timestamp ? start : block.timestamp;
        uint256 latest = block.timestamp + MAX_ADVANCE;
        while (candidate <= latest) {
            uint256 from = candidate / slotSeconds;
            (bool taken, uint256 at) = _scan(ring, slotSeconds, from, _ceilDiv(candidate + duration, slotSeconds), true);
            if (!taken) return uint64(candidate);
            // The first free slot after the held run (looked for one booking's length at a time).
            (bool found, uint256 free) = _scan(ring, slotSeconds, at, at + MAX_BOOKING_SLOTS, false);
            candidate = (found ? free : at + MAX_BOOKING_SLOTS) * slotSeconds;
        }
        return 0;
    }

    /// @inheritdoc ILatchkey
    function cancelFee(Rental calldata rental) external view returns (uint256) {
        _requireOpen(rental);
        if (block.timestamp >= rental.start) revert WrongTime();
        return _cancelFee(rental);
    }

    /// @inheritdoc ILatchkey
    function isOpen(Rental calldata rental) external view returns (bool) {
        bytes32 commitment = _rentals[rental.id];
        return commitment != 0 && commitment == keccak256(abi.encode(rental));
    }

    /// @inheritdoc ILatchkey
    function isRevoked(address host, address signer) external view returns (bool) {
        return _revoked[host][signer];
    }

    /// @inheritdoc ILatchkey
    /// @dev Storage keeps `credit + 1` after an account's first credit (see `_credit`); this is the
    /// amount `withdraw` pays.
    function credit(address account) external view returns (uint256) {
        uint256 stored = _credit[account];
        return stored == 0 ? 0 : stored - 1;
    }

    /// @inheritdoc ILatchkey
    function receiptDigest(Receipt calldata receipt) external view returns (bytes32) {
        return _receiptDigest(receipt);
    }

    // ---------------------------------------------------------------- internals

    function _hostDevice(uint256 deviceId) private view returns (Device storage d) {
        d = _devices[deviceId];
        address host = d.host;
        if (host == address(0)) revert UnknownDevice(deviceId);
        if (host != msg.sender) revert NotHost();
    }

    /// @dev Calendar settings in range (see `InvalidCalendar`).
    function _checkCalendar(uint32 slotSeconds, uint32 cancelWindow, uint32 maxDuration) private pure {
        if (
            slotSeconds < MIN_SLOT_SECONDS || maxDuration > uint256(slotSeconds) * MAX_BOOKING_SLOTS
                || cancelWindow > MAX_ADVANCE
        ) revert InvalidCalendar();
    }

    function _ceilDiv(uint256 a, uint256 b) private pure returns (uint256) {
        return (a + b - 1) / b;
    }

    /// @dev The fee of cancelling `rental` now, before its start: the booked rent × the part of the
    /// cancel window already entered.
    function _cancelFee(Rental calldata rental) private view returns (uint256) {
        uint256 lead = rental.start - block.timestamp;
        uint256 window = rental.cancelWindow;
        if (lead >= window) return 0;
        return uint256(rental.pricePerSecond) * (rental.end - rental.start) * (window - lead) / window;
    }

    /// @dev Marks slots [from, to) of `deviceId` held, reverting `WindowTaken` if any is held already.
    /// The words touched are all in the live range (see `RING_WORDS`).
    function _book(uint256 deviceId, uint256 slotSeconds, uint256 from, uint256 to) private {
        if (from >= to) return;
        mapping(uint256 => uint256) storage ring = _calendar[deviceId];
        uint256 tagBase = slotSeconds << 224;
        for (uint256 w = from / WORD_SLOTS; w * WORD_SLOTS < to; ++w) {
            uint256 mask = _mask(w, from, to);
            uint256 tag = tagBase | (uint256(uint32(w)) << 192);
            uint256 position = w % RING_WORDS;
            uint256 stored = ring[position];
            uint256 slots = stored & ~SLOT_MASK == tag ? stored & SLOT_MASK : 0;
            uint256 taken = slots & mask;
            if (taken != 0) {
                uint256 i;
                while (taken >> i & 1 == 0) ++i;
                revert WindowTaken(uint64((w * WORD_SLOTS + i) * slotSeconds));
            }
            ring[position] = tag | slots | mask;
        }
    }

    /// @dev The first slot in [from, to) that is held (`held`) or free (`!held`), if any.
    function _scan(mapping(uint256 => uint256) storage ring, uint256 slotSeconds, uint256 from, uint256 to, bool held)
        private
        view
        returns (bool found, uint256 slot)
    {
        for (uint256 w = from / WORD_SLOTS; w * WORD_SLOTS < to; ++w) {
            uint256 stored = ring[w % RING_WORDS];
            uint256 tag = slotSeconds << 224 | (uint256(uint32(w)) << 192);
            uint256 slots = stored & ~SLOT_MASK == tag ? stored & SLOT_MASK : 0;
            uint256 hits = (held ? slots : ~slots & SLOT_MASK) & _mask(w, from, to);
            if (hits != 0) {
                uint256 i;
                while (hits >> i & 1 == 0) ++i;
                return (true, w * WORD_SLOTS + i);
            }
        }
    }

    /// @dev Marks slots [from, to) of `deviceId` free (nothing when `from >= to`). Only slots of the
    /// caller's own booking are passed, so no other booking's slot is cleared.
    function _free(uint256 deviceId, uint256 slotSeconds, uint256 from, uint256 to) private {
        if (from >= to) return;
        mapping(uint256 => uint256) storage ring = _calendar[deviceId];
        uint256 tagBase = slotSeconds << 224;
        for (uint256 w = from / WORD_SLOTS; w * WORD_SLOTS < to; ++w) {
            uint256 tag = tagBase | (uint256(uint32(w)) << 192);
            uint256 position = w % RING_WORDS;
            uint256 stored = ring[position];
            if (stored & ~SLOT_MASK == tag) ring[position] = stored & ~_mask(w, from, to);
        }
    }

    /// @dev The bits of word `w` that slots [from, to) cover.
    function _mask(uint256 w, uint256 from, uint256 to) private pure returns (uint256) {
        uint256 lo = w * WORD_SLOTS;
        uint256 a = from > lo ? from - lo : 0;
        uint256 b = to - lo < WORD_SLOTS ? to - lo : WORD_SLOTS;
        return ((1 << (b - a)) - 1) << a;
    }

    /// @dev A valid price: nonzero per second, a max power wherever energy is priced, and the largest
    /// deposit of the device (`maxDuration`) fits a rental's uint128, so deposits, extensions and
    /// charges never truncate.
    function _depositFits(
        uint128 pricePerSecond,
        uint128 pricePerWh,
        uint32 maxWatts,
        uint32 maxDuration,
        uint16 depositFactor
    ) private pure returns (bool) {
        return pricePerSecond != 0 && (pricePerWh == 0 || maxWatts != 0)
            && _deposit(pricePerSecond, pricePerWh, maxWatts, depositFactor, 0, maxDuration) <= type(uint128).max;
    }

    /// @dev The energy allowance of `seconds` at `maxWatts`, in whole watt-hours rounded up.
    function _energyWh(uint32 maxWatts, uint256 seconds_) private pure returns (uint256) {
        return (uint256(maxWatts) * seconds_ + 3599) / 3600;
    }

    /// @dev The deposit for `extra` seconds after the first `booked` of a rental: rent × factor
    /// plus the energy allowance those seconds add (the allowance of the whole rental, minus what
    /// its first `booked` seconds already prepaid, so extensions round like one booking).
    function _deposit(
        uint128 pricePerSecond,
        uint128 pricePerWh,
        uint32 maxWatts,
        uint16 depositFactor,
        uint256 booked,
        uint256 extra
    ) private pure returns (uint256) {
        uint256 energy = _energyWh(maxWatts, booked + extra) - _energyWh(maxWatts, booked);
        return uint256(pricePerSecond) * extra * depositFactor / 100 + uint256(pricePerWh) * energy;
    }

    function _requireOpen(Rental calldata rental) private view {
        if (_rentals[rental.id] != keccak256(abi.encode(rental))) revert RentalNotOpen(rental.id);
    }

    function _receiptDigest(Receipt calldata receipt) private view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(abi.encode(RECEIPT_TYPEHASH, receipt.rentalId, receipt.secondsUsed, receipt.energyWh))
        );
    }

    /// @dev Deletes the commitment before any ether moves, so the rental can be settled only once
    /// even by a reentrant guest. `charge <= rental.deposit` is the caller's guarantee.
    /// Settling frees the rental's slots from the one holding now on (and none before its start: a
    /// receipt may settle a booking that has not started). The slot holding now is the rental's
    /// alone (slots are never shared), and the time before now cannot be booked, so a rental
    /// settled early or within the slot it ended in leaves the rest of that slot free at once.
    function _settle(Rental calldata rental, Device storage d, uint256 deviceId, uint128 charge, bool byReceipt)
        private
    {
        delete _rentals[rental.id];
        uint256 slotSeconds = d.slotSeconds;
        uint256 from = block.timestamp / slotSeconds;
        uint256 first = rental.start / slotSeconds;
        // Nothing when now is past the slot the rental ended in.
        _free(deviceId, slotSeconds, from > first ? from : first, _ceilDiv(rental.end, slotSeconds));
        uint128 refund = rental.deposit - charge;
        if (charge != 0) _addCredit(d.host, charge);
        emit Settled(rental.id, deviceId, charge, refund, byReceipt);
        _pay(rental.guest, refund);
    }

    /// @dev Pushes `amount` to `to` with bounded gas; if that fails (reverting, gas-hungry or
    /// gas-burning recipient) the amount is credited to `to` for `withdraw` instead.
    function _pay(address to, uint256 amount) private {
        if (amount == 0) return;
        (bool ok,) = to.call{value: amount, gas: REFUND_GAS}("");
        if (!ok) {
            _addCredit(to, amount);
            emit RefundCredited(to, amount);
        }
    }

    function _addCredit(address account, uint256 amount) private {
        uint256 stored = _credit[account];
        _credit[account] = (stored == 0 ? 1 : stored) + amount;
    }
}
