// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Latchkey rental contract interface
/// @notice The single source of the types, events and errors of the Latchkey rental contract.
/// Hosts register devices (smart locks, power sockets) with a price; guests rent a time window by
/// paying a deposit (rent × deposit factor); the device's gateway key signs a usage receipt and
/// anyone may submit it to settle: the host is credited the metered charge (capped at the deposit)
/// and the guest gets the rest back. Every deposit stays in escrow until its rental is settled.
///
/// Bookings: a calendar per device. Time is cut into slots of `slotSeconds` (set by the host, at
/// least `MIN_SLOT_SECONDS`), and a booking holds every slot it touches, [floor(start / slot),
/// ceil(end / slot)). A rental is accepted when all its slots are free, in any order and anywhere
/// from now to `MAX_ADVANCE` ahead; so the open bookings of a device never overlap, and a booking
/// next to another starts at a slot boundary (`WindowTaken` names the first held slot). Cancelling
/// frees a booking's slots at once, and settling frees them from the slot holding the settlement
/// time on (the time before it is past), so a device checked out early, or settled within the slot
/// its rental ended in, can be rented "from now" at once; `extend` needs only the slots after the
/// rental's end to be free.
/// Why a bitmap: the overlap check reads and writes one storage word per 192 slots of the booking,
/// so its gas grows with the booking's own length, never with the number of bookings (nobody can
/// grow a loop another guest pays for). The host bounds it: `maxDuration` is at most
/// `MAX_BOOKING_SLOTS` slots (`InvalidCalendar` otherwise), so one booking touches at most
/// ceil(MAX_BOOKING_SLOTS / 192) + 1 = 54 words. The words form a ring of `RING_WORDS` per device,
/// keyed by (absolute word index mod RING_WORDS), each tagged in its top 64 bits with the slot length
/// and the low 32 bits of the absolute word index it holds; a word whose tag is not the one asked
/// for reads as empty. Every slot that can still be booked or freed lies between now and
/// `MAX_ADVANCE + maxDuration` ahead, at most 225 + 53 + 2 = 280 words at the shortest slot, so the
/// ring never holds two live words at one place, and a word stays non-zero once written: after its
/// first use (22,100 gas) a booking pays 5,000 per word. The slot length may change only once the
/// latest booked end (`bookedUntil`, which cancels and settlements do not lower) has passed.
/// Cancelling: the host sets `cancelWindow` seconds, and each rental commits the value it was booked
/// under. A cancel at least `cancelWindow` before the start is free; inside the window the guest pays
/// a fee growing linearly from 0 to the whole booked rent (pricePerSecond × duration) at the start,
/// credited to the host (`cancelFee` tells what a cancel costs now). So holding a window until its
/// start costs its rent, whether the guest cancels or uses it.
///
/// Known limitations. A rental that has ended but is not settled yet still holds the rest of the
/// slot it ended in: a "from now" rental in that slot waits for the settlement (the gateway sends
/// its receipt at the end) or the next slot boundary (at most `slotSeconds`). A guest can still
/// hold windows more than `cancelWindow` ahead for gas alone (book, cancel free, book again), but
/// only those windows: every other slot stays rentable, and the host chooses how far ahead free
/// cancelling ends.
///
/// Energy: a device with an energy price has a max power (`maxWatts`), and each rental an energy
/// allowance of `ceil(maxWatts × duration / 1 h)` Wh that its deposit prepays in full on top of
/// rent × factor. A receipt charges metered energy up to the allowance, never beyond; settling by
/// time charges the whole allowance. The gateway switches a socket off once its metered energy
/// reaches the allowance (prepaid energy), and extending a rental adds allowance with its time.
///
/// Keys: each rental commits the device's signer at rent time (a field of the hashed `Rental`, so
/// it costs no storage), and only that key's receipt settles it: `setSigner` changes the key of
/// new rentals and strands no open one. A host who learns a gateway key is stolen calls
/// `revokeSigner`: from that block on its receipts settle nothing of the host's devices, and the
/// open rentals made under it settle by time. Until the revocation is mined, a thief holding the
/// key can sign receipts that charge each open rental of it up to its deposit — credited to the
/// host, never to the thief — and can spend the gateway account's own ether; after it, nothing
/// the key signs moves money.
interface ILatchkey {
    /// @notice What a device is, which decides how the gateway drives its relay.
    enum Kind {
        Lock, // pulses open for a few seconds per unlock
        Socket // stays powered for the rental
    }

