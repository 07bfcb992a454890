// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Latchkey rental contract interface
/// @notice The single source of the types, events and errors of the Latchkey rental contract.
/// Hosts register devices (smart locks, power sockets) with a price; guests rent a time window by
/// paying a deposit (rent × deposit factor); the device's gateway key signs a usage receipt and
/// anyone may submit it to settle: the host is credited the metered charge (capped at the deposit)
/// and the guest gets the rest back. Every deposit stays in escrow until its rental is settled.
///
/// Bookings: a device keeps only `bookedUntil`, the end of its latest booking, and a new rental
/// starts at or after it, so the rentals of a device never overlap. Each rental commits the
/// `bookedUntil` it was booked after (`bookedBefore`), so the device can move back to it. It
/// moves back in two cases: cancelling the last booking rewinds it to that booking's
/// `bookedBefore` (the gap before a cancelled booking is free again at once), and settling the
/// last booking before its end (an early checkout, by receipt or by time) rewinds it to the
/// settlement time, or to the booking's `bookedBefore` if that is later. A booking's start may be
/// at most `MAX_ADVANCE` ahead of the time it is made.
///
/// Known limitations. Bookings are appended, so a booking far ahead makes every window before it
/// unrentable until its start, and the window of a cancelled booking that another booking follows
/// cannot be rented either (the contract keeps no calendar of gaps). So anyone can keep a device
/// unrentable without paying rent: book at the horizon, cancel just before the start (full
/// refund) and book again. The horizon bounds each round: `bookedUntil` is never more than
/// `MAX_ADVANCE` plus the device's `maxDuration` ahead of now, and the host sees every round as
/// `Rented`/`Cancelled` events.
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
        uint32 maxDuration; // seconds; upper bound of one rental including extensions
        uint16 depositFactor; // percent of the rent taken as deposit, 100..MAX_DEPOSIT_FACTOR (200 = 2x)
        Kind kind;
        bool active; // inactive devices take no new rentals; open ones run to the end
        address signer; // the gateway key that signs the receipts of rentals made from now on
        uint64 bookedUntil; // a new rental starts at or after it; see "Bookings" above
        uint32 rentalCount; // rentals ever made on this device; the low bits of a rental id
        uint128 pricePerSecond; // wei per second of rental; sets the rent and the deposit
        uint128 pricePerWh; // wei per watt-hour metered by the device (0 when not metered)
        uint32 maxWatts; // the most power the socket delivers; sizes the energy a deposit prepays
    }

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
        uint64 bookedBefore; // the device's `bookedUntil` when it was rented; where a cancel rewinds to
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
        uint64 bookedBefore
    );
    /// @notice A guest extended a rental; `end` and `deposit` are the new totals.
    event Extended(uint256 indexed rentalId, uint256 indexed deviceId, uint64 end, uint128 deposit);
    /// @notice A guest cancelled a rental before its start and got the whole deposit back.
    event Cancelled(uint256 indexed rentalId, uint256 indexed deviceId);
    /// @notice A rental was settled: `charge` credited to the host, `refund` sent to the guest.
    event Settled(
        uint256 indexed rentalId, uint256 indexed deviceId, uint128 charge, uint128 refund, bool byReceipt
    );
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
    /// @notice The device is booked until `bookedUntil`; a new rental must start at or after it.
    error DeviceBusy(uint64 bookedUntil);
    /// @notice `msg.value` is not the deposit; `expected` is.
    error WrongDeposit(uint256 expected);
    /// @notice The rental does not match an open (unsettled, uncancelled) commitment.
    error RentalNotOpen(uint256 rentalId);
    /// @notice Only the rental's guest may do this.
    error NotGuest();
    /// @notice The rental has already started (cancel) or has already ended (extend).
    error WrongTime();
    /// @notice Another booking follows this rental, so it cannot be extended.
    error NotLastBooking();
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

    /// @notice Register a device owned by `msg.sender`. Returns its id (1, 2, ...).
    function registerDevice(
        address signer,
        Kind kind,
        uint128 pricePerSecond,
        uint128 pricePerWh,
        uint16 depositFactor,
        uint32 minDuration,
        uint32 maxDuration,
        uint32 maxWatts
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

    /// @notice Rent `deviceId` from `start` (0 = now; else from now to now + `MAX_ADVANCE`) for
    /// `duration` seconds, paying exactly `quote(deviceId, duration)` as deposit. The start must
    /// be at or after the device's `bookedUntil` (`DeviceBusy` before).
    function rent(uint256 deviceId, uint64 start, uint32 duration) external payable returns (uint256 rentalId);
    /// @notice Extend an open rental by `extra` seconds, paying the deposit for them.
    function extend(Rental calldata rental, uint32 extra) external payable;
    /// @notice Cancel a rental before it starts: the whole deposit goes back to the guest. If it
    /// is the device's last booking, the device is free again from the rental's `bookedBefore`
    /// (the end of the booking before it, or now); if another booking follows, its window stays
    /// unrentable (see the limitation above).
    function cancel(Rental calldata rental) external;
    /// @notice Settle with a usage receipt signed by the rental's signer (`RevokedSigner` once its
    /// host has revoked that key): the charge is `min(deposit, pricePerSecond × secondsUsed +
    /// pricePerWh × min(energyWh, the rental's energy allowance))`, and nothing before the
    /// rental's start (the device cannot have been used yet), so a receipt cannot take a future
    /// booking's deposit ahead of its guest's `cancel`. Anyone may call.
    /// Settling the device's last booking before its end frees the device from now on (from the
    /// rental's `bookedBefore`, if that is later).
    function checkout(Rental calldata rental, Receipt calldata receipt, bytes calldata signature) external;
    /// @notice Settle without a receipt. The guest may do it any time after the start and pays for the
    /// elapsed time (at least the minimum duration, at most the booked time); after `end + grace`
    /// anyone may do it and the booked time is charged. Either way the whole energy allowance is
    /// charged too (`pricePerWh × energyWh`, what the deposit reserved for energy): a receipt never
    /// charges more energy than that, so no settlement lets a guest pay less than the device measured. A guest settling the device's last booking
    /// before its end frees the device from now on (from the rental's `bookedBefore`, if later).
    function checkoutByTime(Rental calldata rental) external;
    /// @notice Pay out the caller's credit (host revenue and refunds that could not be pushed).
    function withdraw() external;

    /// @notice How far ahead a rental may start: 30 days (in seconds). Bounds how far ahead the
    /// device can be booked, and so how long a window left by a cancelled booking can stay unused.
    function MAX_ADVANCE() external view returns (uint256);
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
    /// @notice Whether `rental` is an open commitment (rented, not yet settled or cancelled).
    function isOpen(Rental calldata rental) external view returns (bool);
    /// @notice Whether `host` has revoked the gateway key `signer` (see `revokeSigner`).
    function isRevoked(address host, address signer) external view returns (bool);
    /// @notice Withdrawable credit of `account`.
    function credit(address account) external view returns (uint256);
    /// @notice The EIP-712 digest of a receipt under this contract's domain.
    function receiptDigest(Receipt calldata receipt) external view returns (bytes32);
}
