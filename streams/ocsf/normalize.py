"""Entry point: one decoded raw-topic record -> one OCSF 1.3.0 event (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .compiler import Normalizer, compile_dataset
from .datasets import DATASETS
from .engine import Context, Dataset, apply
from .errors import NormalizationError, UnknownDatasetError

_COMPILED: dict[str, Normalizer] = {}


@dataclass(frozen=True)
class OcsfEvent:
    """A normalized record with its OCSF class and the Avro schema it is written in.

    ``record`` has exactly the fields of ``schemas/<schema>.avsc``. ``mapped`` lists the
    Cloudflare fields (dotted paths) that went into OCSF attributes; every other field of
    the raw record is in ``record["unmapped"]``.
    """

    class_uid: int
    class_name: str
    schema: str
    key: str
    record: dict[str, Any]
    mapped: frozenset[str]


def _spec(dataset: str, key: str) -> Dataset:
    """The dataset's mapping spec (``UnknownDatasetError`` if there is none)."""
    spec = DATASETS.get(dataset)
    if spec is None:
        msg = f"no OCSF mapping for dataset {dataset!r}; known: {', '.join(DATASETS)}"
        raise UnknownDatasetError(msg, dataset=dataset, key=key)
    return spec


def _check(dataset: str, key: str, record: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """``record``; refuses one without a key and a tombstone (``NormalizationError``)."""
    if not key:
        msg = "record has no Kafka key (its dedup key)"
        raise NormalizationError(msg, dataset=dataset)
    if record is None:
        msg = "tombstone (a removed user): nothing to normalize"
        raise NormalizationError(msg, dataset=dataset, key=key)
    return record


def normalize(
    dataset: str,
    key: str,
    record: Mapping[str, Any] | None,
    *,
    account_name: str | None = None,
    scope: str | None = None,
    snapshot_at: str | None = None,
) -> OcsfEvent:
    """Map one decoded ``cloudflare.<dataset>.v1`` value to its OCSF class.

    ``key`` is the raw record's Kafka key (its dedup key; ``metadata.uid``). ``scope`` is
    the ``cf.scope`` header (``account:<id>`` gives ``cloud.account.uid``; ``zone:<id>``
    is kept as ``unmapped["ZoneID"]``), ``snapshot_at`` the ``cf.snapshot_at`` header of
    the roster feeds (the event time of ``members`` and ``access_users``) and
    ``account_name`` the account's configured name when the record does not carry one.

    Raises ``UnknownDatasetError`` for a dataset without a mapping and
    ``NormalizationError`` for a record that cannot be normalized (a tombstone, no key,
    no or an unparseable time, a value that is not of the dataset's raw schema).
    """
    compiled = _COMPILED.get(dataset)
    if compiled is None:  # first record of the dataset (the maps compile in milliseconds)
        compiled = _COMPILED[dataset] = compile_dataset(_spec(dataset, key))
    record = _check(dataset, key, record)
    cls, out, mapped = compiled(key, record, account_name, scope, snapshot_at)
    return OcsfEvent(cls.uid, cls.name, cls.schema, key, out, mapped)


def normalize_reference(
    dataset: str,
    key: str,
    record: Mapping[str, Any] | None,
    *,
    account_name: str | None = None,
    scope: str | None = None,
    snapshot_at: str | None = None,
) -> OcsfEvent:
    """``normalize`` by the reference interpreter of the maps (``engine.apply``): slow, for
    tests that check the compiled maps against it."""
    spec = _spec(dataset, key)
    record = _check(dataset, key, record)
    context = Context(key, account_name=account_name, scope=scope, snapshot_at=snapshot_at)
    result = apply(spec, record, context)
    cls = result.ocsf_class
    return OcsfEvent(cls.uid, cls.name, cls.schema, key, result.record, result.mapped)
