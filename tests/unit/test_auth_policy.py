"""Scopes become an IAM policy that API Gateway enforces; the API re-checks them."""

from __future__ import annotations

from shared import auth

ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/v1/GET/wallets"


def _key(*scopes: str) -> auth.ApiKey:
    return auth.ApiKey(
        key_id="0123456789ab", name="t", scopes=[auth.Scope(s) for s in scopes], created_at=0, last_four="abcd"
    )


def _effect(policy: dict, method: str, path: str) -> str:
    """Evaluate a policy the way API Gateway does: an explicit Deny wins, else any Allow."""
    from fnmatch import fnmatchcase

    target = f"arn:aws:execute-api:us-east-1:123456789012:abc123/v1/{method}/{path}"
    matched = {
        s["Effect"] for s in policy["policyDocument"]["Statement"] for r in s["Resource"] if fnmatchcase(target, r)
    }
    return "Deny" if "Deny" in matched else "Allow" if "Allow" in matched else "Deny"


def test_read_key_may_only_read_and_never_manage_keys():
    policy = auth.policy_for(_key("read"), ARN, "0" * 64)
    assert _effect(policy, "GET", "wallets") == "Allow"
    assert _effect(policy, "POST", "segments") == "Deny"
    assert _effect(policy, "GET", "keys") == "Deny"
    assert policy["context"]["scopes"] == "read"


def test_write_key_may_write_but_not_manage_keys():
    policy = auth.policy_for(_key("write"), ARN, "0" * 64)
    assert _effect(policy, "POST", "segments") == "Allow"
    assert _effect(policy, "DELETE", "keys/0123456789ab") == "Deny"


def test_admin_key_may_do_everything():
    policy = auth.policy_for(_key("admin"), ARN, "0" * 64)
    assert _effect(policy, "POST", "keys") == "Allow"
    assert _effect(policy, "GET", "wallets/0xabc") == "Allow"


def test_personal_data_reads_are_refused_at_the_gateway_without_the_pii_scope():
    # Given keys with and without pii (admin implies it)
    for scopes, expected in [
        (("read",), "Deny"),
        (("write",), "Deny"),
        (("read", "pii"), "Allow"),
        (("admin",), "Allow"),
    ]:
        policy = auth.policy_for(_key(*scopes), ARN, "0" * 64)
        # When they read the export or a webhook's signing secret, then only a key that sees pii is let through
        assert _effect(policy, "GET", "contacts/export.csv") == expected, scopes
        assert _effect(policy, "GET", "campaigns/0123456789ab/webhook-secret") == expected, scopes
        # and the other reads are not affected
        assert _effect(policy, "GET", "contacts") == "Allow", scopes
        assert _effect(policy, "GET", "campaigns/0123456789ab") == "Allow", scopes


def test_required_scope_by_method_and_resource():
    assert auth.required_scope("GET", "/wallets") == auth.Scope.READ
    assert auth.required_scope("POST", "/segments") == auth.Scope.WRITE
    assert auth.required_scope("GET", "/keys") == auth.Scope.ADMIN
    assert auth.required_scope("GET", "/contacts/export.csv") == auth.Scope.PII
    assert auth.required_scope("GET", "/campaigns/0123456789ab/webhook-secret") == auth.Scope.PII
    assert auth.required_scope("GET", "/campaigns/0123456789ab/webhook-secret/x") == auth.Scope.READ


def test_bearer_secret_is_read_case_insensitively_and_rejects_other_schemes():
    assert auth.bearer_secret({"authorization": "Bearer kith_x_y"}) == "kith_x_y"
    assert auth.bearer_secret({"Authorization": "Basic abc"}) is None
    assert auth.bearer_secret({}) is None
