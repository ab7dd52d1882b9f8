"""``shape.shaped``: True only when ``conform`` would return an equal copy, key order
included (the pipeline then skips ``conform`` after enrichment); True for the normalizer's
output and for enriched records."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest
from ocsf_samples import ACCOUNT, ZONE, normalize_raw, samples

from streams.enrich import Enricher, Roster
from streams.ocsf import DATASETS, conform
from streams.ocsf.errors import ShapeError
from streams.ocsf.shape import shaped

NAMES = sorted(DATASETS)


def _agrees(schema: str, record: Any) -> bool:
    """``shaped``'s answer, checked: when True, conform gives the record back (equal, same
    key order, a copy)."""
    answer = shaped(schema, record)
    if answer:
        out = conform(schema, record)
        assert out == record
        assert json.dumps(out, default=str) == json.dumps(record, default=str)
    return answer


def _mutations(record: dict[str, Any], rng: random.Random) -> list[Any]:
    """Records that differ from ``record`` in one way conform may repair or refuse."""
    out: list[Any] = []
    paths: list[tuple[Any, Any]] = []  # (container, key) of every value

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in node:
                paths.append((node, key))
                walk(node[key])
        elif isinstance(node, list):
            for index in range(len(node)):
                paths.append((node, index))
                walk(node[index])

    for _ in range(40):
        mutated = copy.deepcopy(record)
        paths.clear()
        walk(mutated)
        container, key = rng.choice(paths)
        value = container[key]
        change = rng.randrange(7)
        if change == 0 and isinstance(container, dict):
            del container[key]
        elif change == 1 and isinstance(container, dict):
            container["not_a_field"] = 1
        elif change == 2 and isinstance(container, dict):
            container[key] = container.pop(key)  # moved to the end
        elif change == 3:
            container[key] = None
        elif change == 4 and isinstance(value, list):
            container[key] = tuple(value)
        elif change == 5 and isinstance(value, dict):
            value[1] = "x"  # a key that is not a string
        else:
            container[key] = rng.choice([{}, [], "", 0, {"a": None}])
        out.append(mutated)
    out += [None, [], "x", {}, {**record, "extra": None}]
    return out


@pytest.mark.parametrize("dataset", NAMES)
def test_normalized_and_enriched_records_are_shaped(dataset):
    enricher = Enricher.default(account_names={ACCOUNT: "Acme"}, zone_names={ZONE: "z"},
                                roster=Roster())
    for raw in samples(dataset, 40, 2):
        event = normalize_raw(dataset, raw)
        assert _agrees(event.schema, event.record)
        enriched = enricher.enriched(event.record)
        assert enriched != event.record or dataset in ("members", "access_users")
        assert _agrees(event.schema, enriched)


@pytest.mark.parametrize("dataset", NAMES)
def test_shaped_is_false_where_conform_changes_or_refuses(dataset):
    rng = random.Random(dataset)
    answers = []
    for raw in samples(dataset, 15, 4):
        event = normalize_raw(dataset, raw)
        answers += [_agrees(event.schema, m) for m in _mutations(event.record, rng)]
    assert answers.count(False) > len(answers) // 3
    with pytest.raises(ShapeError):  # one shaped() refuses: conform refuses it too
        conform(event.schema, {**event.record, "not_a_field": 1})
