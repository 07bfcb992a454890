// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// A minimal smart-contract wallet for tests: one owner key, which sends its calls and signs for it.
/// Like Safe or Coinbase Smart Wallet it never accepts the owner's signature of the bare digest: the
/// owner signs keccak256(wallet, digest), so a signature for one wallet is worthless for another.
contract OwnerWallet {
    address public immutable owner;

    constructor(address owner_) payable {
        owner = owner_;
    }

    receive() external payable {}

    function execute(address to, uint256 value, bytes calldata data) external returns (bytes memory) {
        require(msg.sender == owner, "not owner");
        (bool ok, bytes memory out) = to.call{value: value}(data);
        if (!ok) {
            assembly {
                revert(add(out, 32), mload(out))
            }
        }
        return out;
    }

    /// The digest the owner signs on the wallet's behalf.
    function walletHash(bytes32 digest) public view returns (bytes32) {
        return keccak256(abi.encode(address(this), digest));
    }

    function isValidSignature(bytes32 digest, bytes calldata signature) external view returns (bytes4) {
        if (signature.length != 65) return 0xffffffff;
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if (uint256(s) > 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0) return 0xffffffff;
        address signer = ecrecover(walletHash(digest), v, r, s);
        return signer != address(0) && signer == owner ? bytes4(0x1626ba7e) : bytes4(0xffffffff);
    }
}
