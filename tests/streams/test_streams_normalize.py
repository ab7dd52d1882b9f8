"""Golden tests for streams.normalize (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import fastavro
import pytest

import schemas
from streams.normalize import NormalizeError, classify, normalize, parse_when

LOGIN = {
    "id": "a1b2c3d4-0000-4000-8000-000000000001",
    "when": "2024-05-01T12:34:56Z",
    "action": {"type": "login", "result": True, "info": None},
    "actor": {"id": "u-1", "email": "ana@example.com", "ip": "192.0.2.10", "type": "user"},
    "interface": "UI",
    "metadata": None,
    "newValue": None,
    "oldValue": None,
    "newValueJson": None,
    "oldValueJson": None,
    "owner": {"id": "acc-1"},
    "resource": None,
    "extra": {},
}

TOKEN_CREATE = {
    "id": "a1b2c3d4-0000-4000-8000-000000000002",
    "when": "2024-05-01T12:34:56.123456Z",
    "action": {"type": "token_create", "result": False, "info": "quota"},
    "actor": {"id": "u-2", "email": "bo@example.com", "ip": "2001:db8::1", "type": "user"},
    "interface": "API",
    "metadata": {"token_name": '"ci"'},
    "newValue": None,
    "oldValue": None,
    "newValueJson": '{"name":"ci"}',
    "oldValueJson": None,
    "owner": None,
    "resource": {"id": "tok-9", "type": "api_token"},
    "extra": {"actor.context": '"api_key"'},
}


def _raw_json(record: dict[str, object]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


def test_login_is_ocsf_authentication_logon():
    assert normalize(LOGIN, "account:acc-1") == {
        "event_id": "a1b2c3d4-0000-4000-8000-000000000001",
        "time": 1714566896000,
        "time_raw": "2024-05-01T12:34:56Z",
        "class_uid": 3002,
        "class_name": "Authentication",
        "category_uid": 3,
        "activity_id": 1,
        "activity_name": "Logon",
        "type_uid": 300201,
        "severity_id": 1,
        "status": "Success",
        "status_id": 1,
        "api_operation": "login",
        "actor_user_uid": "u-1",
        "actor_user_email": "ana@example.com",
        "actor_type": "user",
        "src_ip": "192.0.2.10",
        "resource_uid": None,
        "resource_type": None,
        "account_uid": "acc-1",
        "interface": "UI",
        "metadata_product": "Cloudflare Audit Logs",
        "metadata_version": "1.3.0",
        "raw_data": _raw_json(LOGIN),
        "unmapped": {"owner.id": "acc-1"},
    }


def test_token_create_is_ocsf_api_activity_create():
    assert normalize(TOKEN_CREATE) == {
        "event_id": "a1b2c3d4-0000-4000-8000-000000000002",
        "time": 1714566896123,
        "time_raw": "2024-05-01T12:34:56.123456Z",
        "class_uid": 6003,
        "class_name": "API Activity",
        "category_uid": 6,
        "activity_id": 1,
        "activity_name": "Create",
        "type_uid": 600301,
        "severity_id": 2,
        "status": "Failure",
        "status_id": 2,
        "api_operation": "token_create",
        "actor_user_uid": "u-2",
        "actor_user_email": "bo@example.com",
        "actor_type": "user",
        "src_ip": "2001:db8::1",
        "resource_uid": "tok-9",
        "resource_type": "api_token",
        "account_uid": None,
        "interface": "API",
        "metadata_product": "Cloudflare Audit Logs",
        "metadata_version": "1.3.0",
        "raw_data": _raw_json(TOKEN_CREATE),
        "unmapped": {
            "action.info": "quota",
            "newValueJson": '{"name":"ci"}',
            "metadata.token_name": '"ci"',
            "extra.actor.context": '"api_key"',
        },
    }


@pytest.mark.parametrize("record", [LOGIN, TOKEN_CREATE])
def test_output_fits_the_siem_schema(record):
    assert fastavro.validation.validate(normalize(record), schemas.load("siem.audit"))


def test_minimal_record_maps_to_unknown():
    out = normalize({"id": "x", "when": "2024-05-01T12:34:56+02:00"})
    assert (out["class_uid"], out["activity_id"], out["type_uid"]) == (6003, 0, 600300)
    assert (out["status"], out["status_id"]) == ("Unknown", 0)
    assert out["time"] == 1714559696000
    assert out["unmapped"] == {}


def test_zone_scope_is_kept_unmapped():
    assert normalize(LOGIN, "zone:z1")["unmapped"]["cf.scope"] == "zone:z1"
    assert normalize(LOGIN, "zone:z1")["account_uid"] is None


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("login", (3002, 1)),
        ("logout", (3002, 2)),
        ("token_create", (6003, 1)),
        ("add_member", (6003, 1)),
        ("delete", (6003, 4)),
        ("rotate_API_key", (6003, 3)),
        ("change_setting", (6003, 3)),
        ("view", (6003, 2)),
        ("purge", (6003, 4)),
        ("frobnicate", (6003, 99)),
        (None, (6003, 0)),
    ],
)
def test_classify(action, expected):
    class_uid, _, _, activity_id, _ = classify(action)
    assert (class_uid, activity_id) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T12:34:56Z", datetime(2024, 5, 1, 12, 34, 56, tzinfo=UTC)),
        ("2024-05-01T12:34:56.5Z", datetime(2024, 5, 1, 12, 34, 56, 500000, tzinfo=UTC)),
        ("2024-05-01T12:34:56.123456Z", datetime(2024, 5, 1, 12, 34, 56, 123456, tzinfo=UTC)),
        ("2024-05-01T12:34:56.123456789Z", datetime(2024, 5, 1, 12, 34, 56, 123456, tzinfo=UTC)),
        ("2024-05-01T14:34:56+02:00", datetime(2024, 5, 1, 12, 34, 56, tzinfo=UTC)),
    ],
)
def test_parse_when(text, expected):
    assert parse_when(text) == expected


@pytest.mark.parametrize(
    "record",
    [
        {"id": "x", "when": "yesterday"},
        {"id": "x", "when": "2024-05-01T12:34:56"},
        {"when": "2024-05-01T12:34:56Z"},
    ],
)
def test_unmappable_records_raise(record):
    with pytest.raises(NormalizeError):
        normalize(record)
