"""Feed declarations: pagination hooks, keys and conversion for each feed."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import fastavro
import pytest

import schemas
from connector import convert
from connector.errors import RecordError
from connector.feeds import FEEDS, AccessRequests, AuditLogs, AuditLogsV2

T0 = datetime(2026, 11, 22, 20, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 22, 21, 0, tzinfo=UTC)


def _round_trip(feed, record):
    value = feed.to_value(record)
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schemas.load(feed.schema), value)
    buf.seek(0)
    decoded = fastavro.schemaless_reader(buf, schemas.load(feed.schema), None)
    return convert.restore(schemas.raw(feed.schema), decoded, feed.json_fields)


def test_every_feed_has_a_parseable_schema_and_a_conventional_topic():
    for name, cls in FEEDS.items():
        feed = cls()
        assert feed.name == name
        # user_audit_logs is the audit_logs dataset read through /user/audit_logs
        assert feed.topic == f"cloudflare.{name.removeprefix('user_')}.v1"
        assert schemas.load(feed.schema)
        assert feed.permission


def test_page_feed_uses_keyset_paging():
    feed = AuditLogs()
    first = feed.first_page(T0, T1, 2)
    assert first == {"since": "2026-11-22T20:00:00.000000Z",
                     "before": "2026-11-22T21:00:00.000000Z",
                     "direction": "asc", "page": 1, "per_page": 2}
    assert feed.next_page(first, {}, [{}], T0) is None, "a short page is the last"
    progressed = feed.next_page(first, {}, [{}, {}], T1)
    assert progressed["since"] == "2026-11-22T21:00:00.000000Z"
    assert progressed["page"] == 1
    tied = feed.next_page(first, {}, [{}, {}], T0)
    assert tied["page"] == 2, "a page of ties moves to the next page of the same since"


def test_access_requests_uses_until_and_a_derived_key():
    feed = AccessRequests()
    assert "until" in feed.first_page(T0, T1, 10)
    record = {"ray_id": "8a1b2c3d4e5f6a7b", "created_at": "2026-11-22T20:00:00.12345Z",
              "action": "login", "allowed": True, "user_email": "a@example.com",
              "app_domain": "app.example.com/admin", "app_uid": "u", "connection": "saml",
              "ip_address": "198.51.100.7"}
    logout = {**record, "action": "logout"}
    assert feed.key(record) != feed.key(logout), "login and logout of one ray are two events"
    assert feed.key(record) == feed.key(dict(record)), "the key is stable"
    assert _round_trip(feed, record) == record
    with pytest.raises(RecordError):
        feed.key({"action": "login"})


def test_audit_logs_v2_follows_cursors_and_reads_nested_time():
    feed = AuditLogsV2()
    first = feed.first_page(T0, T1, 50)
    assert first["limit"] == 50
    assert "page" not in first
    nxt = feed.next_page(first, {"result_info": {"count": "50", "cursor": "abc"}}, [{}], T0)
    assert nxt == {**first, "cursor": "abc"}
    after = feed.next_page(first, {"result_info": {"cursors": {"after": "xyz"}}}, [{}], T0)
    assert after["cursor"] == "xyz"
    assert feed.next_page(first, {"result_info": {"count": "3", "cursor": ""}}, [{}], T0) is None
    assert feed.next_page(first, {"result_info": {"cursor": "abc"}}, [], T0) is None
    record = {
        "id": "2f5b3f9e-1c7e-4a3b-8a1b-3b0f0e0c1d2e",
        "account": {"id": "acc", "name": "Acme"},
        "action": {"description": "Add member", "result": "success",
                   "time": "2026-11-22T20:00:01.5Z", "type": "create"},
        "actor": {"id": "u1", "context": "dash", "email": "a@example.com",
                  "ip_address": "2001:db8::1", "token_id": "t", "token_name": "n", "type": "user"},
        "raw": {"cf_ray_id": "8a1b", "method": "POST", "status_code": 200, "uri": "/x",
                "user_agent": "ua"},
        "resource": {"id": "r", "product": "members", "request": {"roles": ["admin"]},
                     "response": {"ok": True}, "scope": {"accounts": "acc"}, "type": "member"},
        "zone": {"id": "z", "name": "example.com"},
    }
    assert feed.time(record) == datetime(2026, 11, 22, 20, 0, 1, 500000, tzinfo=UTC)
    assert _round_trip(feed, record) == record
    with pytest.raises(RecordError):
        feed.time({"id": "x", "action": {}})
