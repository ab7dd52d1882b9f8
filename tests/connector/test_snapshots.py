"""Scenario tests: roster snapshots (members, access_users) against the real simulator
(in-process, loopback HTTP), with an in-memory publisher, checkpoint store and roster reader
that replays what the fake publisher committed."""

from __future__ import annotations

import asyncio
import io
import json
import secrets
from datetime import UTC, datetime

import fastavro
import httpx
import pytest
from confluent_kafka import Producer

import schemas
from connector import convert
from connector.checkpoints import MemoryCheckpointStore
from connector.client import Backoff, CloudflareClient
from connector.errors import FatalSourceError, PublishError, RetriableSourceError
from connector.publisher import TransactionalPublisher
from connector.records import DLQ_TOPIC, OutRecord
from connector.settings import Credentials, Secret
from connector.snapshots import (
    SNAPSHOT_FEEDS,
    TOPIC_CONFIG,
    AccessUsers,
    InconsistentListingError,
    Members,
    SnapshotPolicy,
    SnapshotRunner,
    apply_record,
    load_roster,
    replay,
    roster_digest,
)
from connector.topics import TopicSpec, ensure_topics
from schemas.registry import Encoder
from sim.config import SimConfig
from sim.server import run_sim


class FakePublisher:
    """Commits into a MemoryCheckpointStore; can be told to fail the next N transactions."""

    def __init__(self, store: MemoryCheckpointStore) -> None:
        self.store = store
        self.records = []
        self.transactions = 0
        self.fail_next = 0
        self.starts = 0

    def start(self) -> None:
        self.starts += 1

    def publish(self, records) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise PublishError("broker unavailable")
        self.transactions += 1
        for record in records:
            if record.topic == self.store.topic:
                self.store.apply(record)
            else:
                self.records.append(record)

    def close(self) -> None:
        pass


class ReplayReader:
    """The roster topic as the committed records of some fake publishers left it."""

    def __init__(self, *publishers: FakePublisher) -> None:
        self.publishers = publishers

    def load(self, topic, key_prefix):
        return replay([r for p in self.publishers for r in p.records], topic, key_prefix)


def _runner(sim, feed, store, publisher, reader=None, *, max_attempts=0, transport=None,
            stop=None, **policy):
    client = CloudflareClient(sim.base_url, Credentials(token=Secret(sim.config.api_token)),
                              backoff=Backoff(base_s=0.01, cap_s=0.05),
                              max_attempts=max_attempts, transport=transport)
    runner = SnapshotRunner(
        feed, sim.config.account_id, client=client, publisher=publisher, store=store,
        reader=reader or ReplayReader(publisher),
        encoder=Encoder(1, schemas.load(feed.schema)),
        policy=SnapshotPolicy(**{"interval_s": 3600, "per_page": 5, **policy}),
        clock=lambda: datetime.now(UTC), stop=stop or asyncio.Event(),
        backoff=Backoff(base_s=0.01, cap_s=0.05),
    )
    return runner, client


async def _admin(sim, path, body):
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{sim.admin_url}/{path}", json=body)
        assert response.status_code == 200, response.text
        return response.json()


async def _truth(sim, feed):
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{sim.admin_url}/{feed.name}")
        return response.json()


def _decode(feed, value):
    assert value[0] == 0
    return fastavro.schemaless_reader(io.BytesIO(value[5:]), schemas.load(feed.schema), None)


def _without_nulls(value):
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def _by_key(records):
    return {r.key.decode(): r for r in records}


def _headers(record):
    return dict(record.headers)


def _email_key(truth, feed, email):
    raw = next(u for u in truth if u["email"] == email)
    return feed.user_key(raw)


CONFIG = SimConfig(initial_events=0, events_per_second=0, seed=4)


