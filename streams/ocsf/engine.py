"""The generic engine: applies a dataset's declarative field map to one raw record.

A mapping is data: ``Rule(target, sources, transform)`` says "the OCSF attribute at dotted
``target`` is ``transform(*values of the Cloudflare fields at sources)``" (no transform: the
first source's value). Sources starting with ``@`` read the record's context (Kafka key,
account, scope and snapshot headers) instead of the record. A transform that returns None
sets nothing; one that raises ``Unmappable`` leaves its sources unmapped.

Every Cloudflare field a rule reads counts as mapped; every other leaf of the record goes to
``unmapped`` (dotted path -> JSON). The engine adds what every class shares (class, activity
and type ids and names, severity and status captions, ``metadata``, ``cloud``, ``raw_data``,
``unmapped``, ``enrichments``) and shapes the result to the class's Avro schema.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import schemas

from .classes import OCSF_VERSION, SEVERITY, VENDOR, OcsfClass
from .errors import NormalizationError, Unmappable
from .shape import conform_reference
from .source import covered, dumps, leaves, lookup, restore
from .transforms import text

Transform = Callable[..., Any]


@dataclass(frozen=True)
class Rule:
    """OCSF ``target`` <- ``transform(*sources)`` (or the first source verbatim)."""

    target: str
    sources: tuple[str, ...]
    transform: Transform | None = None

    def describe(self) -> tuple[str, str, str]:
        """``(target, sources, transform)`` as text, for docs/OCSF.md."""
        how = "as is" if self.transform in (None, text) else getattr(
            self.transform, "__name__", repr(self.transform))
        return self.target, ", ".join(self.sources) or "-", how


class Constant:
    """A transform that ignores its inputs and returns ``value``."""

    def __init__(self, value: Any) -> None:
        self.value = value
        self.__name__ = f"= {dumps(value)}"

    def __call__(self, *_: Any) -> Any:
        """The constant."""
        return self.value


def copy(target: str, source: str) -> Rule:
    """``target`` (a string attribute) <- the Cloudflare field ``source`` as text."""
    return Rule(target, (source,), text)


def derive(target: str, sources: str | tuple[str, ...], transform: Transform) -> Rule:
    """``target`` <- ``transform(*sources)``."""
    return Rule(target, (sources,) if isinstance(sources, str) else sources, transform)


def const(target: str, value: Any) -> Rule:
    """``target`` <- ``value`` (reads nothing)."""
    return Rule(target, (), Constant(value))


@dataclass(frozen=True)
class ClassMapping:
    """The rules that turn a dataset's record into one OCSF class.

    ``keep``: mapped Cloudflare fields that are copied to ``unmapped`` as well, under their
    own names, for consumers that read them there.
    """

    ocsf_class: OcsfClass
    rules: tuple[Rule, ...]
    keep: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Route:
    """Use ``mapping`` when ``when(*sources)`` is true (no ``when``: always)."""

    mapping: ClassMapping
    sources: tuple[str, ...] = ()
    when: Callable[..., bool] | None = None


@dataclass(frozen=True)
class TimeSpec:
    """Event time: the first present of ``sources``, parsed to epoch milliseconds."""

    sources: tuple[str, ...]
    parse: Callable[[Any], int]


@dataclass(frozen=True)
class Dataset:
    """A raw dataset: its raw schema, product name, time and routes to OCSF classes."""

    name: str
    raw_schema: str  # schemas/<raw_schema>.avsc
    json_fields: frozenset[str]
    product: str
    time: TimeSpec
    routes: tuple[Route, ...]

    def mappings(self) -> tuple[ClassMapping, ...]:
        """Every class mapping of the dataset, in route order."""
        return tuple(r.mapping for r in self.routes)


@dataclass(frozen=True)
class Context:
    """What the record does not say about itself: its Kafka key and headers."""

    key: str
    account_name: str | None = None
    scope: str | None = None
    snapshot_at: str | None = None

    @property
    def account(self) -> str | None:
        """The account id of an ``account:<id>`` scope, else of a ``<account>/<user>`` key."""
        if self.scope and self.scope.startswith("account:"):
            return self.scope.removeprefix("account:") or None
        if "/" in self.key:  # roster keys
            return self.key.split("/", 1)[0] or None
        return None

    def lookup(self, name: str) -> str | None:
        """``@key``, ``@account``, ``@account_name``, ``@scope`` or ``@snapshot_at``."""
        values = {"@key": self.key, "@account": self.account, "@account_name": self.account_name,
                  "@scope": self.scope, "@snapshot_at": self.snapshot_at}
        return values[name] or None  # an unknown name is a mapping bug: KeyError


@dataclass(frozen=True)
class Result:
    """A normalized record, its class and the Cloudflare fields the rules mapped."""

    ocsf_class: OcsfClass
    record: dict[str, Any]
    mapped: frozenset[str]


def apply(dataset: Dataset, value: Mapping[str, Any], context: Context) -> Result:
    """Normalize one decoded raw-topic ``value``; raise ``NormalizationError`` if impossible.

    This interpreter of the maps is the reference: ``normalize`` runs the same maps
    compiled (``streams/ocsf/compiler.py``), with the same result for every input.
    """
    try:
        original = restore(schemas.raw(dataset.raw_schema), value, dataset.json_fields)
    except (ValueError, TypeError, AttributeError) as exc:
        raise _error(dataset, context, f"not a decoded {dataset.raw_schema} value: {exc}") from exc

    def read(path: str) -> Any:
        return context.lookup(path) if path.startswith("@") else lookup(original, path)

    mapped: set[str] = set()
    time_ms, original_time = _time(dataset, context, read, mapped)
    mapping = _route(dataset, read)
    out: dict[str, Any] = {}
    for rule in mapping.rules:
        values = [read(s) for s in rule.sources]
        try:
            result = values[0] if rule.transform is None else rule.transform(*values)
        except Unmappable:
            continue
        mapped.update(s for s in rule.sources if not s.startswith("@"))
        if result is not None:
            _set(out, rule.target, result)
    cls = mapping.ocsf_class
    frozen = frozenset(mapped)
    unmapped = {p: dumps(v) for p, v in leaves(original)
                if p in mapping.keep or not covered(p, frozen)}
    unmapped.update(_scope_fields(context, original))
    record = _common(cls, dataset, context, out, time_ms, original_time)
    record["raw_data"] = dumps(original)
    record["unmapped"] = unmapped
    return Result(cls, conform_reference(cls.schema, record), frozen)


def _error(dataset: Dataset, context: Context, reason: str) -> NormalizationError:
    return NormalizationError(reason, dataset=dataset.name, key=context.key)


def _time(
    dataset: Dataset, context: Context, read: Callable[[str], Any], mapped: set[str]
) -> tuple[int, str]:
    spec = dataset.time
    for source in spec.sources:
        raw = read(source)
        if raw is None:
            continue
        try:
            millis = spec.parse(raw)
        except Unmappable as exc:
            raise _error(dataset, context, f"unparseable time {source}={raw!r}") from exc
        if not source.startswith("@"):
            mapped.add(source)
        return millis, raw if isinstance(raw, str) else dumps(raw)
    names = " or ".join(s.removeprefix("@") for s in spec.sources)
    raise _error(dataset, context, f"record has no time ({names})")


def _route(dataset: Dataset, read: Callable[[str], Any]) -> ClassMapping:
    for route in dataset.routes:
        if route.when is None or route.when(*(read(s) for s in route.sources)):
            return route.mapping
    msg = f"no route of dataset {dataset.name} matches"  # a mapping bug: routes end catch-all
    raise AssertionError(msg)


def _set(out: dict[str, Any], target: str, value: Any) -> None:
    *parents, leaf = target.split(".")
    node = out
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def _scope_fields(context: Context, original: Mapping[str, Any]) -> dict[str, str]:
    """Zone id of zone-scoped records (``ZoneID``, as Logpush names it) or an odd scope."""
    scope = context.scope
    if not scope or scope.startswith("account:"):
        return {}
    if scope.startswith("zone:") and "ZoneID" not in original:
        return {"ZoneID": dumps(scope.removeprefix("zone:"))}
    return {"cf.scope": dumps(scope)}


def _common(
    cls: OcsfClass, dataset: Dataset, context: Context, out: dict[str, Any], time_ms: int,
    original_time: str,
) -> dict[str, Any]:
    activity_id = int(out.pop("activity_id", 0))
    severity_id = int(out.pop("severity_id", 1))
    status_id = out.pop("status_id", None)
    status = out.pop("status", None)
    if status_id is not None and status is None:
        status = cls.statuses.get(status_id, "Other")
    metadata = {
        "version": OCSF_VERSION,
        "uid": context.key,
        "log_name": dataset.name,
        "product": {"name": dataset.product, "vendor_name": VENDOR},
        "original_time": original_time,
        **out.pop("metadata", {}),
    }
    cloud = {"provider": VENDOR, **out.pop("cloud", {})}
    return {
        "class_uid": cls.uid,
        "class_name": cls.name,
        "category_uid": cls.category_uid,
        "category_name": cls.category_name,
        "activity_id": activity_id,
        "activity_name": cls.activity_name(activity_id),
        "type_uid": cls.type_uid(activity_id),
        "type_name": cls.type_name(activity_id),
        "severity_id": severity_id,
        "severity": SEVERITY.get(severity_id, "Other"),
        "time": time_ms,
        "status_id": status_id,
        "status": status,
        "metadata": metadata,
        "cloud": cloud,
        **out,
        "enrichments": [],
    }
