import io

import fastavro
import pytest

import schemas
from connector import convert
from connector.errors import RecordError
from connector.feeds import AuditLogs

SCHEMA = schemas.raw("cloudflare.audit_logs")
FEED = AuditLogs()

REAL = {  # shape of Cloudflare's v1 audit log (facts §1, Elastic's sample)
    "id": "f174be97-19b1-40d6-954d-70cd5fbd52db",
    "action": {"type": "token_create", "result": True, "info": "created"},
    "actor": {"id": "f6b5de0326bb5182b8a4840ee01ec774", "email": "a@example.com",
              "ip": "2001:db8::1", "type": "user"},
    "interface": "API",
    "metadata": {"token_name": "ci", "token_tag": "abc", "nested": {"k": [1, 2]}},
    "newValue": "",
    "oldValue": "null",
    "newValueJson": {"enabled": True, "ttl": 1},
    "owner": {"id": "0123456789abcdef0123456789abcdef"},
    "resource": {"id": "r1", "type": "api_token"},
    "when": "2026-11-22T10:19:33.480205Z",
}


def _encode(value):
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schemas.load("cloudflare.audit_logs"), value)
    buf.seek(0)
    return fastavro.schemaless_reader(buf, schemas.load("cloudflare.audit_logs"), None)


def test_known_fields_map_and_round_trip_losslessly():
    value = FEED.to_value(REAL)
    assert value["extra"] == {}
    assert value["newValueJson"] == '{"enabled":true,"ttl":1}'
    decoded = _encode(value)
    assert convert.restore(SCHEMA, decoded, FEED.json_fields) == REAL


def test_unknown_and_mistyped_fields_are_kept_in_extra():
    source = dict(REAL)
    source["account"] = {"id": "acc", "name": "Acme"}  # a field v1's schema does not know
    source["action"] = {"type": "login", "result": "true", "description": "Login"}
    source["actor"] = {"id": "1", "type": "system", "ip": 12}
    value = FEED.to_value(source)
    assert value["extra"] == {
        "account": '{"id":"acc","name":"Acme"}',
        "action.result": '"true"',
        "action.description": '"Login"',
        "actor.ip": "12",
    }
    assert value["action"]["result"] is None
    assert convert.restore(SCHEMA, _encode(value), FEED.json_fields) == source


def test_system_actor_without_email_and_ip():
    source = {"id": "x", "when": "2026-11-22T20:19:48Z", "actor": {"id": "1", "type": "system"}}
    value = FEED.to_value(source)
    assert value["actor"] == {"id": "1", "email": None, "ip": None, "type": "system"}
    assert convert.restore(SCHEMA, _encode(value), FEED.json_fields) == source


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"when": "2026-11-22T20:19:48Z"}, "'id' is missing"),
        ({"id": 7, "when": "2026-11-22T20:19:48Z"}, "'id' is not a valid string"),
        ({"id": "x"}, "'when' is missing"),
    ],
)
def test_required_fields_raise_record_error(source, message):
    with pytest.raises(RecordError, match=message):
        FEED.to_value(source)
