"""SecretBox: two-factor secrets sealed with AES-256-GCM, bound to their owner (TF-7, TF-8)."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from panelauth.core.secretbox import (
    KEY_BYTES,
    NONCE_BYTES,
    SecretBox,
    SecretUnreadable,
    load_or_create_key,
)

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
OLD_KEY = bytes(range(32))
NEW_KEY = bytes(range(100, 132))


def test_seal_then_open_gives_the_secret_back_without_storing_it_in_clear() -> None:
    box = SecretBox([NEW_KEY])
    sealed = box.seal(SECRET, owner="bob")
    assert SECRET.encode() not in sealed
    assert box.open(sealed, owner="bob") == SECRET


def test_every_seal_uses_a_fresh_nonce() -> None:
    box = SecretBox([NEW_KEY])
    first, second = box.seal(SECRET, owner="bob"), box.seal(SECRET, owner="bob")
    assert first[:NONCE_BYTES] != second[:NONCE_BYTES]
    assert first != second


def test_a_sealed_secret_copied_to_another_user_does_not_open() -> None:
    box = SecretBox([NEW_KEY])
    sealed = box.seal(SECRET, owner="bob")
    with pytest.raises(SecretUnreadable):
        box.open(sealed, owner="carol")


@pytest.mark.parametrize(
    "damage",
    [
        lambda sealed: sealed[:-1] + bytes([sealed[-1] ^ 1]),  # tag flipped
        lambda sealed: bytes([sealed[0] ^ 1]) + sealed[1:],  # nonce flipped
        lambda sealed: sealed[:NONCE_BYTES],  # no body at all
        lambda sealed: b"",
        lambda sealed: sealed[:4],  # shorter than any nonce
    ],
)
def test_tampered_or_truncated_ciphertexts_fail_closed(damage: Callable[[bytes], bytes]) -> None:
    box = SecretBox([NEW_KEY])
    sealed = box.seal(SECRET, owner="bob")
    with pytest.raises(SecretUnreadable):
        box.open(damage(sealed), owner="bob")


def test_rotation_seals_with_the_first_key_and_opens_with_any() -> None:
    old_sealed = SecretBox([OLD_KEY]).seal(SECRET, owner="bob")
    rotated = SecretBox([NEW_KEY, OLD_KEY])
    assert rotated.open(old_sealed, owner="bob") == SECRET
    new_sealed = rotated.seal(SECRET, owner="bob")
    assert SecretBox([NEW_KEY]).open(new_sealed, owner="bob") == SECRET
    with pytest.raises(SecretUnreadable):
        SecretBox([OLD_KEY]).open(new_sealed, owner="bob")


def test_a_box_without_the_key_cannot_read_the_secret() -> None:
    sealed = SecretBox([OLD_KEY]).seal(SECRET, owner="bob")
    with pytest.raises(SecretUnreadable):
        SecretBox([NEW_KEY]).open(sealed, owner="bob")


@pytest.mark.parametrize(
    "keys",
    [
        [],
        [b"\x00" * 16],  # AES-128 is not accepted: the box is AES-256 only
        [b"\x00" * 33],
        [NEW_KEY, b"short"],  # every key in the list must be a 256-bit key
    ],
)
def test_refuses_anything_but_32_byte_keys(keys: list[bytes]) -> None:
    with pytest.raises(ValueError, match="32-byte keys"):
        SecretBox(keys)


def test_creates_the_key_file_once_private_to_its_owner(tmp_path: Path) -> None:
    path = tmp_path / "data" / "tfa.key"
    key = load_or_create_key(path)
    assert len(key) == KEY_BYTES
    assert path.read_bytes() == key
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_or_create_key(path) == key  # read back, not replaced


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_refuses_a_key_file_of_the_wrong_size(tmp_path: Path, size: int) -> None:
    path = tmp_path / "tfa.key"
    path.write_bytes(b"k" * size)
    with pytest.raises(ValueError, match="not a 32-byte key") as raised:
        load_or_create_key(path)
    assert str(path) in str(raised.value)
    assert path.read_bytes() == b"k" * size  # never overwritten: that would lose every secret
