import pytest

from wallets import crypto, keys
from wallets.models import Wallet


def test_round_trip_and_ciphertext_hides_the_secret(settings):
    settings.STUDIO_ENCRYPTION_KEYS = [crypto.generate_key()]
    token = crypto.encrypt("0xsecret-material")
    assert "secret-material" not in token
    assert crypto.decrypt(token) == "0xsecret-material"


def test_rotation_moves_secrets_to_the_new_key(settings, db):
    old, new = crypto.generate_key(), crypto.generate_key()
    settings.STUDIO_ENCRYPTION_KEYS = [old]
    wallet = keys.create_evm_wallet("team")
    secret = crypto.decrypt(wallet.secret_encrypted)

    settings.STUDIO_ENCRYPTION_KEYS = [new, old]
    assert keys.rotate_encryption() == 1
    settings.STUDIO_ENCRYPTION_KEYS = [new]
    assert crypto.decrypt(Wallet.objects.get().secret_encrypted) == secret


def test_a_removed_key_makes_secrets_unreadable_not_garbage(settings):
    settings.STUDIO_ENCRYPTION_KEYS = [crypto.generate_key()]
    token = crypto.encrypt("secret")
    settings.STUDIO_ENCRYPTION_KEYS = [crypto.generate_key()]
    with pytest.raises(crypto.SecretUnreadable):
        crypto.decrypt(token)
