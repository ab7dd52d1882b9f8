"""firewall_events: full pages split the window; every query spends the GraphQL budget."""

import asyncio
from datetime import UTC, datetime, timedelta

from connector.feeds.firewall_events import FirewallEvents
from connector.governor import Governor
from connector.windows import Window

T0 = datetime(2026, 11, 22, 20, 0, tzinfo=UTC)


class FakeClient:
    """Answers firewallEventsAdaptive queries from a list of rows, honouring filter + limit."""

    def __init__(self, rows: list[dict]) -> None:
        self.rows = rows
        self.queries: list[dict] = []

    async def post(self, path: str, body: dict) -> dict:
        variables = body["variables"]
        self.queries.append(variables)
        f = variables["filter"]
        rows = [r for r in self.rows if f["datetime_geq"] <= r["datetime"] < f["datetime_lt"]]
        return {"data": {"viewer": {"zones": [{"firewallEventsAdaptive":
                                               rows[: variables["limit"]]}]}}, "errors": None}


def _row(second: int) -> dict:
    moment = T0 + timedelta(seconds=second)
    return {"rayName": f"ray{second}", "datetime": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "matchIndex": 0, "ruleId": "r", "source": "waf", "action": "block"}


def test_full_pages_are_split_and_each_query_takes_a_graphql_token() -> None:
    rows = [_row(s) for s in range(0, 600, 7)]  # 86 events in 10 minutes
    client = FakeClient(rows)
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    governor = Governor(1.0, 1, clock=lambda: now[0], sleep=sleep)

    async def collect() -> list[dict]:
        window = Window(T0, T0 + timedelta(minutes=10))
        return [r async for r in FirewallEvents().records(
            client, "z", window, ["rayName", "datetime"], 20, governor)]

    got = asyncio.run(collect())
    assert sorted(r["RayID"] for r in got) == sorted(r["rayName"] for r in rows)
    assert len(client.queries) > 5, "full pages were split"
    assert governor.acquired == len(client.queries)
    assert now[0] >= len(client.queries) - 1, "1 query/s budget was kept"
