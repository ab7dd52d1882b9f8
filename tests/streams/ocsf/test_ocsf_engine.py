"""The normalizer's engine and transforms: errors, headers, time formats, outcome tables."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from ocsf_samples import (
    ACCOUNT,
    avro_round_trip,
    headers_of,
    key_of,
    normalize_raw,
    samples,
    topic_value,
)

from streams.ocsf import NormalizationError, UnknownDatasetError, normalize
from streams.ocsf.access_map import auth_protocol_id
from streams.ocsf.audit_map import api_activity_id, auth_activity_id, user_type, user_type_id
from streams.ocsf.http_map import http_activity_id
from streams.ocsf.security_actions import (
    action_id,
    action_name,
    disposition_id,
    disposition_name,
    finding_severity_id,
)
from streams.ocsf.transforms import edge_time_ms, host_of, integer, rfc3339_ms, url_of_uri

ACCESS = {
    "action": "login", "allowed": True, "app_domain": "grafana.example.com/admin",
    "app_uid": "9c1e5bb0-7c0a-4b8e-9d0c-6f3a1d2b4c5e", "connection": "azureAD",
    "created_at": "2026-11-22T20:19:47.996313Z", "ip_address": "198.51.100.7",
    "ray_id": "8d3f0a1b2c4e5f60", "user_email": "ana@example.com",
}


def _access(**changes):
    record = {**ACCESS, **changes}
    return normalize_raw("access_requests", record)


def test_unknown_dataset_is_a_typed_error():
    with pytest.raises(UnknownDatasetError, match="gateway_dns"):
        normalize("gateway_dns", "k", {})


def test_a_record_needs_a_key():
    with pytest.raises(NormalizationError, match="no Kafka key"):
        normalize("access_requests", "", topic_value("access_requests", ACCESS))


def test_a_tombstone_is_not_normalized():
    with pytest.raises(NormalizationError, match="tombstone"):
        normalize("members", f"{ACCOUNT}/u1", None)


def test_members_need_the_snapshot_time():
    member = samples("members", 1)[0]
    value = topic_value("members", member)
    with pytest.raises(NormalizationError, match=r"no time \(snapshot_at\)") as info:
        normalize("members", key_of("members", member), value, scope=f"account:{ACCOUNT}")
    assert (info.value.dataset, info.value.key) == ("members", key_of("members", member))


def test_access_users_fall_back_to_updated_at():
    user = samples("access_users", 1)[0]
    event = normalize("access_users", key_of("access_users", user),
                      topic_value("access_users", user))
    assert event.record["time"] == rfc3339_ms(user["updated_at"])
    assert event.record["metadata"]["original_time"] == user["updated_at"]


def test_an_unparseable_time_is_a_normalization_error():
    record = samples("audit_logs", 1)[0]
    value = {**topic_value("audit_logs", record), "when": "yesterday"}
    with pytest.raises(NormalizationError, match="unparseable time when='yesterday'"):
        normalize("audit_logs", record["id"], value)


def test_a_value_of_another_schema_is_a_normalization_error():
    member = samples("members", 1)[0]
    value = {**topic_value("members", member), "roles": "not JSON"}
    with pytest.raises(NormalizationError, match="not a decoded cloudflare.members value"):
        normalize("members", "k", value, snapshot_at="2026-11-22T20:19:48Z")


def test_a_mistyped_field_stays_unmapped_and_the_record_still_encodes():
    event = _access(allowed="yes", ip_address=7)
    record = event.record
    assert (record["status_id"], record["status"]) == (None, None)
    assert record["unmapped"]["allowed"] == '"yes"'
    assert record["src_endpoint"]["ip"] == "7"  # a number is written out as text
    assert avro_round_trip(event.schema, record) == record


def test_access_login_application_and_identity_provider():
    record = _access().record
    assert record["service"] == {"name": "grafana.example.com/admin",
                                 "uid": "9c1e5bb0-7c0a-4b8e-9d0c-6f3a1d2b4c5e"}
    assert record["dst_endpoint"]["hostname"] == "grafana.example.com"
    assert (record["auth_protocol"], record["auth_protocol_id"]) == ("azureAD", 4)
    assert record["metadata"]["correlation_uid"] == "8d3f0a1b2c4e5f60"


def test_unknown_access_action_is_other():
    record = _access(action="reauthenticate").record
    assert (record["activity_id"], record["activity_name"]) == (99, "Other")
    assert record["type_uid"] == 300299


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        (f"account:{ACCOUNT}", {}),
        ("zone:z1", {"ZoneID": '"z1"'}),
        ("user:u1", {"cf.scope": '"user:u1"'}),
        (None, {}),
    ],
)
def test_scope_header(scope, expected):
    record = normalize("access_requests", "k", topic_value("access_requests", ACCESS),
                       scope=scope).record
    assert record["unmapped"] == expected
    account = ACCOUNT if scope and scope.startswith("account:") else None
    assert (record["cloud"]["account"] or {}).get("uid") == account


def test_account_name_fills_in_but_the_record_wins():
    assert _access().record["cloud"]["account"]["name"] is None
    named = normalize_raw("access_requests", ACCESS, account_name="production")
    assert named.record["cloud"]["account"]["name"] == "production"
    v2 = samples("audit_logs_v2", 1)[0]
    event = normalize_raw("audit_logs_v2", v2, account_name="production")
    assert event.record["cloud"]["account"]["name"] == v2["account"]["name"]


@pytest.mark.parametrize(
    ("value", "millis"),
    [
        (1795378787777645303, 1795378787777),  # unixnano (Logpull default)
        (1795378787777645, 1795378787777),  # unix microseconds
        (1795378787777, 1795378787777),  # unix milliseconds
        (1795378787, 1795378787000),  # unix seconds (timestamps=unix)
        ("1795378787", 1795378787000),
        ("2026-11-22T20:19:47Z", 1795378787000),  # timestamps=rfc3339
        ("2026-11-22T21:19:47.5+01:00", 1795378787500),
        ("2026-11-22T20:19:47.123456789Z", 1795378787123),
    ],
)
def test_edge_timestamps(value, millis):
    assert edge_time_ms(value) == millis


def test_http_timestamps_in_any_format_give_the_same_time():
    raw = samples("http_requests", 1)[0]
    seconds = raw["EdgeStartTimestamp"] // 10**9
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    records = [
        normalize_raw("http_requests", {**raw, "EdgeStartTimestamp": start}).record
        for start in (raw["EdgeStartTimestamp"], seconds, text)
    ]
    assert {r["time"] // 1000 for r in records} == {seconds}
    assert [r["metadata"]["original_time"] for r in records] == [
        str(raw["EdgeStartTimestamp"]), str(seconds), text]


@pytest.mark.parametrize(
    ("action", "ids", "names", "severity"),
    [
        ("block", (2, 2), ("Denied", "Blocked"), 3),
        ("managed_challenge", (2, 23), ("Denied", "Challenge"), 2),
        ("managedChallenge", (2, 23), ("Denied", "Challenge"), 2),
        ("jschallenge", (2, 23), ("Denied", "Challenge"), 2),
        ("challengeSolved", (1, 1), ("Allowed", "Allowed"), 1),
        ("jschallengeFailed", (2, 2), ("Denied", "Blocked"), 3),
        ("connectionClose", (2, 6), ("Denied", "Dropped"), 3),
        ("log", (1, 17), ("Allowed", "Logged"), 2),
        ("allow", (1, 1), ("Allowed", "Allowed"), 1),
        ("skip", (1, 1), ("Allowed", "Allowed"), 1),
        ("unknown", (0, 0), ("Unknown", "Unknown"), 1),
        ("rewrite", (99, 99), ("rewrite", "rewrite"), 1),
        (None, (None, None), (None, None), 1),
    ],
)
def test_security_actions(action, ids, names, severity):
    assert (action_id(action), disposition_id(action)) == ids
    assert (action_name(action), disposition_name(action)) == names
    assert finding_severity_id(action) == severity


@pytest.mark.parametrize(
    ("action_type", "expected"),
    [
        ("token_create", 1), ("rec_add", 1), ("member_add", 1), ("create", 1),
        ("API_key_view", 2), ("view", 2),
        ("rotate_API_key", 3), ("token_roll", 3), ("rec_set", 3), ("tls_settings_deployed", 3),
        ("update", 3),
        ("rec_del", 4), ("purge", 4), ("delete", 4),
        ("frobnicate", 99), (None, 0),
    ],
)
def test_api_activity_from_the_action_type(action_type, expected):
    assert api_activity_id(action_type) == expected


@pytest.mark.parametrize(
    ("action_type", "description", "expected"),
    [
        ("login", None, 1), ("logout", None, 2), ("sso_login", None, 1),
        ("create", "Login", 1), ("create", "User logout", 2),
        ("update", "Update Login Settings", None), ("token_create", None, None),
    ],
)
def test_logins(action_type, description, expected):
    assert auth_activity_id(action_type, description) == expected


@pytest.mark.parametrize(
    ("actor_type", "type_id", "caption"),
    [("user", 1, "User"), ("admin", 2, "Admin"), ("cloudflare_admin", 2, "Admin"),
     ("system", 3, "System"), ("Cloudflare", 99, "Cloudflare"), ("account", 99, "account"),
     (None, None, None)],
)
def test_actor_types(actor_type, type_id, caption):
    assert (user_type_id(actor_type), user_type(actor_type)) == (type_id, caption)


@pytest.mark.parametrize(
    ("connection", "expected"),
    [("saml", 5), ("oidc", 4), ("azureAD", 4), ("okta", 4), ("github", 6),
     ("onetimepin", 99), (None, None)],
)
def test_auth_protocols(connection, expected):
    assert auth_protocol_id(connection) == expected


@pytest.mark.parametrize(
    ("method", "expected"),
    [("GET", 3), ("post", 6), ("DELETE", 2), ("OPTIONS", 5), ("PATCH", 99), (None, 0)],
)
def test_http_methods(method, expected):
    assert http_activity_id(method) == expected


def test_patch_is_other_in_ocsf_1_3():
    raw = samples("http_requests", 1)[0]
    record = normalize_raw("http_requests", {**raw, "ClientRequestMethod": "PATCH"}).record
    assert (record["activity_id"], record["activity_name"], record["type_uid"]) == (
        99, "Other", 400299)
    assert record["http_request"]["http_method"] == "PATCH"


def test_small_transforms():
    assert host_of("https://vault.example.com/ui?x=1") == "vault.example.com"
    assert url_of_uri("https", "a.example", "/p?q=1") == "https://a.example/p?q=1"
    assert url_of_uri(None, "a.example", "/p") == "//a.example/p"
    assert integer("3320") == 3320
    assert rfc3339_ms("2026-11-22T20:19:48Z") == 1795378788000


def test_firewall_asn_sent_as_text_is_a_number():
    raw = samples("firewall_events", 1)[0]
    assert isinstance(raw["ClientASN"], str)
    record = normalize_raw("firewall_events", raw).record
    assert record["src_endpoint"]["autonomous_system"]["number"] == int(raw["ClientASN"])


def test_headers_helper_matches_the_connector_scopes():
    assert headers_of("http_requests")["scope"].startswith("zone:")
    assert headers_of("members")["snapshot_at"]
    assert json.loads(normalize_raw("members", samples("members", 1)[0]).record["raw_data"])


def test_http_time_falls_back_to_the_end_timestamp():
    raw = {k: v for k, v in samples("http_requests", 1)[0].items() if k != "EdgeStartTimestamp"}
    record = normalize_raw("http_requests", raw).record
    assert record["time"] == raw["EdgeEndTimestamp"] // 10**6
    assert record["start_time"] is None
    del raw["EdgeEndTimestamp"]
    with pytest.raises(NormalizationError, match="no time"):
        normalize_raw("http_requests", raw)
