"""The snapshot modules' split: ``connector.snapshots`` still exports every roster name."""

from __future__ import annotations

import connector.roster
import connector.roster_feeds
import connector.snapshots


def test_snapshots_re_exports_the_roster_modules_objects():
    moved = {name: module for module in (connector.roster, connector.roster_feeds)
             for name in vars(module) if name in connector.snapshots.__all__}
    assert {"SnapshotFeed", "Members", "TOPIC_CONFIG", "load_roster", "Roster"} <= moved.keys()
    for name, module in moved.items():
        assert getattr(connector.snapshots, name) is getattr(module, name), name


def test_every_name_imported_from_snapshots_is_exported():
    used = {  # grep "from connector.snapshots import" across the repo
        "SNAPSHOT_FEEDS", "TOPIC_CONFIG", "AccessUsers", "InconsistentListingError",
        "KafkaRosterReader", "Members", "SnapshotFeed", "SnapshotPolicy", "SnapshotRunner",
        "apply_record", "load_roster", "replay", "roster_digest",
    }
    assert used <= set(connector.snapshots.__all__)
    assert all(hasattr(connector.snapshots, name) for name in connector.snapshots.__all__)
    assert connector.snapshots.__all__ == sorted(connector.snapshots.__all__, key=_all_order)


def _all_order(name: str) -> tuple[int, str]:
    """ruff's __all__ order: SCREAMING_CASE, then CamelCase, then the rest."""
    if name.isupper():
        return 0, name
    return (1, name) if name[0].isupper() else (2, name)