    /// @notice A device as registered by its host.
    struct Device {
        address host; // who is paid and who may change the device
        uint32 minDuration; // seconds; also the least an early checkout by time is charged
        uint32 slotSeconds; // the calendar's granularity: a booking holds every slot it touches
        uint16 depositFactor; // percent of the rent taken as deposit, 100..MAX_DEPOSIT_FACTOR (200 = 2x)
        Kind kind;
        bool active; // inactive devices take no new rentals; open ones run to the end
        address signer; // the gateway key that signs the receipts of rentals made from now on
        uint64 bookedUntil; // the latest end ever booked (never lowered); see "Bookings" above
        uint32 rentalCount; // rentals ever made on this device; the low bits of a rental id
        uint128 pricePerSecond; // wei per second of rental; sets the rent and the deposit
        uint128 pricePerWh; // wei per watt-hour metered by the device (0 when not metered)
        uint32 maxWatts; // the most power the socket delivers; sizes the energy a deposit prepays
        uint32 maxDuration; // seconds; upper bound of one rental including extensions
        uint32 cancelWindow; // seconds before a start from which cancelling costs a fee (0 = always free)
    }

    // Four storage slots: host…active (what checkout and cancel read), signer…rentalCount, the two
    // prices, maxWatts…cancelWindow.

    /// @notice A rental as committed at rent time. Only its hash is stored on chain: callers pass
    /// the full struct (from the `Rented`/`Extended` events) and the contract checks it.
    /// @dev `id` is `deviceId << 64 | sequence`, so the device of a rental is `id >> 64`.
    struct Rental {
        uint256 id;
        address guest;
        uint64 start; // unix seconds
        uint64 end; // unix seconds, exclusive
        uint128 deposit; // wei held in escrow
        uint128 pricePerSecond; // device prices at rent time; later price changes never apply
        uint128 pricePerWh;
        address signer; // the device's signer at rent time: the only key whose receipt settles it
        uint32 maxWatts; // the device's max power at rent time: the energy allowance is maxWatts × duration
        uint32 cancelWindow; // the device's cancel window at rent time; sets the fee of a late cancel
    }

    /// @notice What renting a device for a duration costs at today's prices: what a guest page shows
    /// before the guest pays.
    struct Quote {
        uint256 deposit; // the exact `msg.value` of `rent`, held in escrow until settlement
        uint256 maxCharge; // the most any settlement can charge the guest: the deposit
        uint256 rent; // pricePerSecond × duration: the price of the booked time
        uint256 energyWh; // the energy allowance the deposit prepays: ceil(maxWatts × duration / 1 h)
        uint256 energyCost; // pricePerWh × energyWh, part of the deposit (0 for a device without energy price)
    }

    /// @notice A usage report signed (EIP-712) by the device's signer key.
    struct Receipt {
        uint256 rentalId;
        uint64 secondsUsed; // seconds used: a lock from the rental start to checkout, a socket while powered
        uint64 energyWh; // watt-hours metered; 0 when the device has no meter
    }

