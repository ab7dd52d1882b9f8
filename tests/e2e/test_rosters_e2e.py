"""Members and Access users: compacted, keyed-by-user topics that always hold the current
roster, with changes visible as added / changed / removed (tombstone)."""

from __future__ import annotations

import secrets

import pytest
from support import connector_env, read_topic, start_connector, start_sim, wait_until

pytestmark = pytest.mark.e2e


def _roster(stack, topic, account):
    """The compacted view: last value per key (None = removed), and every change header."""
    state, changes = {}, []
    for m in read_topic(stack, topic):
        if not (m.key or b"").startswith(account.encode()):
            continue
        state[m.key] = m.value
        changes.append((m.key, m.headers.get("cf.change"), m.headers.get("cf.changed_fields")))
    return {k: v for k, v in state.items() if v is not None}, changes


def test_roster_changes_are_published_as_the_current_state(stack, tmp_path):
    sim = start_sim(tmp_path, initial_events=5, events_per_second=0)
    env = connector_env(stack, sim, f"e2e-roster-{secrets.token_hex(3)}",
                        CF_FEEDS="members,access_users", CF_SNAPSHOT_INTERVAL_S="2")
    connector = start_connector(tmp_path, env)
    try:
        members = sim.admin(f"members?account_id={sim.account_id}")
        users = sim.admin(f"access_users?account_id={sim.account_id}")
        wait_until(lambda: len(_roster(stack, "cloudflare.members.v1", sim.account_id)[0])
                   == len(members), 90, "first members snapshot", [connector, sim.service])
        wait_until(lambda: len(_roster(stack, "cloudflare.access_users.v1", sim.account_id)[0])
                   == len(users), 90, "first access users snapshot", [connector, sim.service])
        gone, promoted = members[0]["email"], members[1]["email"]
        old_role = members[1]["roles"][0]["name"]
        new_role = "Audit Logs Viewer" if old_role != "Audit Logs Viewer" else "DNS"
        sim.admin("members", {"account_id": sim.account_id, "remove": [gone],
                              "add": ["new.admin@example.com"],
                              "set_role": {promoted: new_role}})
        seat = {"gateway_seat": not users[0]["gateway_seat"]}
        sim.admin("access_users", {"account_id": sim.account_id,
                                   "set_seat": {users[0]["email"]: seat}})

        def members_changed():
            _, changes = _roster(stack, "cloudflare.members.v1", sim.account_id)
            kinds = [c[1] for c in changes]
            return kinds.count(b"removed") == 1 and kinds.count(b"changed") >= 1 and \
                kinds.count(b"added") == len(members) + 1

        wait_until(members_changed, 60, "member changes", [connector, sim.service])
        current, changes = _roster(stack, "cloudflare.members.v1", sim.account_id)
        assert len(current) == len(members), "one removed, one added"
        changed = [c for c in changes if c[1] == b"changed"]
        assert any(b"roles" in (c[2] or b"") for c in changed), changed

        def seat_changed():
            _, changes = _roster(stack, "cloudflare.access_users.v1", sim.account_id)
            return any(c[1] == b"changed" and b"gateway_seat" in (c[2] or b"") for c in changes)

        wait_until(seat_changed, 60, "seat change", [connector, sim.service])
    finally:
        connector.stop()
        sim.service.stop()
