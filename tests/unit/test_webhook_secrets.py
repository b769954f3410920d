"""Webhook secrets: which verify a delivery, and what a rotation keeps (merchants/secrets.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orderhub.kernel.errors import ValidationFailed
from orderhub.merchants import secrets

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def verifying(profile, fmt, now):
    return [signer.secret for signer in secrets.verifying(profile, fmt, now)]


def test_the_old_secret_verifies_until_the_overlap_ends():
    profile = {"webhook_secrets": {"generic": "old-secret-0000000"}}
    profile.update(secrets.rotated(profile, "generic", "new-secret-1111111", NOW, timedelta(hours=24)))
    assert verifying(profile, "generic", NOW) == ["new-secret-1111111", "old-secret-0000000"]
    assert verifying(profile, "generic", NOW + timedelta(hours=23, minutes=59)) == [
        "new-secret-1111111",
        "old-secret-0000000",
    ]
    assert verifying(profile, "generic", NOW + timedelta(hours=24)) == ["new-secret-1111111"]
    assert verifying(profile, "shopify", NOW) == []


def test_a_rotation_without_overlap_or_previous_secret_keeps_none():
    profile = {
        "webhook_secrets": {"generic": "a" * 20},
        "previous_webhook_secrets": {"generic": {"secret": "b" * 20, "valid_until": "2099-01-01T00:00:00Z"}},
    }
    fields = secrets.rotated(profile, "generic", "c" * 20, NOW, timedelta(0))
    assert fields["webhook_secrets"] == {"generic": "c" * 20}
    assert fields["previous_webhook_secrets"] == {}
    assert secrets.rotated({}, "wish", "d" * 20, NOW, timedelta(hours=1))["previous_webhook_secrets"] == {}


def test_a_second_rotation_replaces_the_previous_secret():
    profile = {"webhook_secrets": {"generic": "first-secret-000000"}}
    profile.update(secrets.rotated(profile, "generic", "second-secret-00000", NOW, timedelta(hours=24)))
    profile.update(secrets.rotated(profile, "generic", "third-secret-000000", NOW, timedelta(hours=24)))
    assert verifying(profile, "generic", NOW) == ["third-secret-000000", "second-secret-00000"]


@pytest.mark.parametrize("value", ["short", " padded-secret-value ", "tab\tinside-the-secret", "x" * 257])
def test_a_given_secret_must_be_printable_and_16_to_256_characters(value):
    with pytest.raises(ValidationFailed) as exc:
        secrets.check_secret(value)
    assert exc.value.field == "secret"


def test_generated_secrets_are_long_and_distinct():
    made = {secrets.new_secret() for _ in range(50)}
    assert len(made) == 50 and all(len(s) >= 40 for s in made)


# ------------------------------------------------------- what each secret may speak for
def test_a_marketplace_secret_speaks_for_its_own_marketplace_only():
    profile = {"webhook_secrets": {"shopify": "s" * 20, "wish": "w" * 20}}
    [shopify] = secrets.verifying(profile, "shopify", NOW)
    assert secrets.speaks_for(shopify, "shopify")
    assert not secrets.speaks_for(shopify, "wish") and not secrets.speaks_for(shopify, "rakuten")


def test_the_generic_secret_speaks_for_what_was_declared_and_never_for_an_own_channel():
    profile = {"webhook_secrets": {"generic": "g" * 20}}
    [undeclared] = secrets.verifying(profile, "generic", NOW)
    assert not secrets.speaks_for(undeclared, "rakuten")  # none until declared
    profile["webhook_scopes"] = {"generic": ["rakuten", "qoo10"]}
    [generic] = secrets.verifying(profile, "generic", NOW)
    assert secrets.speaks_for(generic, "rakuten") and secrets.speaks_for(generic, "qoo10")
    assert not secrets.speaks_for(generic, "amazon")
    profile["webhook_scopes"] = {"generic": ["*"]}
    [anything] = secrets.verifying(profile, "generic", NOW)
    assert secrets.speaks_for(anything, "amazon")
    for own in ("shopify", "wish"):
        assert not secrets.speaks_for(anything, own)
        assert not secrets.speaks_for(secrets.Signer("x", (own, "*")), own)


@pytest.mark.parametrize(
    "fmt, value, rule",
    [
        ("generic", ["shopify"], "own_channel"),
        ("generic", ["rakuten", "wish"], "own_channel"),
        ("generic", [], "marketplace_list"),
        ("generic", "rakuten", "marketplace_list"),
        ("generic", ["Rakuten"], "marketplace_name"),
        ("generic", ["a#b"], "marketplace_name"),
        ("shopify", ["shopify"], "generic_only"),
    ],
)
def test_declared_marketplaces_are_checked(fmt, value, rule):
    with pytest.raises(ValidationFailed) as exc:
        secrets.check_marketplaces(fmt, value)
    assert (exc.value.field, exc.value.details["rule"]) == ("marketplaces", rule)


def test_during_an_overlap_the_old_secret_keeps_its_own_scope():
    profile = {
        "webhook_secrets": {"generic": "old-secret-0000000"},
        "webhook_scopes": {"generic": ["rakuten"]},
    }
    profile.update(
        secrets.rotated(profile, "generic", "new-secret-1111111", NOW, timedelta(hours=1), ["qoo10"])
    )
    new, old = secrets.verifying(profile, "generic", NOW)
    assert (new.marketplaces, old.marketplaces) == (("qoo10",), ("rakuten",))
    profile.update(secrets.rotated(profile, "generic", "third-secret-222222", NOW, timedelta(hours=1)))
    assert [s.marketplaces for s in secrets.verifying(profile, "generic", NOW)] == [("qoo10",), ("qoo10",)]