    /// @notice A device was registered.
    event DeviceRegistered(
        uint256 indexed deviceId,
        address indexed host,
        address signer,
        Kind kind,
        uint128 pricePerSecond,
        uint128 pricePerWh,
        uint16 depositFactor,
        uint32 minDuration,
        uint32 maxDuration,
        uint32 maxWatts
    );
    /// @notice The host changed the prices (and max power) of a device; open rentals keep their own.
    event PriceChanged(uint256 indexed deviceId, uint128 pricePerSecond, uint128 pricePerWh, uint32 maxWatts);
    /// @notice The host rotated the device's receipt signing key for new rentals; open rentals keep
    /// the key they were made under.
    event SignerChanged(uint256 indexed deviceId, address signer);
    /// @notice The host revoked a gateway key: from this block on no receipt it signed settles any
    /// rental of the host's devices, and no device of the host can take rentals under it.
    event SignerRevoked(address indexed host, address indexed signer);
    /// @notice The host (de)activated a device.
    event ActiveChanged(uint256 indexed deviceId, bool active);
    /// @notice The device's calendar settings, at registration and whenever the host changes them.
    event CalendarChanged(uint256 indexed deviceId, uint32 slotSeconds, uint32 cancelWindow);
    /// @notice The host changed the shortest and longest rental of a device.
    event DurationsChanged(uint256 indexed deviceId, uint32 minDuration, uint32 maxDuration);

    /// @notice A guest rented a device; the fields are the committed `Rental`.
    event Rented(
        uint256 indexed rentalId,
        uint256 indexed deviceId,
        address indexed guest,
        uint64 start,
        uint64 end,
        uint128 deposit,
        uint128 pricePerSecond,
        uint128 pricePerWh,
        address signer,
        uint32 maxWatts,
        uint32 cancelWindow
    );
    /// @notice A guest extended a rental; `end` and `deposit` are the new totals.
    event Extended(uint256 indexed rentalId, uint256 indexed deviceId, uint64 end, uint128 deposit);
    /// @notice A guest cancelled a rental before its start: `fee` credited to the host (0 outside
    /// the rental's cancel window), `refund` sent to the guest.
    event Cancelled(uint256 indexed rentalId, uint256 indexed deviceId, uint128 fee, uint128 refund);
    /// @notice A rental was settled: `charge` credited to the host, `refund` sent to the guest.
    event Settled(uint256 indexed rentalId, uint256 indexed deviceId, uint128 charge, uint128 refund, bool byReceipt);
    /// @notice A refund push failed, so the amount was credited for `withdraw` instead.
    event RefundCredited(address indexed guest, uint256 amount);
    /// @notice An account withdrew its credit.
    event Withdrawn(address indexed account, uint256 amount);

    /// @notice No device has this id.
    error UnknownDevice(uint256 deviceId);
    /// @notice Only the device's host may do this.
    error NotHost();
    /// @notice The device takes no new rentals.
    error DeviceInactive();
    /// @notice Registration parameters are out of range (zero signer or price, a deposit factor below
    /// 100 or above `MAX_DEPOSIT_FACTOR`, min > max, an energy price without a max power).
    error InvalidDevice();
    /// @notice The requested duration is outside the device's [min, max].
    error InvalidDuration(uint32 minDuration, uint32 maxDuration);
    /// @notice The requested start is in the past or more than `MAX_ADVANCE` ahead (or the end
    /// would not fit 64 bits).
    error InvalidStart();
    /// @notice A booking of the device may still run until `bookedUntil`, so the setting cannot change yet.
    error DeviceBusy(uint64 bookedUntil);
    /// @notice Another open booking holds the slot starting at `slotStart`.
    error WindowTaken(uint64 slotStart);
    /// @notice Calendar settings out of range: a slot shorter than `MIN_SLOT_SECONDS`, a
    /// `maxDuration` longer than `MAX_BOOKING_SLOTS` slots, or a cancel window beyond `MAX_ADVANCE`.
    error InvalidCalendar();
    /// @notice `msg.value` is not the deposit; `expected` is.
    error WrongDeposit(uint256 expected);
    /// @notice The rental does not match an open (unsettled, uncancelled) commitment.
    error RentalNotOpen(uint256 rentalId);
    /// @notice Only the rental's guest may do this.
    error NotGuest();
    /// @notice The rental has already started (cancel) or has already ended (extend).
    error WrongTime();
    /// @notice Settling by time is open to anyone only after the end plus the grace period.
    error TooEarly(uint64 openAt);
    /// @notice The receipt is not signed by the rental's signer (or the signature is malformed).
    error InvalidReceiptSignature();
    /// @notice The device's host revoked this key: it settles nothing and takes no new rentals.
    error RevokedSigner(address signer);
    /// @notice The caller has no credit to withdraw.
    error NothingToWithdraw();
    /// @notice Sending ETH failed.
    error TransferFailed();

