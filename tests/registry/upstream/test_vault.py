"""Credentials at rest: sealed with a key from the settings, bound to their owner."""

import pytest

from registry.upstream import vault


def test_a_sealed_password_opens_with_the_same_purpose_only(settings):
    settings.BERTH_CREDENTIALS_KEY = "k" * 40
    sealed = vault.seal("s3cret", "cache-rule:1")
    assert "s3cret" not in sealed
    assert vault.unseal(sealed, "cache-rule:1") == "s3cret"
    with pytest.raises(vault.VaultError):
        vault.unseal(sealed, "cache-rule:2")


def test_an_older_key_still_opens_what_it_sealed_after_rotation(settings):
    settings.BERTH_CREDENTIALS_KEY = "old-key-" * 5
    sealed = vault.seal("s3cret", "x")
    settings.BERTH_CREDENTIALS_KEY = "new-key-" * 5 + "," + "old-key-" * 5
    assert vault.unseal(sealed, "x") == "s3cret"
    assert vault.key_id(vault.seal("s3cret", "x")) != vault.key_id(sealed)


def test_a_value_sealed_with_a_key_no_longer_configured_says_which_key_it_needs(settings):
    settings.BERTH_CREDENTIALS_KEY = "gone-key-" * 5
    sealed = vault.seal("s3cret", "x")
    settings.BERTH_CREDENTIALS_KEY = "other-key-" * 5
    with pytest.raises(vault.VaultError, match=vault.key_id(sealed)):
        vault.unseal(sealed, "x")


def test_without_a_configured_key_one_is_derived_from_the_secret_key(settings):
    settings.BERTH_CREDENTIALS_KEY = ""
    assert vault.unseal(vault.seal("s3cret", "x"), "x") == "s3cret"
