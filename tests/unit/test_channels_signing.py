"""Webhook signatures: sign, verify, tampering, staleness and malformed headers (pure)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from shared.channels.webhook import sign, verify

SECRET = b"whsec-test-secret"
BODY = b'{"id":"s1","body":"gm"}'
NOW = 1_767_225_600


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    # Given a body signed at NOW
    header = sign(SECRET, NOW, BODY)
    # Then the header carries the timestamp and the documented HMAC
    expected = hmac.new(SECRET, f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},v1={expected}"


def test_a_fresh_signature_verifies() -> None:
    header = sign(SECRET, NOW, BODY)
    assert verify(SECRET, header, BODY, now=NOW + 10)
    assert verify(SECRET.decode(), header, BODY, now=NOW - 10)  # a str secret is accepted too


@pytest.mark.parametrize(
    "tampered",
    [BODY + b" ", BODY.replace(b"gm", b"gn"), b"", BODY.upper()],
)
def test_a_tampered_body_fails(tampered: bytes) -> None:
    # Given a valid signature for BODY
    header = sign(SECRET, NOW, BODY)
    # When any other body is presented with it, Then it fails
    assert not verify(SECRET, header, tampered, now=NOW)


def test_the_wrong_secret_fails() -> None:
    assert not verify(b"another-secret", sign(SECRET, NOW, BODY), BODY, now=NOW)


def test_a_changed_timestamp_fails() -> None:
    # Given an attacker who moves the timestamp forward to dodge the staleness check
    digest = sign(SECRET, NOW, BODY).split("v1=")[1]
    forged = f"t={NOW + 3600},v1={digest}"
    # Then the signature no longer matches
    assert not verify(SECRET, forged, BODY, now=NOW + 3600)


@pytest.mark.parametrize("age", [301, 3600, -301])
def test_stale_or_future_timestamps_fail(age: int) -> None:
    header = sign(SECRET, NOW, BODY)
    assert not verify(SECRET, header, BODY, now=NOW + age)


def test_tolerance_is_configurable() -> None:
    header = sign(SECRET, NOW, BODY)
    assert verify(SECRET, header, BODY, tolerance_s=3600, now=NOW + 3000)
    assert not verify(SECRET, header, BODY, tolerance_s=60, now=NOW + 61)


@pytest.mark.parametrize(
    "header",
    [None, "", "garbage", f"t={NOW}", "v1=abc", f"t=abc,v1={'0' * 64}", f"t={NOW},v1=", f"t=-{NOW},v1=00"],
)
def test_malformed_headers_fail(header: str | None) -> None:
    assert not verify(SECRET, header, BODY, now=NOW)


def test_any_of_several_v1_entries_may_match_during_rotation() -> None:
    # Given a header signed with the new secret plus a signature from the old one
    new = sign(SECRET, NOW, BODY)
    old_digest = sign(b"old-secret", NOW, BODY).split("v1=")[1]
    header = f"{new},v1={old_digest}"
    # Then receivers holding either secret accept it
    assert verify(SECRET, header, BODY, now=NOW)
    assert verify(b"old-secret", header, BODY, now=NOW)
    assert not verify(b"third-secret", header, BODY, now=NOW)
