"""User context from the member and Access-user rosters."""

from __future__ import annotations

import copy
import json

from enrich_factories import ACCOUNT, access_login, access_user, audit_v2_record, member

from streams.enrich import RawView, Roster

KEY = f"{ACCOUNT}/u1"


def enrich(roster, record):
    roster(record, RawView(record))
    return record


def roster_entries(record):
    return [json.loads(e["data"]) for e in record["enrichments"] if e["type"] == "user_roster"]


def test_member_and_access_user_join_by_lowercased_email():
    roster = Roster()
    roster.apply("members", KEY, member("ALICE@example.com"))
    roster.apply("access_users", f"{ACCOUNT}/au1", access_user("alice@EXAMPLE.com"))
    context = roster.lookup("Alice@Example.com", ACCOUNT)
    assert context is not None
    assert context.roles == ("Administrator",)
    assert context.two_factor is True
    assert context.member_status == "accepted"
    assert context.access_seat is True and context.gateway_seat is False
    assert context.last_successful_login == "2026-11-20T08:00:00Z"
    assert context.full_name == "Alice Liddell"


def test_login_gets_ocsf_user_attributes_and_an_enrichment():
    roster = Roster()
    roster.apply_member(KEY, member(roles=("Administrator", "DNS"), two_factor=False))
    roster.apply_access_user(f"{ACCOUNT}/au1", access_user())
    record = enrich(roster, access_login())
    user = record["user"]
    assert user["has_mfa"] is False
    assert user["full_name"] == "Alice Liddell"
    assert user["groups"] == [{"name": "Administrator", "type": "Cloudflare role"},
                              {"name": "DNS", "type": "Cloudflare role"}]
    [entry] = record["enrichments"]
    assert entry["name"] == "user.email_addr" and entry["provider"] == "cloudflare_roster"
    assert json.loads(entry["data"]) == {
        "roles": ["Administrator", "DNS"], "two_factor_authentication_enabled": False,
        "member_status": "accepted", "access_seat": True, "gateway_seat": False,
        "last_successful_login": "2026-11-20T08:00:00Z"}


def test_actor_user_of_audit_events_is_enriched():
    roster = Roster()
    roster.apply_member(KEY, member())
    record = enrich(roster, audit_v2_record())
    assert record["actor"]["user"]["has_mfa"] is True
    assert record["enrichments"][0]["name"] == "actor.user.email_addr"


def test_roles_are_per_account():
    roster = Roster()
    roster.apply_member(KEY, member(roles=("Administrator",)))
    roster.apply_member("f" * 32 + "/u1", member(roles=("Billing",)))
    assert roster.lookup("alice@example.com", ACCOUNT).roles == ("Administrator",)
    assert roster.lookup("alice@example.com", "f" * 32).roles == ("Billing",)
    assert set(roster.lookup("alice@example.com").roles) == {"Administrator", "Billing"}
    assert roster.lookup("alice@example.com", "e" * 32) is None


def test_tombstone_removes_the_user():
    roster = Roster()
    roster.apply_member(KEY, member())
    roster.apply_access_user(f"{ACCOUNT}/au1", access_user())
    roster.apply_member(KEY, None)
    context = roster.lookup("alice@example.com", ACCOUNT)
    assert context.roles == () and context.access_seat is True
    roster.apply_access_user(f"{ACCOUNT}/au1", None)
    assert roster.lookup("alice@example.com", ACCOUNT) is None
    assert dict(roster.profiles) == {} and dict(roster.index) == {}
    roster.apply_member("unknown/key", None)  # unknown tombstones are harmless


def test_email_change_moves_the_user():
    roster = Roster()
    roster.apply_member(KEY, member("old@example.com"))
    roster.apply_member(KEY, member("new@example.com"))
    assert roster.lookup("old@example.com") is None
    assert roster.lookup("new@example.com").roles == ("Administrator",)


def test_unknown_users_and_bad_records_leave_events_alone():
    roster = Roster()
    roster.apply("members", KEY, {"id": "x"})  # no email: ignored
    roster.apply("gateway", KEY, member())  # another dataset: ignored
    record = access_login()
    before = copy.deepcopy(record)
    assert enrich(roster, record) == before
    assert enrich(roster, {"user": "nope", "actor": {"user": None}}) == {
        "user": "nope", "actor": {"user": None}}


def test_state_is_json_and_values_are_replaced_not_mutated():
    class Recording(dict):
        def __setitem__(self, key, value):
            super().__setitem__(key, json.loads(json.dumps(value)))  # must be serialisable

    profiles, index = Recording(), Recording()
    roster = Roster(profiles, index)
    roster.apply_member(KEY, member())
    snapshot = copy.deepcopy(dict(profiles))
    roster.lookup("alice@example.com")
    enrich(roster, access_login())
    assert dict(profiles) == snapshot  # lookups and enrichment never mutate stored values
    roster.apply_access_user(f"{ACCOUNT}/au1", access_user())
    assert set(profiles["alice@example.com"]) == {"email", "members", "access_users"}
    assert index == {f"members:{KEY}": "alice@example.com",
                     f"access_users:{ACCOUNT}/au1": "alice@example.com"}


def test_existing_groups_are_merged():
    roster = Roster()
    roster.apply_member(KEY, member(roles=("Administrator",)))
    record = access_login()
    record["user"]["groups"] = [{"name": "Administrator"}, {"name": "idp-admins"}]
    record["user"]["has_mfa"] = False  # from the IdP: kept
    enrich(roster, record)
    assert [g["name"] for g in record["user"]["groups"]] == ["Administrator", "idp-admins"]
    assert record["user"]["has_mfa"] is False
    assert len(roster_entries(enrich(roster, record))) == 1  # idempotent