@pytest.mark.parametrize("feed", [Members(), AccessUsers()], ids=lambda f: f.name)
def test_first_snapshot_publishes_the_whole_roster(feed):
    async def go():
        async with run_sim(CONFIG) as sim:
            store = MemoryCheckpointStore()
            publisher = FakePublisher(store)
            runner, client = _runner(sim, feed, store, publisher)
            await runner.start()
            assert runner.due_in() == 0, "never snapshotted: due now"
            result = await runner.snapshot_once()
            await client.aclose()
            return sim.config.account_id, await _truth(sim, feed), publisher, store, result

    account, truth, publisher, store, result = asyncio.run(go())
    assert len(truth) > 5, "several pages"
    published = _by_key(publisher.records)
    assert len(published) == len(publisher.records) == len(truth) == len(result.added)
    assert publisher.transactions == 1, "one transaction: the whole roster + checkpoint"
    for raw in truth:
        record = published[f"{account}/{feed.user_key(raw)}"]
        assert record.topic == feed.topic
        headers = _headers(record)
        assert headers["cf.change"] == b"added" and "cf.changed_fields" not in headers
        assert headers["cf.feed"] == feed.name.encode()
        assert headers["cf.scope"] == f"account:{account}".encode()
        assert json.loads(headers["cf.fingerprint"]) == feed.fingerprint(raw)
        value = _decode(feed, record.value)
        assert value["extra"] == {}
        assert convert.restore(schemas.raw(feed.schema), value, feed.json_fields) == \
            _without_nulls(raw), "the value is the record as Cloudflare sent it"
    offset = store.load({"feed": feed.name, "account": account})
    assert offset["users"] == len(truth)
    assert offset["digest"] == roster_digest(replay(publisher.records, feed.topic))
    assert set(offset) == {"snapshot_at", "users", "digest"}, "flat primitives"


def test_member_changes_publish_exactly_the_differences():
    feed = Members()

    async def go():
        async with run_sim(CONFIG) as sim:
            store = MemoryCheckpointStore()
            publisher = FakePublisher(store)
            runner, client = _runner(sim, feed, store, publisher)
            await runner.start()
            await runner.snapshot_once()
            before = await _truth(sim, feed)
            first = len(publisher.records)
            gone, promoted, accepted = (before[i]["email"] for i in (3, 7, 9))
            await _admin(sim, "members", {
                "add": [{"email": "newcomer@example.com", "role": "DNS", "status": "accepted"}],
                "remove": [gone],
                "set_role": {promoted: ["Administrator", "Billing"]},
                "set_status": {accepted: "rejected"},
            })
            result = await runner.snapshot_once()
            after = await _truth(sim, feed)
            await client.aclose()
            return (sim.config.account_id, before, after, publisher.records[first:], result,
                    (gone, promoted, accepted))

    account, before, after, records, result, (gone, promoted, accepted) = asyncio.run(go())
    key = {e: f"{account}/{_email_key(before + after, feed, e)}"
           for e in (gone, promoted, accepted, "newcomer@example.com")}
    published = _by_key(records)
    assert set(published) == set(key.values()), "only the changed users"
    assert result.added == [key["newcomer@example.com"]]
    assert result.removed == [key[gone]]
    assert sorted(result.changed) == sorted([key[promoted], key[accepted]])
    assert _headers(published[key["newcomer@example.com"]])["cf.change"] == b"added"
    tombstone = published[key[gone]]
    assert tombstone.value is None and _headers(tombstone)["cf.change"] == b"removed"
    role = _headers(published[key[promoted]])
    assert role["cf.change"] == b"changed" and role["cf.changed_fields"] == b"roles"
    value = _decode(feed, published[key[promoted]].value)
    assert [r["name"] for r in json.loads(value["roles"])] == ["Administrator", "Billing"]
    status = _headers(published[key[accepted]])
    assert status["cf.changed_fields"] == b"status"
    assert _decode(feed, published[key[accepted]].value)["status"] == "rejected"


