"""Secrets at rest: Fernet (AES-128-CBC + HMAC) with the keys from STUDIO_ENCRYPTION_KEYS.

The first key encrypts; every key decrypts, so a new key can be put in front and old rows
re-encrypted with ``rotate`` before the old key is dropped.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretUnreadable(Exception):
    """No configured key decrypts this secret (a key was removed before rotation)."""


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in settings.STUDIO_ENCRYPTION_KEYS])


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("no configured encryption key can read this secret") from None


def rotate(token: str) -> str:
    """The same secret, encrypted under the current first key."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("no configured encryption key can read this secret") from None


def generate_key() -> str:
    return Fernet.generate_key().decode()
