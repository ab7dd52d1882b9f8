"""Rule (3): API token created, global API key viewed/rotated, administrator member added."""

from __future__ import annotations

import json

import pytest
from alert_factories import ACCOUNT, T0, api_activity

from streams.alerts import AlertConfig, SensitiveChange

RULE = SensitiveChange()


def fire(event):
    subject = RULE.subject(event)
    state, findings = RULE.step(None, event, T0)
    assert state is None  # stateless
    if subject is None:
        assert findings == []
    return findings


def v1(uid, action, *, activity_id=99, resource_type="account", raw_extra=None, **kw):
    raw = {"id": uid, "action": {"result": True, "type": action},
           "resource": {"id": "r1", "type": resource_type}, "metadata": {}, **(raw_extra or {})}
    return api_activity(uid, T0, operation=action, activity_id=activity_id,
                        resources=[{"type": resource_type, "uid": "r1", "name": None}],
                        raw=raw, **kw)


def v2(uid, action, resource_type, *, activity_id, product=None, request=None, response=None,
       **kw):
    raw = {"id": uid, "action": {"type": action, "result": "success"},
           "resource": {"id": "r2", "type": resource_type, "product": product,
                        "request": request or {}, "response": response or {}}}
    return api_activity(uid, T0, operation=action, activity_id=activity_id,
                        resources=[{"type": resource_type, "uid": "r2", "name": None}],
                        raw=raw, log_name="audit_logs_v2", service=product, **kw)


@pytest.mark.parametrize(
    ("action", "activity_id", "analytic", "severity_id"),
    [
        ("token_create", 1, "cfkafka.audit.api_token_created", 3),
        ("API_key_view", 2, "cfkafka.audit.global_api_key_viewed", 4),
        ("rotate_API_key", 3, "cfkafka.audit.global_api_key_rotated", 4),
    ],
)
def test_audit_v1_credential_actions_fire(action, activity_id, analytic, severity_id):
    findings = fire(v1("e1", action, activity_id=activity_id))
    assert len(findings) == 1
    finding = findings[0]
    assert finding["finding_info"]["analytic"]["uid"] == analytic
    assert finding["severity_id"] == severity_id
    assert finding["finding_info"]["related_events"] == [
        {"uid": "e1", "time": T0, "type_uid": 600300 + activity_id,
         "type_name": finding["finding_info"]["related_events"][0]["type_name"]}]
    assert "mallory@example.com" in finding["finding_info"]["title"]
    assert finding["evidences"][0]["actor"]["user"]["email_addr"] == "mallory@example.com"
    assert RULE.subject(v1("e1", action)) == f"account:{ACCOUNT}"


def test_failed_or_unrelated_actions_do_not_fire():
    assert fire(v1("e1", "token_create", status_id=2)) == []
    assert fire(v1("e2", "token_revoke", activity_id=4)) == []
    assert fire(v1("e3", "rec_add", activity_id=1, resource_type="DNS_record")) == []
    assert fire(v1("e4", "login", activity_id=99)) == []
    # the same operation in another dataset is not an audit event
    assert fire(v1("e5", "token_create", log_name="http_requests")) == []


@pytest.mark.parametrize(
    ("action", "resource_type", "activity_id", "analytic"),
    [
        ("create", "tokens", 1, "cfkafka.audit.api_token_created"),
        ("create", "api_tokens", 1, "cfkafka.audit.api_token_created"),
        ("view", "api_key", 2, "cfkafka.audit.global_api_key_viewed"),
        ("update", "api_key", 3, "cfkafka.audit.global_api_key_rotated"),
    ],
)
def test_audit_v2_credential_actions_fire(action, resource_type, activity_id, analytic):
    findings = fire(v2("e9", action, resource_type, activity_id=activity_id))
    assert [f["finding_info"]["analytic"]["uid"] for f in findings] == [analytic]


def test_audit_v2_token_by_product_name():
    event = v2("e9", "create", "account_tokens_x", activity_id=1, product="api_tokens")
    assert len(fire(event)) == 1


def test_audit_v2_other_creates_do_not_fire():
    assert fire(v2("e9", "create", "dns_records", activity_id=1)) == []
    assert fire(v2("e9", "delete", "tokens", activity_id=4)) == []


def test_v1_member_added_with_administrator_role_fires():
    raw_extra = {"newValueJson": {"email": "eve@example.org", "roles": [
        {"id": "05784afa30c1afe1440e79d9351c7430", "name": "Administrator"}]}}
    event = v1("m1", "member_add", activity_id=1, raw_extra=raw_extra)
    findings = fire(event)
    assert len(findings) == 1
    unmapped = findings[0]["unmapped"]
    assert json.loads(unmapped["roles"]) == ["Administrator"]
    assert json.loads(unmapped["member_email"]) == "eve@example.org"
    assert findings[0]["finding_info"]["analytic"]["uid"] == "cfkafka.audit.admin_member_added"


def test_v2_member_created_with_super_admin_fires():
    request = {"email": "eve@example.org",
               "roles": [{"name": "Super Administrator - All Privileges"}]}
    event = v2("m2", "create", "members", activity_id=1, request=request)
    assert len(fire(event)) == 1


def test_v2_member_with_policies_permission_groups_fires():
    request = {"email": "eve@example.org", "policies": [
        {"access": "allow", "permission_groups": [{"id": "x", "name": "Administrator"}],
         "resource_groups": [{"id": "y"}]}]}
    assert len(fire(v2("m3", "create", "members", activity_id=1, request=request))) == 1


@pytest.mark.parametrize(
    "roles", [["Administrator Read Only"], ["DNS"], ["Analytics", "Billing"], []]
)
def test_member_added_without_admin_role_does_not_fire(roles):
    request = {"email": "eve@example.org", "roles": roles}
    assert fire(v2("m4", "create", "members", activity_id=1, request=request)) == []


def test_member_update_granting_admin_fires_but_keeping_admin_does_not():
    granted = {"newValueJson": {"roles": ["Administrator"]}, "oldValueJson": {"roles": ["DNS"]}}
    kept = {"newValueJson": {"roles": ["Administrator"]},
            "oldValueJson": {"roles": ["Administrator"]}}
    assert len(fire(v1("u1", "member_update", activity_id=3, raw_extra=granted))) == 1
    assert fire(v1("u2", "member_update", activity_id=3, raw_extra=kept)) == []


def test_member_removal_does_not_fire():
    raw_extra = {"oldValueJson": {"roles": ["Administrator"]}}
    assert fire(v1("d1", "member_remove", activity_id=4, raw_extra=raw_extra)) == []


def test_admin_roles_are_configurable():
    rule = SensitiveChange(AlertConfig(admin_roles=frozenset({"dns"})))
    event = v2("m5", "create", "members", activity_id=1, request={"roles": ["DNS"]})
    assert len(rule.step(None, event, T0)[1]) == 1


def test_deterministic_finding_id():
    event = v1("e1", "token_create", activity_id=1)
    a, b = RULE.step(None, event, T0)[1], RULE.step(None, event, T0 + 5)[1]
    assert a[0]["finding_info"]["uid"] == b[0]["finding_info"]["uid"]
    other = v1("e2", "token_create", activity_id=1)
    assert RULE.step(None, other, T0)[1][0]["finding_info"]["uid"] != a[0]["finding_info"]["uid"]