def test_seat_changes_of_access_users():
    feed = AccessUsers()

    async def go():
        async with run_sim(CONFIG) as sim:
            store = MemoryCheckpointStore()
            publisher = FakePublisher(store)
            runner, client = _runner(sim, feed, store, publisher, per_page=7)
            await runner.start()
            await runner.snapshot_once()
            before = await _truth(sim, feed)
            first = len(publisher.records)
            seated, gone = before[2], before[5]
            await _admin(sim, "access_users", {
                "add": [{"email": "contractor@example.com", "gateway_seat": True}],
                "remove": [gone["email"]],
                "set_seat": {seated["email"]: {"access_seat": not seated["access_seat"],
                                               "gateway_seat": not seated["gateway_seat"]}},
            })
            await runner.snapshot_once()
            after = await _truth(sim, feed)
            await client.aclose()
            return sim.config.account_id, after, publisher.records[first:], seated, gone

    account, after, records, seated, gone = asyncio.run(go())
    published = _by_key(records)
    new = next(u for u in after if u["email"] == "contractor@example.com")
    assert set(published) == {f"{account}/{u['id']}" for u in (seated, gone, new)}
    assert published[f"{account}/{gone['id']}"].value is None
    changed = published[f"{account}/{seated['id']}"]
    fields = _headers(changed)["cf.changed_fields"].decode().split(",")
    assert {"access_seat", "gateway_seat"} <= set(fields) <= {"access_seat", "gateway_seat",
                                                               "updated_at"}
    value = _decode(feed, changed.value)
    assert value["access_seat"] is not seated["access_seat"]
    added = _decode(feed, published[f"{account}/{new['id']}"].value)
    assert added["gateway_seat"] is True and added["last_successful_login"] is None


def test_no_change_publishes_no_record_only_the_checkpoint():
    feed = Members()

    async def go():
        async with run_sim(CONFIG) as sim:
            store = MemoryCheckpointStore()
            publisher = FakePublisher(store)
            runner, client = _runner(sim, feed, store, publisher)
            await runner.start()
            await runner.snapshot_once()
            first = list(publisher.records)
            mark = store.load(runner.partition)
            await asyncio.sleep(0.01)
            result = await runner.snapshot_once()
            await client.aclose()
            return first, publisher, mark, store.load(runner.partition), result

    first, publisher, mark, later, result = asyncio.run(go())
    assert publisher.records == first, "nothing republished"
    assert not (result.added or result.changed or result.removed)
    assert later["snapshot_at"] > mark["snapshot_at"], "liveness: the snapshot time moves"
    assert later["digest"] == mark["digest"] and later["users"] == mark["users"]


@pytest.mark.parametrize(("status", "error"), [(503, RetriableSourceError),
                                               (400, FatalSourceError)])
def test_failed_page_publishes_nothing(status, error):
    feed = Members()

    async def go():
        async with run_sim(CONFIG) as sim:
            store = MemoryCheckpointStore()
            publisher = FakePublisher(store)
            runner, client = _runner(sim, feed, store, publisher, max_attempts=1)
            await runner.start()
            await runner.snapshot_once()
            first, mark = len(publisher.records), store.load(runner.partition)
            truth = await _truth(sim, feed)
            await _admin(sim, "members", {"remove": [truth[0]["email"]]})
            # page 1 passes (a zero-latency fault uses the first unit), page 2 fails
            await _admin(sim, "faults", {"kind": "latency", "count": 1, "path": "/members"})
            await _admin(sim, "faults", {"kind": "status", "status": status, "count": 1,
                                         "path": "/members", "body": "envelope"})
            with pytest.raises(error):
                await runner.snapshot_once()
            nothing = (len(publisher.records) == first, store.load(runner.partition) == mark,
                       publisher.transactions)
            result = await runner.snapshot_once()
            await client.aclose()
            return sim.config.account_id, truth[0], nothing, result, publisher.records[first:]

    account, gone, nothing, result, records = asyncio.run(go())
    assert nothing == (True, True, 1), "no record, no checkpoint, no transaction"
    assert result.removed == [f"{account}/{gone['user']['id']}"] and not result.changed
    assert [r.value for r in records] == [None], "next snapshot: exactly the removal"


class MutatingTransport(httpx.AsyncBaseTransport):
    """Runs ``mutate`` after every response to a first page: the roster shifts under paging."""

    def __init__(self, mutate, times):
        self._inner = httpx.AsyncHTTPTransport()
        self._mutate = mutate
        self.times = times

    async def handle_async_request(self, request):
        response = await self._inner.handle_async_request(request)
        if request.url.params.get("page") == "1" and self.times:
            self.times -= 1
            await self._mutate()
        return response

    async def aclose(self):
        await self._inner.aclose()


