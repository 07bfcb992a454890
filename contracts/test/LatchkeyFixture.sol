// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Latchkey} from "../src/Latchkey.sol";
import {ILatchkey} from "../src/ILatchkey.sol";
import {Test} from "./lib/Test.sol";

/// @notice A deployed Latchkey with one registered socket, a host, a guest and the device key,
/// plus helpers to rent and to sign receipts the way a gateway does.
abstract contract LatchkeyFixture is Test {
    uint64 internal constant GRACE = 3600;
    uint128 internal constant PRICE = 1e12; // wei per second: 0.0036 ether an hour
    uint128 internal constant PRICE_WH = 1e13; // wei per watt-hour
    uint16 internal constant FACTOR = 200;
    /// @dev 3.6 kW: an allowance of exactly 1 Wh per second, so deposits add up across extensions.
    uint32 internal constant MAX_WATTS = 3600;
    uint32 internal constant MIN = 60;
    uint32 internal constant MAX = 7 days;
    /// @dev Minute slots (the shortest); T0 is on a slot boundary, so whole-minute bookings from it
    /// sit back to back.
    uint32 internal constant SLOT = 60;
    /// @dev No cancel window by default (every cancel free); the calendar tests set one.
    uint32 internal constant CANCEL_WINDOW = 0;
    uint256 internal constant T0 = 1_750_000_020;

    uint256 internal constant SIGNER_KEY = 0xA11CE;
    uint256 internal constant OTHER_KEY = 0xB0B;
    bytes32 internal constant RECEIPT_TYPEHASH =
        keccak256("Receipt(uint256 rentalId,uint64 secondsUsed,uint64 energyWh)");
    /// @dev secp256k1 group order: `n - s` flips a signature to its high-s twin.
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    Latchkey internal latchkey;
    uint256 internal deviceId;
    address internal signer;
    address internal host = address(0x4057);
    address internal guest = address(0x6E57);
    address internal stranger = address(0x5742);

    function setUp() public virtual {
        vm.warp(T0);
        latchkey = new Latchkey(GRACE);
        signer = vm.addr(SIGNER_KEY);
        vm.prank(host);
        deviceId = latchkey.registerDevice(
            signer, ILatchkey.Kind.Socket, PRICE, PRICE_WH, FACTOR, MIN, MAX, MAX_WATTS, SLOT, CANCEL_WINDOW
        );
        vm.deal(guest, 1000 ether);
        vm.deal(stranger, 1000 ether);
        vm.label(address(latchkey), "Latchkey");
        vm.label(host, "host");
        vm.label(guest, "guest");
        vm.label(stranger, "stranger");
    }

    /// @dev Rents `deviceId` as `who`, paying the quoted deposit, and returns the committed rental.
    function _rent(address who, uint64 start, uint32 duration) internal returns (ILatchkey.Rental memory) {
        return _rentDevice(deviceId, who, start, duration);
    }

    function _rentDevice(uint256 id, address who, uint64 start, uint32 duration)
        internal
        returns (ILatchkey.Rental memory r)
    {
        ILatchkey.Device memory d = latchkey.device(id);
        uint256 deposit = latchkey.quote(id, duration).deposit;
        vm.prank(who);
        r.id = latchkey.rent{value: deposit}(id, start, duration);
        r.cancelWindow = d.cancelWindow;
        r.guest = who;
        r.start = start == 0 ? uint64(block.timestamp) : start;
        r.end = r.start + duration;
        r.deposit = uint128(deposit);
        r.pricePerSecond = d.pricePerSecond;
        r.pricePerWh = d.pricePerWh;
        r.signer = d.signer;
        r.maxWatts = d.maxWatts;
    }

    /// @dev The fixture device's deposit for `seconds` at today's prices. At `MAX_WATTS` the
    /// energy allowance is exactly 1 Wh a second, so this is also what an extension by `seconds` costs.
    function _deposit(uint256 seconds_) internal view returns (uint256) {
        return latchkey.quote(deviceId, uint32(seconds_)).deposit;
    }

    /// @dev Takes the energy price off the fixture device, for tests of the time rules alone.
    function _timePriceOnly() internal {
        vm.prank(host);
        latchkey.setPrice(deviceId, PRICE, 0, MAX_WATTS);
    }

    function _receipt(ILatchkey.Rental memory r, uint64 secondsUsed, uint64 energyWh)
        internal
        pure
        returns (ILatchkey.Receipt memory)
    {
        return ILatchkey.Receipt({rentalId: r.id, secondsUsed: secondsUsed, energyWh: energyWh});
    }

    /// @dev The EIP-712 digest computed here from first principles, not by the contract.
    function _digest(ILatchkey.Receipt memory receipt) internal view returns (bytes32) {
        bytes32 domainSeparator = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("Latchkey"),
                keccak256("1"),
                block.chainid,
                address(latchkey)
            )
        );
        bytes32 structHash =
            keccak256(abi.encode(RECEIPT_TYPEHASH, receipt.rentalId, receipt.secondsUsed, receipt.energyWh));
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator, structHash));
    }

    /// @dev A 65-byte `r ‖ s ‖ v` signature, as ethers and noble produce.
    function _sign(uint256 key, ILatchkey.Receipt memory receipt) internal view returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, _digest(receipt));
        return abi.encodePacked(r, s, v);
    }

    function _checkout(ILatchkey.Rental memory r, uint64 secondsUsed, uint64 energyWh) internal {
        ILatchkey.Receipt memory receipt = _receipt(r, secondsUsed, energyWh);
        latchkey.checkout(r, receipt, _sign(SIGNER_KEY, receipt));
    }
}
