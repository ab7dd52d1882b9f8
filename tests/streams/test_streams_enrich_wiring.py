"""Enrichment in the worker's pipeline: every class still encodes, the roster joins by
email from roster messages (RosterReader.fold), a failing step never holds an event back,
and the settings that configure it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from test_streams_pipeline import EXPECTED_TOPIC, Raw

from streams.codecs import Codecs
from streams.enrich import Enricher, Roster, ThreatList
from streams.pipeline import Options, Output, process
from streams.roster_reader import RosterReader
from streams.settings import ConfigError, Settings

sys.path.insert(0, str(Path(__file__).parent / "ocsf"))
from ocsf_samples import samples  # noqa: E402


def _enrichments(record: dict[str, Any]) -> list[str]:
    return [f"{e['name']}:{e.get('type')}" for e in record.get("enrichments") or []]


@pytest.mark.parametrize("dataset", sorted(EXPECTED_TOPIC))
def test_enriched_records_encode_for_every_dataset(dataset, codecs: Codecs, raw: Raw):
    options = Options(enricher=Enricher.default(zone_names={}))
    names: set[str] = set()
    for record in samples(dataset, 20):
        outcome = process(*raw.message(dataset, record), {}, codecs, dataset, options)
        assert isinstance(outcome, Output), outcome
        names.update(_enrichments(codecs.raw.decode(outcome.sends[0].value)))
    if dataset in ("http_requests", "access_requests", "firewall_events"):
        assert names, "IP / user-agent enrichment adds something"


def test_access_login_is_joined_with_the_members_roster(codecs: Codecs, raw: Raw):
    login = samples("access_requests", 1)[0]
    member = {**samples("members", 1)[0]}
    member["email"] = login["user_email"].upper()  # the join ignores case
    member["user"] = {**member["user"], "email": member["email"]}
    reader = RosterReader({}, codecs.raw.decode, Roster())
    key, value, _ = raw.message("members", member)
    reader.fold("cloudflare.members.v1", key, value)
    reader.fold("cloudflare.members.v1", b"acc/garbage", b"\x00 not avro")  # skipped
    assert (reader.applied, reader.undecodable) == (1, 1)
    options = Options(enricher=Enricher.default(roster=reader.roster))
    outcome = process(*raw.message("access_requests", login), {}, codecs, "access_requests",
                      options)
    assert isinstance(outcome, Output)
    event = codecs.raw.decode(outcome.sends[0].value)
    assert any("user_roster" in e for e in _enrichments(event)), _enrichments(event)
    # a tombstone removes the user: later events go out without the roster context
    reader.fold("cloudflare.members.v1", key, None)
    outcome = process(*raw.message("access_requests", login), {}, codecs, "access_requests",
                      options)
    assert isinstance(outcome, Output)
    assert not any("user_roster" in e
                   for e in _enrichments(codecs.raw.decode(outcome.sends[0].value)))


def test_threat_list_matches_are_in_the_siem_record(codecs: Codecs, raw: Raw, tmp_path):
    record = samples("http_requests", 1)[0]
    listed = tmp_path / "bad.txt"
    listed.write_text(f"{record['ClientIP']}  # test entry\n")
    options = Options(enricher=Enricher.default(threat_lists=[ThreatList(listed)]))
    outcome = process(*raw.message("http_requests", record), {}, codecs, "http_requests",
                      options)
    assert isinstance(outcome, Output)
    assert "threat_intel" in " ".join(_enrichments(codecs.raw.decode(outcome.sends[0].value)))


def test_a_failing_enrichment_step_does_not_hold_the_event_back(codecs: Codecs, raw: Raw):
    def broken(record: Any, view: Any) -> None:
        raise KeyError("bug")

    options = Options(enricher=Enricher(classify_ips=False, extra_steps=[broken]))
    record = samples("access_requests", 1)[0]
    outcome = process(*raw.message("access_requests", record), {}, codecs, "access_requests",
                      options)
    assert isinstance(outcome, Output)


def test_enrichment_settings():
    s = Settings.from_env({
        "STREAMS_ACCOUNT_NAMES": "abc=Acme Corp, def=Other",
        "STREAMS_ZONE_NAMES": "z1=example.com",
        "STREAMS_THREAT_LISTS": "/a.txt, /b.txt",
        "STREAMS_ENRICH": "false",
    })
    assert dict(s.account_names) == {"abc": "Acme Corp", "def": "Other"}
    assert dict(s.zone_names) == {"z1": "example.com"}
    assert s.threat_lists == ("/a.txt", "/b.txt")
    assert s.enrich is False
    assert Settings.from_env({}).enrich is True
    with pytest.raises(ConfigError, match="STREAMS_ZONE_NAMES"):
        Settings.from_env({"STREAMS_ZONE_NAMES": "no-equals-sign"})