def test_roster_changing_during_the_listing_never_removes_a_present_user():
    feed = Members()

    async def go():
        async with run_sim(CONFIG) as sim:
            store = MemoryCheckpointStore()
            publisher = FakePublisher(store)
            truth = await _truth(sim, feed)
            victim = truth[1]

            async def remove():  # page 1 was read; everyone after it shifts one place up
                await _admin(sim, "members", {"remove": [victim["email"]]})

            transport = MutatingTransport(remove, times=0)
            runner, client = _runner(sim, feed, store, publisher, transport=transport)
            await runner.start()
            await runner.snapshot_once()
            first = len(publisher.records)
            transport.times = 1
            result = await runner.snapshot_once()
            await client.aclose()
            return sim.config.account_id, victim, result, publisher.records[first:]

    account, victim, result, records = asyncio.run(go())
    assert result.removed == [f"{account}/{victim['user']['id']}"], "only the removed one"
    assert len(records) == 1 and not result.added and not result.changed


def test_roster_that_keeps_changing_is_not_snapshotted():
    feed = AccessUsers()

    async def go():
        async with run_sim(CONFIG) as sim:
            store = MemoryCheckpointStore()
            publisher = FakePublisher(store)
            added = iter(range(100))

            async def add():
                await _admin(sim, "access_users", {"add": [f"u{next(added)}@example.com"]})

            runner, client = _runner(sim, feed, store, publisher, list_attempts=2,
                                     transport=MutatingTransport(add, times=2))
            await runner.start()
            with pytest.raises(InconsistentListingError):
                await runner.snapshot_once()
            await client.aclose()
            return publisher, store

    publisher, store = asyncio.run(go())
    assert publisher.records == [] and store.offsets == {}


def test_restart_rebuilds_the_roster_from_the_topic_and_republishes_nothing():
    feed = AccessUsers()

    async def go():
        async with run_sim(CONFIG) as sim:
            store = MemoryCheckpointStore()
            first = FakePublisher(store)
            runner, client = _runner(sim, feed, store, first, interval_s=3600)
            await runner.start()
            await runner.snapshot_once()
            # a new process: nothing in memory, state from the committed topic and checkpoint
            second = FakePublisher(store)
            runner2, client2 = _runner(sim, feed, store, second, ReplayReader(first, second),
                                       interval_s=3600)
            await runner2.start()
            due = runner2.due_in()
            rebuilt = dict(runner2.roster)
            quiet = await runner2.snapshot_once()
            truth = await _truth(sim, feed)
            await _admin(sim, "access_users", {"set_seat": {truth[4]["email"]:
                                                            {"gateway_seat": True,
                                                             "access_seat": False}}})
            await runner2.snapshot_once()
            await client.aclose()
            await client2.aclose()
            return runner.roster, rebuilt, due, quiet, second.records, truth[4]

    roster, rebuilt, due, quiet, records, seated = asyncio.run(go())
    assert rebuilt == roster, "the topic holds the roster"
    assert 3500 < due <= 3600, "a restart waits for the next due snapshot"
    assert not (quiet.added or quiet.changed or quiet.removed)
    assert [r.key.decode().split("/")[1] for r in records] == [seated["id"]]


def test_run_retries_kafka_failures_and_reloads_the_roster():
    feed = Members()

    async def go():
        async with run_sim(CONFIG) as sim:
            store = MemoryCheckpointStore()
            publisher = FakePublisher(store)
            publisher.fail_next = 2
            stop = asyncio.Event()
            runner, client = _runner(sim, feed, store, publisher, stop=stop, interval_s=0.05)
            task = asyncio.create_task(runner.run())
            for _ in range(300):
                await asyncio.sleep(0.02)
                if publisher.transactions >= 3:
                    break
            stop.set()
            await task
            await client.aclose()
            return publisher, await _truth(sim, feed)

    publisher, truth = asyncio.run(go())
    assert publisher.starts >= 3, "the publisher is restarted (fencing) after each failure"
    assert publisher.transactions >= 3, "snapshots repeat every interval"
    assert len(publisher.records) == len(truth), "the roster once; unchanged users never again"


