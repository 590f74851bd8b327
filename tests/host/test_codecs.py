"""Pure codecs: keys, the UAPI text protocol, kernel WireGuard replies."""

from __future__ import annotations

import base64

import pytest

from warpcli.core import keys
from warpcli.core.errors import InvalidInput
from warpcli.host.wireguard import uapi, wg_kernel

# RFC 7748, section 6.1 (Alice)
ALICE_PRIVATE = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
ALICE_PUBLIC = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"


def test_public_key_matches_rfc7748():
    assert keys.b64_to_hex(keys.public_key(keys.hex_to_b64(ALICE_PRIVATE))) == ALICE_PUBLIC


def test_generated_pairs_are_clamped_and_consistent():
    pair = keys.generate_keypair()
    raw = base64.b64decode(pair.private_key)
    assert len(raw) == 32 and raw[0] & 7 == 0 and raw[31] & 0x80 == 0 and raw[31] & 0x40
    assert keys.public_key(pair.private_key) == pair.public_key
    assert pair.private_key not in repr(pair)
    assert keys.generate_keypair() != pair


def test_hex_roundtrip_and_invalid_keys_are_not_echoed():
    pair = keys.generate_keypair()
    assert keys.hex_to_b64(keys.b64_to_hex(pair.public_key)) == pair.public_key
    bad = pair.private_key[:-4] + "!!!="
    with pytest.raises(InvalidInput) as err:
        keys.b64_to_hex(bad, "private key")
    assert bad not in str(err.value) and "invalid WireGuard private key" in str(err.value)
    with pytest.raises(InvalidInput):
        keys.hex_to_b64("zz" * 32)
    with pytest.raises(InvalidInput):
        keys.validate_key(base64.b64encode(b"x" * 31).decode())


def test_encode_set_order_and_content():
    priv, peer = keys.generate_keypair(), keys.generate_keypair()
    text = uapi.encode_set(private_key=priv.private_key, listen_port=51820, peers=[
        uapi.PeerConfig(peer.public_key, endpoint="[fd00::1]:51821", allowed_ips=("10.1.0.0/24", "fd00:1::/64"),
                        persistent_keepalive=25),
        uapi.PeerConfig(keys.generate_keypair().public_key, remove=True),
    ]).decode()
    lines = text.split("\n")
    assert lines[:4] == ["set=1", f"private_key={keys.b64_to_hex(priv.private_key)}", "listen_port=51820",
                         "replace_peers=true"]
    assert lines[4:10] == [f"public_key={keys.b64_to_hex(peer.public_key)}", "endpoint=[fd00::1]:51821",
                           "persistent_keepalive_interval=25", "replace_allowed_ips=true",
                           "allowed_ip=10.1.0.0/24", "allowed_ip=fd00:1::/64"]
    assert lines[11] == "remove=true" and text.endswith("\n\n") and text.count("\n\n") == 1
    assert "replace_peers" not in uapi.encode_set(replace_peers=False).decode()


@pytest.mark.parametrize("bad", ["10.0.0.1", "10.0.0.1:0", "10.0.0.1:70000", ":51820", "10.0.0.1:x"])
def test_bad_endpoints(bad):
    with pytest.raises(InvalidInput, match="invalid endpoint"):
        uapi.format_endpoint(bad)


def test_endpoint_forms():
    assert uapi.format_endpoint("10.0.0.1:51820") == "10.0.0.1:51820"
    assert uapi.format_endpoint("[fd00:0::1]:1") == "[fd00::1]:1"
    assert uapi.format_endpoint("localhost:5") in ("127.0.0.1:5", "[::1]:5")


def test_allowed_ips_are_strict_and_cannot_inject_lines():
    for bad in ("10.0.0.1/24", "10.0.0.0/24\nremove=true"):
        with pytest.raises(InvalidInput):
            uapi.encode_set(peers=[uapi.PeerConfig(keys.generate_keypair().public_key, allowed_ips=(bad,))])


def test_parse_get_reply():
    priv, peer = keys.generate_keypair(), keys.generate_keypair()
    reply = (f"private_key={keys.b64_to_hex(priv.private_key)}\nlisten_port=51820\n"
             f"public_key={keys.b64_to_hex(peer.public_key)}\npreshared_key={'0' * 64}\nprotocol_version=1\n"
             "endpoint=10.200.0.2:51821\nlast_handshake_time_sec=1700000000\nlast_handshake_time_nsec=500000000\n"
             "tx_bytes=1000\nrx_bytes=2000\npersistent_keepalive_interval=0\n"
             "allowed_ip=100.96.0.2/32\nallowed_ip=10.2.0.0/24\nerrno=0\n\n")
    status = uapi.parse_get(reply)
    assert status.public_key == priv.public_key and status.listen_port == 51820 and status.fwmark is None
    [p] = status.peers
    assert p == uapi.PeerStatus(peer.public_key, "10.200.0.2:51821", ("100.96.0.2/32", "10.2.0.0/24"),
                                1700000000.5, 2000, 1000, 0)
    assert priv.private_key not in repr(status)
    assert uapi.parse_get("listen_port=1\nerrno=0\n\n").peers == ()


def test_kernel_reply_parsing():
    from pyroute2.netlink.generic.wireguard import wgmsg

    dev, peer = keys.generate_keypair(), keys.generate_keypair()
    msg = wgmsg()
    msg["cmd"], msg["version"] = 0, 1
    msg["attrs"] = [
        ["WGDEVICE_A_IFNAME", "wg0"],
        ["WGDEVICE_A_PUBLIC_KEY", dev.public_key],
        ["WGDEVICE_A_LISTEN_PORT", 51820],
        ["WGDEVICE_A_PEERS", [{"attrs": [
            ["WGPEER_A_PUBLIC_KEY", peer.public_key],
            ["WGPEER_A_ENDPOINT", {"addr": "10.0.0.2", "port": 51821}],
            ["WGPEER_A_LAST_HANDSHAKE_TIME", {"tv_sec": 1700000000, "tv_nsec": 0}],
            ["WGPEER_A_RX_BYTES", 100], ["WGPEER_A_TX_BYTES", 200],
            ["WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL", 25],
            ["WGPEER_A_ALLOWEDIPS", [{"attrs": [["WGALLOWEDIP_A_FAMILY", 2],
                                                ["WGALLOWEDIP_A_IPADDR", bytes([10, 1, 0, 0])],
                                                ["WGALLOWEDIP_A_CIDR_MASK", 24]]}]],
        ]}]],
    ]
    msg.encode()
    decoded = wgmsg(msg.data)
    decoded.decode()
    status = wg_kernel.parse_info([decoded])
    assert (status.public_key, status.listen_port) == (dev.public_key, 51820)
    assert status.peers == (uapi.PeerStatus(peer.public_key, "10.0.0.2:51821", ("10.1.0.0/24",),
                                            1700000000.0, 100, 200, 25),)
