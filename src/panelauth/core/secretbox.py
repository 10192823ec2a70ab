"""Encryption at rest for two-factor secrets, with a key kept outside the database (TF-8).

AES-256-GCM (cryptography); the user name is authenticated data, so a ciphertext copied to
another user's row does not decrypt. Keys are a list: encrypt with the first, decrypt with any
(rotation, as itsdangerous does with signing keys).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted: fail closed (TF-7)."""


class SecretBox:
    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys or any(len(key) != KEY_BYTES for key in keys):
            raise ValueError("SecretBox needs 32-byte keys")
        self._ciphers = [AESGCM(key) for key in keys]

    def seal(self, plaintext: str, *, owner: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._ciphers[0].encrypt(nonce, plaintext.encode(), owner.encode())

    def open(self, sealed: bytes, *, owner: str) -> str:
        nonce, body = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
        for cipher in self._ciphers:
            try:
                return cipher.decrypt(nonce, body, owner.encode()).decode()
            except (InvalidTag, ValueError, UnicodeDecodeError):
                continue
        raise SecretUnreadable(owner)


KEY_ID_SETTING = "tfa_key_id"


def key_id(key: bytes) -> str:
    """A name for the key that reveals nothing of it: which key the store's secrets are sealed
    with, so a node with another key (or none) refuses to start instead of failing every code."""
    return hmac.new(key, b"panelauth two-factor key id", hashlib.sha256).hexdigest()[:32]


def load_or_create_key(path: Path) -> bytes:
    """The key file (mode 0600), created at first use."""
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        key = os.urandom(KEY_BYTES)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        return key
    if len(key) != KEY_BYTES:
        raise ValueError(f"{path}: not a {KEY_BYTES}-byte key")
    return key