def _mock_runner(feed, rows):
    def handler(request):
        return httpx.Response(200, json={"success": True, "errors": [], "messages": [],
                                         "result": rows, "result_info": {
                                             "page": 1, "per_page": 5, "count": len(rows),
                                             "total_count": len(rows), "total_pages": 1}})

    store = MemoryCheckpointStore()
    publisher = FakePublisher(store)
    client = CloudflareClient("https://api.test/client/v4", Credentials(token=Secret("t" * 40)),
                              transport=httpx.MockTransport(handler))
    runner = SnapshotRunner(
        feed, "acct", client=client, publisher=publisher, store=store,
        reader=ReplayReader(publisher), encoder=Encoder(1, schemas.load(feed.schema)),
        policy=SnapshotPolicy(per_page=5), clock=lambda: datetime.now(UTC),
        stop=asyncio.Event())
    return runner, client, publisher


def test_unkeyed_records_are_dead_lettered_once_and_never_cause_removals():
    feed = AccessUsers()
    good = {"id": "u1", "email": "a@example.com", "access_seat": True}
    rows = [good, {"email": "no-id@example.com"}]

    async def go():
        runner, client, publisher = _mock_runner(feed, rows)
        await runner.start()
        await runner.snapshot_once()
        await runner.snapshot_once()
        rows[0] = {**good, "access_seat": "yes", "active_device_count": "many"}  # mistyped
        changed = await runner.snapshot_once()
        rows[0] = {**good, "id": 7}  # a non-string id: unkeyed, yet must not read as removed
        postponed = await runner.snapshot_once()
        await client.aclose()
        return publisher.records, changed, postponed, runner.roster

    records, changed, postponed, roster = asyncio.run(go())
    assert postponed.removed == [] and "acct/u1" in roster, "no removal from a partial listing"
    dlq = [r for r in records if r.topic == DLQ_TOPIC]
    assert len(dlq) == 2, "each bad content once, not on every snapshot"
    assert b"no-id@example.com" in dlq[0].value and dict(dlq[0].headers)["dlq.stage"] == b"encode"
    assert b'"id":7' in dlq[1].value
    topic = [r for r in records if r.topic == feed.topic]
    assert [r.key for r in topic] == [b"acct/u1", b"acct/u1"]
    assert changed.changed == ["acct/u1"]
    value = _decode(feed, topic[1].value)
    assert value["access_seat"] is None and value["extra"] == {
        "access_seat": '"yes"', "active_device_count": '"many"'}, "mistyped kept in extra"


def test_unencodable_member_keeps_its_last_state():
    feed = Members()
    rows = [{"id": "m1", "email": "a@example.com", "user": {"id": "u1"}}]

    async def go():
        runner, client, publisher = _mock_runner(feed, rows)
        await runner.start()
        await runner.snapshot_once()
        before = dict(runner.roster)
        rows[0] = {"email": "b@example.com", "user": {"id": "u1"}}  # keyed, but no "id"
        result = await runner.snapshot_once()
        await client.aclose()
        return publisher.records, result, before, runner.roster

    records, result, before, roster = asyncio.run(go())
    assert roster == before and not result.removed and result.dead_letters == 1
    assert [r.topic for r in records] == [feed.topic, DLQ_TOPIC]
    assert records[1].key == b"acct/u1"


def test_unknown_fields_round_trip_through_extra():
    feed = Members()
    raw = {"id": "m1", "email": "a@example.com", "status": "accepted",
           "roles": [{"id": "r", "name": "DNS", "permissions": {"dns": {"read": True}}}],
           "policies": [], "user": {"id": "u1", "email": "a@example.com", "mfa": "totp"},
           "new_thing": {"nested": [1, 2]}}
    encoded = Encoder(3, schemas.load(feed.schema)).encode(feed.to_value(raw))
    value = _decode(feed, encoded)
    assert value["extra"] == {"user.mfa": '"totp"', "new_thing": '{"nested":[1,2]}'}
    assert convert.restore(schemas.raw(feed.schema), value, feed.json_fields) == raw


