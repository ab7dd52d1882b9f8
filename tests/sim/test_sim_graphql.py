"""GraphQL Analytics firewallEventsAdaptive (facts §5): settings node, windows, limit
truncation and ties, errors inside HTTP 200, permission, rate limit, faults, determinism."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from sim.__main__ import build_parser
from sim.config import SimConfig
from sim.graphql import FIELDS, KEY_FIELDS, events_in_second

T0 = datetime(2026, 11, 22, 20, 19, 48, 250000, tzinfo=UTC)  # conftest.T0
ZONE = SimConfig().zone_ids[0]
LIMITED = "L" * 40

SETTINGS = """
query Settings($zoneTag: string) {
  viewer {
    zones(filter: {zoneTag: $zoneTag}) {
      settings { firewallEventsAdaptive {
        enabled maxDuration maxNumberOfFields maxPageSize notOlderThan availableFields } }
    }
  }
}"""


def events_query(fields: tuple[str, ...] = KEY_FIELDS) -> str:
    return ("query FW($zoneTag: string, $filter: FirewallEventsAdaptiveFilter_InputObject,"
            " $limit: uint64) {\n viewer {\n  zones(filter: { zoneTag: $zoneTag }) {\n"
            "   firewallEventsAdaptive(\n    orderBy: [datetime_ASC], limit: $limit,"
            f" filter: $filter\n   ) {{ {' '.join(fields)} }}\n  }}\n }}\n}}")


def ts(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


async def gql(c, query, **variables):
    return await c.post("/graphql", json={"query": query, "variables": variables})


async def fetch(c, start: datetime, end: datetime, limit: int, fields=KEY_FIELDS):
    r = await gql(c, events_query(fields), zoneTag=ZONE, limit=limit,
                  filter={"datetime_geq": ts(start), "datetime_leq": ts(end)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["errors"] is None, body
    return body["data"]["viewer"]["zones"][0]["firewallEventsAdaptive"]


async def truth(sim, c, start: datetime, end: datetime):
    r = await c.get(f"{sim.admin_url}/firewall_events",
                    params={"zone_id": ZONE, "start": ts(start), "end": ts(end)})
    assert r.status_code == 200
    return r.json()


def key(row) -> tuple:
    return tuple(row[k] for k in KEY_FIELDS)


def test_settings_node(serve):
    async def scenario(sim, c):
        r = await gql(c, SETTINGS, zoneTag=ZONE)
        assert r.status_code == 200
        body = r.json()
        assert body["errors"] is None
        node = body["data"]["viewer"]["zones"][0]["settings"]["firewallEventsAdaptive"]
        assert node["enabled"] is True
        assert node["maxPageSize"] == 10000 and node["maxDuration"] == 259200
        assert node["maxNumberOfFields"] == 30 and node["notOlderThan"] == 2678400
        assert set(node["availableFields"]) == set(FIELDS)
        # field order and whitespace are free; only requested fields come back
        q = ("{viewer{zones(filter:{zoneTag:$z}){settings{firewallEventsAdaptive"
             "{maxPageSize,enabled}}}}}")
        r = await gql(c, q, z=ZONE)
        assert r.json()["data"]["viewer"]["zones"][0]["settings"][
            "firewallEventsAdaptive"] == {"maxPageSize": 10000, "enabled": True}

    serve(scenario)


def test_window_split_returns_every_event_once(serve):
    async def scenario(sim, c):
        start = T0.replace(microsecond=0) - timedelta(seconds=1200)
        end = start + timedelta(seconds=599)
        expected = await truth(sim, c, start, end)
        assert expected["count"] > 2000
        got: list[tuple] = []
        full_pages = 0

        async def pull(lo: datetime, hi: datetime) -> None:
            nonlocal full_pages
            rows = await fetch(c, lo, hi, 500)
            if len(rows) == 500:
                full_pages += 1
                mid = lo + (hi - lo) / 2
                mid = mid.replace(microsecond=0)
                await pull(lo, mid)
                await pull(mid + timedelta(seconds=1), hi)
                return
            got.extend(key(r) for r in rows)

        await pull(start, end)
        assert full_pages > 0
        assert got == [tuple(k[f] for f in KEY_FIELDS) for k in expected["keys"]]
        assert len(set(got)) == len(got) == expected["count"]

    serve(scenario, graphql_eps=5.0)


def test_limit_truncates_in_stable_datetime_order_with_ties(serve):
    async def scenario(sim, c):
        start = T0.replace(microsecond=0) - timedelta(seconds=300)
        end = start + timedelta(seconds=60)
        expected = [tuple(k[f] for f in KEY_FIELDS)
                    for k in (await truth(sim, c, start, end))["keys"]]
        rows = await fetch(c, start, end, 23)
        assert len(rows) == 23
        assert [key(r) for r in rows] == expected[:23]
        assert await fetch(c, start, end, 23) == rows  # stable tie order
        stamps = [r["datetime"] for r in rows]
        assert stamps == sorted(stamps)
        assert max(Counter(stamps).values()) > 1  # seconds precision: ties
        assert all(s.endswith("Z") and len(s) == 20 for s in stamps)
        everything = await fetch(c, start, end, 10000)
        assert [key(r) for r in everything] == expected
        # several events per request: same rayName, different matchIndex
        by_ray = Counter(r["rayName"] for r in everything)
        assert max(by_ray.values()) > 1
        # nothing in the future
        assert await fetch(c, T0 + timedelta(seconds=10), T0 + timedelta(seconds=60),
                           100) == []

    serve(scenario, graphql_eps=5.0)


def test_all_fields_and_inline_filter_alias_desc(serve):
    async def scenario(sim, c):
        start = T0.replace(microsecond=0) - timedelta(seconds=120)
        fields = FIELDS[:30]
        rows = await fetch(c, start, start + timedelta(seconds=59), 10000, fields)
        assert rows and all(set(r) == set(fields) for r in rows)
        assert {r["sampleInterval"] for r in rows} <= {1, 10, 100}
        q = (f'{{ viewer {{ zones(filter: {{zoneTag: "{ZONE}"}}) {{ ev: firewallEventsAdaptive('
             f'limit: 5, orderBy: [datetime_DESC], filter: {{AND: ['
             f'{{datetime_gt: "{ts(start)}"}}, '
             f'{{datetime_lt: "{ts(start + timedelta(seconds=60))}"}}'
             f']}}) {{ rayName datetime matchIndex ruleId source }} }} }} }}')
        r = await gql(c, q)
        body = r.json()
        assert body["errors"] is None, body
        desc = body["data"]["viewer"]["zones"][0]["ev"]
        asc = await fetch(c, start + timedelta(seconds=1), start + timedelta(seconds=59),
                          10000)
        assert [key(x) for x in desc] == [key(x) for x in reversed(asc)][:5]

    serve(scenario, graphql_eps=3.0)


def test_errors_inside_http_200(serve):
    async def scenario(sim, c):
        now = T0.replace(microsecond=0)

        async def error_of(query, **variables):
            r = await gql(c, query, **variables)
            assert r.status_code == 200
            body = r.json()
            assert body["data"] is None and len(body["errors"]) == 1
            assert "timestamp" in body["errors"][0]["extensions"]
            return body["errors"][0]["message"]

        def window(start, end):
            return {"datetime_geq": ts(start), "datetime_leq": ts(end)}

        ok = window(now - timedelta(seconds=600), now - timedelta(seconds=60))
        q = events_query()
        assert await error_of(q, zoneTag=ZONE, limit=10001, filter=ok) == \
            "limit must be positive number and not greater than 10000"
        assert await error_of(q, zoneTag=ZONE, limit=0, filter=ok) == \
            "limit must be positive number and not greater than 10000"
        assert await error_of(q, zoneTag=ZONE, limit=10, filter=window(
            now - timedelta(hours=3), now)) == "query time range is too large"
        assert await error_of(q, zoneTag=ZONE, limit=10, filter=window(
            now - timedelta(days=2), now - timedelta(days=2) + timedelta(minutes=1))) == \
            "cannot request data older than 86400s"
        assert await error_of(events_query(FIELDS[:6]), zoneTag=ZONE, limit=10,
                              filter=ok) == "number of fields can't be more than 5"
        assert "nope" in await error_of(events_query(("rayName", "nope")), zoneTag=ZONE,
                                        limit=10, filter=ok)
        assert "datetime" in await error_of(q, zoneTag=ZONE, limit=10,
                                            filter={"datetime_geq": ts(now)})
        assert await error_of(q, zoneTag="f" * 32, limit=10, filter=ok)
        assert await error_of("{ viewer { accounts { x } } }")
        # the limits themselves are fine
        assert await fetch(c, now - timedelta(hours=1), now, 10)

    serve(scenario, graphql_max_duration_s=3600, graphql_not_older_than_s=86400,
          graphql_max_fields=5)


def test_permission(serve):
    async def scenario(sim, c):
        r = await gql(c, SETTINGS, zoneTag=ZONE)
        assert r.status_code == 200
        c.headers["Authorization"] = f"Bearer {LIMITED}"
        r = await gql(c, SETTINGS, zoneTag=ZONE)
        assert r.status_code == 403
        body = r.json()
        assert body["data"] is None and body["errors"]
        c.headers["Authorization"] = f"Bearer {'A' * 40}"
        r = await gql(c, SETTINGS, zoneTag=ZONE)
        assert r.status_code == 200 and r.json()["errors"] is None

    serve(scenario, limited_tokens={LIMITED: frozenset({"Logs Read"}),
                                    "A" * 40: frozenset({"Account Analytics Read"})})


def test_rate_limit_and_fault(serve, clock):
    async def scenario(sim, c):
        for _ in range(3):
            assert (await gql(c, SETTINGS, zoneTag=ZONE)).status_code == 200
        r = await gql(c, SETTINGS, zoneTag=ZONE)
        assert r.status_code == 429
        assert r.json()["errors"][0]["message"] == \
            "rate limiter budget depleted, try again after 5 minutes"
        assert int(r.headers["Retry-After"]) >= 1
        clock.advance(301)
        r = await gql(c, SETTINGS, zoneTag=ZONE)
        assert r.status_code == 200 and r.json()["errors"] is None
        r = await c.post(f"{sim.admin_url}/faults", json={"kind": "graphql_error"})
        assert r.status_code == 200
        r = await gql(c, SETTINGS, zoneTag=ZONE)
        assert r.status_code == 200
        assert r.json()["data"] is None and r.json()["errors"]
        r = await gql(c, SETTINGS, zoneTag=ZONE)
        assert r.json()["errors"] is None
        await c.post(f"{sim.admin_url}/graphql/reset")

    serve(scenario, graphql_rate_limit=3)


def test_determinism(serve):
    sec = int(T0.timestamp()) - 100
    a = events_in_second(42, ZONE, "example.com", 7.5, sec)
    assert a == events_in_second(42, ZONE, "example.com", 7.5, sec)
    assert a != events_in_second(43, ZONE, "example.com", 7.5, sec)
    assert len(a) in (7, 8) and set(a[0]) == set(FIELDS)
    results = []

    async def scenario(sim, c):
        start = T0.replace(microsecond=0) - timedelta(seconds=90)
        results.append(await fetch(c, start, start + timedelta(seconds=30), 10000))

    serve(scenario, graphql_eps=2.0)
    serve(scenario, graphql_eps=2.0)
    serve(scenario, graphql_eps=2.0, seed=7)
    assert results[0] == results[1] != results[2]


def test_cli_options():
    args = build_parser().parse_args(["--graphql-eps", "9", "--graphql-rate-limit", "5",
                                      "--graphql-max-page-size", "100"])
    assert args.graphql_eps == 9.0 and args.graphql_rate_limit == 5
    assert args.graphql_max_page_size == 100
