"""Account and zone names."""

from __future__ import annotations

from enrich_factories import (
    ACCOUNT,
    ZONE,
    audit_v1_record,
    audit_v2_record,
    enrichments_by_type,
    http_record,
)

from streams.enrich import NameBook, RawView


def apply(book, record):
    book(record, RawView(record))
    return record


def test_account_name_from_configuration():
    record = apply(NameBook({ACCOUNT: "Production"}), http_record())
    assert record["cloud"]["account"]["name"] == "Production"


def test_existing_account_name_is_kept_and_learned():
    book = NameBook({})
    record = apply(book, audit_v2_record())
    assert record["cloud"]["account"]["name"] == "Example Corp"
    assert book.accounts == {ACCOUNT: "Example Corp"}
    assert book.zones == {ZONE: "example.com"}  # learned from the raw v2 record
    # a later record without names gets them
    later = apply(book, http_record(zone_in_unmapped=False))
    assert later["cloud"]["account"]["name"] == "Example Corp"


def test_http_zone_enrichment_from_unmapped_or_raw():
    for zone_in_unmapped in (True, False):
        record = apply(NameBook(), http_record(zone_in_unmapped=zone_in_unmapped))
        zone = enrichments_by_type(record)["cloudflare_zone"]
        assert zone["name"] == "zone"
        assert zone["value"] == "example.com"
        assert zone["data"] == {"id": ZONE, "name": "example.com"}


def test_v1_zone_from_resource_and_metadata_and_resource_names():
    book = NameBook()
    record = apply(book, audit_v1_record())
    zone_id = "9" * 32
    assert enrichments_by_type(record)["cloudflare_zone"]["data"] == {
        "id": zone_id, "name": "example.net"}
    assert book.zones[zone_id] == "example.net"
    # learned: the resource of the next record gets its name
    second = apply(book, audit_v1_record())
    assert second["resources"][0]["name"] == "example.net"


def test_zone_name_from_the_book_when_the_record_has_only_an_id():
    record = audit_v2_record()
    record["raw_data"] = '{"zone": {"id": "' + ZONE + '"}}'
    record = apply(NameBook(zones={ZONE: "configured.example"}), record)
    assert enrichments_by_type(record)["cloudflare_zone"]["value"] == "configured.example"
    assert record["resources"][1]["name"] == "configured.example"


def test_missing_lookups_change_nothing():
    record = {"class_uid": 3002, "metadata": {"uid": "x", "log_name": "access_requests"}}
    assert apply(NameBook(), dict(record)) == record
    garbage = {"cloud": "nope", "resources": "nope", "metadata": None, "raw_data": 7}
    assert apply(NameBook(), dict(garbage)) == garbage


def test_learning_is_bounded_and_can_be_switched_off():
    book = NameBook(max_learned=1)
    book.remember_account("a", "A")
    book.remember_account("b", "B")
    book.remember_account("a", "A2")  # known keys may still change
    assert book.accounts == {"a": "A2"}
    frozen = NameBook(learn=False)
    apply(frozen, audit_v2_record())
    assert frozen.accounts == {} and frozen.zones == {}