def test_user_key_fingerprint_and_replay():
    members = Members()
    assert members.user_key({"id": "m1", "user": {"id": "u1"}}) == "u1"
    assert members.user_key({"id": "m1", "user": {"id": None}}) == "m1"
    a = members.fingerprint({"id": "m1", "user": {"id": "u1", "first_name": None}, "x": None})
    assert set(a) == {"id", "user.id"}, "null equals absent; nested fields are dotted"
    assert members.fingerprint({"roles": [1, 2]}) != members.fingerprint({"roles": [2, 1]})
    roster = {}
    apply_record(roster, b"acct/u1", b"v", [("cf.fingerprint", b'{"id":"x"}')], "acct/")
    apply_record(roster, b"other/u1", b"v", [("cf.fingerprint", b'{"id":"x"}')], "acct/")
    apply_record(roster, b"acct/u2", b"v", [("cf.fingerprint", b"not json")], "acct/")
    apply_record(roster, b"acct/u3", b"v", None, "acct/")
    assert roster == {"acct/u1": {"id": "x"}, "acct/u2": {}, "acct/u3": {}}
    apply_record(roster, b"acct/u1", None, [("cf.change", b"removed")], "acct/")
    assert set(roster) == {"acct/u2", "acct/u3"}, "a tombstone removes the user"
    assert set(SNAPSHOT_FEEDS) == {"members", "access_users"}
    assert roster_digest({"a": {"x": "1"}, "b": {}}) == roster_digest({"b": {}, "a": {"x": "1"}})


@pytest.mark.e2e
def test_load_roster_reads_the_committed_roster_from_kafka(stack):
    """The real reader: transactions via TransactionalPublisher, an aborted one, tombstones,
    another account's keys; read_committed to the high watermark."""
    conf = {"bootstrap.servers": stack.bootstrap}
    topic = f"test.roster.{secrets.token_hex(4)}"
    ensure_topics(conf, [TopicSpec(topic, 3, TOPIC_CONFIG)])

    def rec(key, fp):
        headers = [] if fp is None else [("cf.fingerprint", json.dumps(fp).encode())]
        return OutRecord(topic, key.encode(), None if fp is None else b"v", headers)

    publisher = TransactionalPublisher(conf, f"test-roster-{topic}", timeout_s=30)
    publisher.start()
    publisher.publish([rec("a/u1", {"x": "1"}), rec("a/u2", {"x": "2"}),
                       rec("a/u3", {"x": "3"}), rec("b/u1", {"x": "9"})])
    publisher.publish([rec("a/u2", None), rec("a/u3", {"x": "33"})])
    publisher.close()
    aborted = Producer({**conf, "transactional.id": f"test-roster-aborted-{topic}"})
    aborted.init_transactions(30)
    aborted.begin_transaction()
    aborted.produce(topic, key=b"a/u4", value=b"v", headers=[("cf.fingerprint", b"{}")])
    aborted.produce(topic, key=b"a/u1", value=None)
    aborted.flush(30)
    aborted.abort_transaction(30)

    assert load_roster(conf, topic, "a/") == {"a/u1": {"x": "1"}, "a/u3": {"x": "33"}}
    assert load_roster(conf, topic, "b/") == {"b/u1": {"x": "9"}}


def test_a_clamped_page_size_is_followed():
    feed = AccessUsers()

    async def go():
        config = SimConfig(initial_events=0, events_per_second=0, seed=4, max_per_page=6,
                           per_page_over_max="clamp")
        async with run_sim(config) as sim:
            store = MemoryCheckpointStore()
            publisher = FakePublisher(store)
            runner, client = _runner(sim, feed, store, publisher, per_page=50)
            await runner.start()
            result = await runner.snapshot_once()
            await client.aclose()
            return result, await _truth(sim, feed)

    result, truth = asyncio.run(go())
    assert len(result.added) == len(truth) > 6