    /// @notice Register a device owned by `msg.sender`, with its calendar settings (see `setCalendar`).
    /// Returns its id (1, 2, ...).
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
    ) external returns (uint256 deviceId);

    /// @notice Change prices and max power for future rentals.
    function setPrice(uint256 deviceId, uint128 pricePerSecond, uint128 pricePerWh, uint32 maxWatts) external;
    /// @notice Rotate the device's receipt signing key for new rentals. Open rentals keep the key
    /// they committed to at rent time, so their receipts still settle them (the gateway keeps the
    /// old key until they are settled). Refused (`RevokedSigner`) for a key the host has revoked.
    function setSigner(uint256 deviceId, address signer) external;
    /// @notice Revoke a gateway key of the caller's devices, for good (a stolen key): from this
    /// block on, no receipt it signed settles any rental of the caller's devices, `rent` and `extend`
    /// refuse devices whose signer it is (until `setSigner` names another key), and the open rentals
    /// made under it settle by time (`checkoutByTime`) or are cancelled before their start.
    function revokeSigner(address signer) external;
    /// @notice Open or close the device to new rentals.
    function setActive(uint256 deviceId, bool active) external;
    /// @notice Change the shortest and longest rental (extensions included) for rentals and
    /// extensions from now on. The shortest is also the least an early checkout by time charges, so
    /// it may be raised only while no booking of the device runs or waits (`DeviceBusy`); lowering it
    /// only helps guests and is always allowed. `InvalidDuration` for min 0 or min > max,
    /// `InvalidDevice` when the deposit of a `maxDuration` rental would not fit.
    function setDurations(uint256 deviceId, uint32 minDuration, uint32 maxDuration) external;

    /// @notice Set the calendar of a device: the slot length (`slotSeconds` >= `MIN_SLOT_SECONDS`,
    /// with `maxDuration` at most `MAX_BOOKING_SLOTS` slots) and the cancel window of rentals made
    /// from now on (at most `MAX_ADVANCE`). A new slot length is refused (`DeviceBusy`) until the
    /// device's `bookedUntil` has passed; the cancel window may change any time, as each rental
    /// keeps its own. `InvalidCalendar` for values out of range.
    function setCalendar(uint256 deviceId, uint32 slotSeconds, uint32 cancelWindow) external;

    /// @notice Rent `deviceId` from `start` (0 = now; else from now to now + `MAX_ADVANCE`) for
    /// `duration` seconds, paying exactly `quote(deviceId, duration)` as deposit. Every slot the
    /// window touches must be free (`WindowTaken` names the first held one).
    function rent(uint256 deviceId, uint64 start, uint32 duration) external payable returns (uint256 rentalId);
    /// @notice Extend an open rental by `extra` seconds, paying the deposit for them, when the
    /// slots after its end are free (`WindowTaken`).
    function extend(Rental calldata rental, uint32 extra) external payable;
    /// @notice Cancel a rental before it starts. Its slots are free again at once; the guest gets
    /// the deposit back less `cancelFee(rental)`, which goes to the host.
    function cancel(Rental calldata rental) external;
    /// @notice Settle with a usage receipt signed by the rental's signer (`RevokedSigner` once its
    /// host has revoked that key): the charge is `min(deposit, pricePerSecond × secondsUsed +
    /// pricePerWh × min(energyWh, the rental's energy allowance))`, and nothing before the
    /// rental's start (the device cannot have been used yet), so a receipt cannot take a future
    /// booking's deposit ahead of its guest's `cancel`. Anyone may call.
    /// Settling frees the rental's slots from the one holding now on.
    function checkout(Rental calldata rental, Receipt calldata receipt, bytes calldata signature) external;
    /// @notice Settle without a receipt. The guest may do it any time after the start and pays for the
    /// elapsed time (at least the minimum duration, at most the booked time); after `end + grace`
    /// anyone may do it and the booked time is charged. Either way the whole energy allowance is
    /// charged too (`pricePerWh × energyWh`, what the deposit reserved for energy): a receipt never
    /// charges more energy than that, so no settlement lets a guest pay less than the device measured.
    /// Settling frees the rental's slots from the one holding now on.
    function checkoutByTime(Rental calldata rental) external;
    /// @notice Pay out the caller's credit (host revenue and refunds that could not be pushed).
    function withdraw() external;

    /// @notice How far ahead a rental may start: 30 days (in seconds). Bounds how far ahead the
    /// device can be booked, and so the calendar's live range.
    function MAX_ADVANCE() external view returns (uint256);
    /// @notice The shortest calendar slot a host may set: 60 seconds.
    function MIN_SLOT_SECONDS() external view returns (uint32);
    /// @notice The most slots one booking may span (`maxDuration <= slotSeconds × MAX_BOOKING_SLOTS`):
    /// 10,080 (a week of minutes), which bounds the gas of a booking's overlap check.
    function MAX_BOOKING_SLOTS() external view returns (uint32);
    /// @notice Seconds after a rental's end during which only its guest may settle it by time; after
    /// that anyone may (set once, at deployment).
    function GRACE() external view returns (uint64);
    /// @notice The largest deposit factor a device may have, in percent (400 = 4× the rent), fixed in
    /// the code: a guest's worst case is never more than this multiple of the booked rent.
    function MAX_DEPOSIT_FACTOR() external view returns (uint16);
    /// @notice What renting `deviceId` for `duration` seconds costs at today's prices: the deposit
    /// to pay (`rent × depositFactor / 100 + energyCost`), the worst case a guest can be charged,
    /// the rent of the booked time and the energy the deposit prepays.
    function quote(uint256 deviceId, uint32 duration) external view returns (Quote memory);
    /// @notice A registered device.
    function device(uint256 deviceId) external view returns (Device memory);
    /// @notice The earliest start at or after `start` (0 or a past time = now) where a `duration`-second
    /// rental of `deviceId` finds all its slots free, or 0 when none is left before the horizon. Past
    /// the asked start it is a slot boundary: where a window next to a booking can begin. For guest
    /// pages and tools (an `eth_call`); `rent` itself checks the slots.
    function nextFree(uint256 deviceId, uint64 start, uint32 duration) external view returns (uint64);
    /// @notice What cancelling `rental` now costs its guest (credited to the host): 0 at least the
    /// rental's `cancelWindow` before its start, then growing linearly to the booked rent
    /// (pricePerSecond × (end − start)) at the start. `RentalNotOpen` for a rental not open,
    /// `WrongTime` once it has started (it can no longer be cancelled).
    function cancelFee(Rental calldata rental) external view returns (uint256);
    /// @notice Whether `rental` is an open commitment (rented, not yet settled or cancelled).
    function isOpen(Rental calldata rental) external view returns (bool);
    /// @notice Whether `host` has revoked the gateway key `signer` (see `revokeSigner`).
    function isRevoked(address host, address signer) external view returns (bool);
    /// @notice Withdrawable credit of `account`.
    function credit(address account) external view returns (uint256);
    /// @notice The EIP-712 digest of a receipt under this contract's domain.
    function receiptDigest(Receipt calldata receipt) external view returns (bytes32);
}
