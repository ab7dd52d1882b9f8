"""The fast path: each dataset's field maps compiled once into generated Python functions.

``compile_dataset(dataset)`` returns a function with the result of ``engine.apply`` (the
reference interpreter of the declarative maps) for every input, computed without walking
the maps per record:

- ``source.Restorer`` rebuilds the Cloudflare record (for a plain decoded value: one dict
  copy and the JSON fields parsed);
- every ``ClassMapping`` becomes one generated function: each Cloudflare field it reads is
  looked up once, each rule is one transform call (``text`` inlined for strings), and the
  OCSF record is written in one dict literal in the class schema's field order, already
  shaped as ``conform`` would (defaults, nested records created only when something in
  them is set, arrays and records returned by transforms conformed by compiled converters);
- ``unmapped`` follows a plan (``UnmappedPlan``) made once per set of mapped fields, so no
  path is checked against the mapped fields per record. For a wide plain record
  (``http_requests``) one orjson call writes every top-level value (``value_texts``):
  those texts are the ``unmapped`` values and, with the field names, ``raw_data``; other
  records are walked as ``source.leaves`` does and ``raw_data`` is ``dumps_record``;
- every JSON text is json's: orjson is used only where its text is provably the same.

A record that takes an unexpected turn (an error after the record was restored and timed,
a value the generated code refuses) is normalized again by ``engine.apply``, so errors and
odd records come out exactly as the reference gives them. A mapping the compiler does not
support (a rule writing into the shared attributes, a target outside the class schema)
makes the whole dataset use ``engine.apply``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from operator import itemgetter
from typing import Any

import schemas

from .classes import OCSF_VERSION, SEVERITY, VENDOR, OcsfClass
from .engine import ClassMapping, Constant, Context, Dataset, apply
from .errors import NormalizationError, Unmappable
from .shape import ShapeCompiler, default_source, named_types
from .source import Restorer, covered, dumps, dumps_record, orjson_text, value_texts
from .transforms import first_text, text

#: ``compile_dataset(d)(key, value, account_name, scope, snapshot_at)``
Normalized = tuple[OcsfClass, dict[str, Any], frozenset[str]]
Normalizer = Callable[[str, Mapping[str, Any], "str | None", "str | None", "str | None"],
                      Normalized]

_COMMON_NAMES = frozenset({
    "class_uid", "class_name", "category_uid", "category_name", "activity_name", "type_uid",
    "type_name", "severity", "time", "raw_data", "unmapped", "enrichments",
})
_POPPED = frozenset({"activity_id", "severity_id", "status_id", "status"})
_CACHE_LIMIT = 4096
#: top-level leaves in ``unmapped`` from which a plain value's are encoded in bulk
BULK_LEAVES = 16


class Unsupported(Exception):
    """A mapping the compiler leaves to ``engine.apply``."""


class _Refused(Exception):
    """Raised by generated code for a record it does not shape: ``engine.apply`` does."""


# -- context ---------------------------------------------------------------------------------


def account_of(key: str, scope: str | None) -> str | None:
    """``Context(key, scope=scope).account``."""
    if scope and scope.startswith("account:"):
        return scope[8:] or None
    if "/" in key:
        return key.split("/", 1)[0] or None
    return None


def _path(node: Any, parts: tuple[str, ...]) -> Any:
    """``source.lookup`` of a dotted path already split."""
    for part in parts:
        if type(node) is not dict and not isinstance(node, Mapping):
            return None
        node = node.get(part)
        if node is None:
            return None
    return None if node == "" else node


# -- unmapped ----------------------------------------------------------------------------------

_SKIP, _ALL, _MIXED = range(3)
_LEAF_TYPES = frozenset({str, int, float, bool, list, tuple})


def _tuple_getter(names: tuple[Any, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """``itemgetter(*names)`` that returns a tuple for any number of names."""
    if not names:
        return lambda _value: ()
    if len(names) == 1:
        name = names[0]
        return lambda value: (value[name],)
    return itemgetter(*names)


class UnmappedPlan:
    """``unmapped`` for one set of mapped fields: every leaf of the record that is not
    mapped (or is kept), as ``{dotted path: JSON}``, in the record's order."""

    def __init__(self, mapped: frozenset[str], keep: frozenset[str], restorer: Restorer,
                 schema: Mapping[str, Any]) -> None:
        self.mapped = mapped
        self.keep = keep
        self.special = tuple(mapped | keep)
        self.leaf_cache: dict[str, bool] = {}
        self.dict_cache: dict[str, int] = {}
        self._plan_top(restorer, schema)

    # the walk (any record) ---------------------------------------------------------------

    def leaf_emit(self, path: str) -> bool:
        """Whether the leaf at ``path`` goes to ``unmapped``."""
        found = self.leaf_cache.get(path)
        if found is None:
            found = path in self.keep or not covered(path, self.mapped)
            if len(self.leaf_cache) < _CACHE_LIMIT:
                self.leaf_cache[path] = found
        return found

    def dict_status(self, path: str) -> int:
        """Skip, emit every leaf, or look at each leaf of the object at ``path``."""
        found = self.dict_cache.get(path)
        if found is None:
            below = path + "."
            if any(s.startswith(below) for s in self.special):
                found = _MIXED
            else:
                found = _SKIP if covered(path, self.mapped) else _ALL
            if len(self.dict_cache) < _CACHE_LIMIT:
                self.dict_cache[path] = found
        return found

    def walk(self, node: Mapping[str, Any], prefix: str, out: dict[str, str]) -> None:
        """Add the unmapped leaves of ``node`` (at ``prefix``) to ``out``."""
        leaf_cache = self.leaf_cache
        for name, value in node.items():
            if value is None:
                continue
            path = prefix + (name if type(name) is str else str(name))
            kind = type(value)
            if kind is dict or (kind not in _LEAF_TYPES and isinstance(value, Mapping)):
                if value:
                    status = self.dict_status(path)
                    if status == _ALL:
                        self.every(value, path + ".", out)
                    elif status == _MIXED:
                        self.walk(value, path + ".", out)
                    continue
            emit = leaf_cache.get(path)
            if emit is None:
                emit = self.leaf_emit(path)
            if emit:
                out[path] = dumps(value)

    def every(self, node: Mapping[str, Any], prefix: str, out: dict[str, str]) -> None:
        """Add every leaf of ``node`` to ``out``."""
        for name, value in node.items():
            if value is None:
                continue
            kind = type(value)
            if value and (kind is dict or (kind not in _LEAF_TYPES
                                           and isinstance(value, Mapping))):
                self.every(value, prefix + str(name) + ".", out)
            else:
                out[prefix + str(name)] = dumps(value)

    # plain decoded values: every top-level value JSON-encoded in one orjson call ------------

    def _plan_top(self, restorer: Restorer, schema: Mapping[str, Any]) -> None:
        nested = set(restorer.top_json) | {n for n, _ in restorer.top_records}
        nested |= set(restorer.top_maps)
        names = [f["name"] for f in schema["fields"]
                 if not (restorer.has_extra and f["name"] == "extra")]
        self.get_all = _tuple_getter(tuple(names))
        # '{"a":', ',"b":', ...: raw_data is these and the value texts, alternating
        self.keys = tuple(("{" if i == 0 else ",") + encode_basestring(n) + ":"
                          for i, n in enumerate(names))
        self.pieces = [""] * (2 * len(names)) + ["}"]
        # segments: (indices of leaves written as they are, names) then a walked field
        self.segments: list[tuple[Callable[[Any], tuple[Any, ...]], tuple[str, ...],
                                  tuple[int, str, bool] | None]] = []
        flat_names: list[str] = []
        run: list[int] = []
        emitted: list[int] = []
        for index, name in enumerate(names):
            if name in nested or any(s.startswith(name + ".") for s in self.special):
                if self.dict_status(name) == _SKIP and not self.leaf_emit(name):
                    continue  # mapped as a whole: nothing in it is unmapped, whatever it is
                whole = self.dict_status(name) == _ALL
                if whole:
                    flat_names.append(name)
                self.segments.append((_tuple_getter(tuple(run)),
                                      tuple(names[i] for i in run), (index, name, whole)))
                run = []
            elif self.leaf_emit(name):
                run.append(index)
                emitted.append(index)
        self.segments.append((_tuple_getter(tuple(run)),
                              tuple(names[i] for i in run), None))
        self.get_emitted = _tuple_getter(tuple(emitted))
        self.flat_names = tuple(flat_names)
        #: worth encoding in bulk (wide flat records such as http_requests)
        self.bulk = len(emitted) >= BULK_LEAVES

    def plain(self, original: dict[str, Any], value: Mapping[str, Any]
              ) -> tuple[dict[str, str], str]:
        """``(unmapped, raw_data)`` of a plain decoded ``value`` (``Restorer.fast``'s
        ``original``: top-level nulls of the topic are there as None).

        One orjson call writes every top-level value and the values of the objects whose
        every leaf is unmapped (``JA4Signals``); anything it may write differently from json
        (a null: an absent field; odd floats; an object where a leaf was expected) sends
        the record down the walk."""
        values = self.get_all(original)
        count = len(values)
        flat: list[Any] = []
        for name in self.flat_names:
            item = original[name]
            if type(item) is dict:
                flat += item.values()
        texts = value_texts(values + tuple(flat) if flat else values)
        if texts is None or "\x01{" in "\x01" + "\x01".join(
                [*self.get_emitted(texts), *texts[count:]]):
            out: dict[str, str] = {}
            self.walk(original, "", out)
            return out, _raw_data(original, value, True)
        top = texts[:count] if flat else texts
        pieces = self.pieces.copy()
        pieces[0:-1:2] = self.keys
        pieces[1:-1:2] = top
        raw_data = "".join(pieces) if top else "{}"
        names: list[str] = []
        found: list[str] = []
        at = count
        for leaves, run, walked in self.segments:
            names += run
            found += leaves(top)
            if walked is None:
                continue
            index, name, whole = walked
            item = original[name]
            if type(item) is dict and item:
                if whole:  # every leaf unmapped: its values are in texts
                    prefix = name + "."
                    try:
                        names += [prefix + k for k in item]
                    except TypeError:  # a key that is not a string
                        out = {}
                        self.walk(original, "", out)
                        return out, raw_data
                    found += texts[at:at + len(item)]
                    at += len(item)
                    continue
                part: dict[str, str] = {}
                self.walk(item, name + ".", part)
                names += part
                found += part.values()
            elif isinstance(item, Mapping) and item:
                part = {}
                self.walk({name: item}, "", part)
                names += part
                found += part.values()
            elif self.leaf_emit(name):
                names.append(name)
                found.append(top[index])
        return dict(zip(names, found, strict=True)), raw_data


# -- code generation -----------------------------------------------------------------------


@dataclass
class _Leaf:
    expr: str
    nonnull: bool = False
    fresh: bool = False  # a new container already shaped: written as it is


@dataclass
class _Node:
    always: bool = False
    children: dict[str, _Leaf | _Node] = field(default_factory=dict)


class _Gen:
    """Source text of one mapping's ``build`` function."""

    def __init__(self, dataset: Dataset, mapping: ClassMapping) -> None:
        self.dataset = dataset
        self.mapping = mapping
        self.cls: OcsfClass = mapping.ocsf_class
        self.schema = schemas.raw(self.cls.schema)
        self.shapes = ShapeCompiler(named_types(self.cls.schema))
        self.env: dict[str, Any] = {
            "_Unmappable": Unmappable, "_text": text, "_path": _path, "_Refuse": _Refused,
            "_str": str, "_int": int, "_deepcopy": __import__("copy").deepcopy,
            "_dict": dict, "_Mapping": Mapping,
        }
        self.lines: list[str] = []
        self.count = 0

    def name(self, prefix: str, value: Any = None, bind: bool = False) -> str:
        """A fresh local (or, with ``bind``, a global holding ``value``)."""
        self.count += 1
        found = f"{prefix}{self.count}"
        if bind:
            self.env[found] = value
        return found

    def emit(self, line: str, indent: int = 1) -> None:
        """One line of the function body."""
        self.lines.append("    " * indent + line)

    # sources ---------------------------------------------------------------------------

    def sources(self) -> dict[str, str]:
        used: list[str] = []
        for rule in self.mapping.rules:
            used += [s for s in rule.sources if s not in used]
        local: dict[str, str] = {}
        parents: dict[str, str] = {}
        for source in used:
            var = self.name("s")
            local[source] = var
            if source.startswith("@"):
                expr = {"@key": "key", "@account": "account", "@account_name": "account_name",
                        "@scope": "scope", "@snapshot_at": "snapshot_at"}.get(source)
                if expr is None:
                    raise Unsupported(source)
                self.emit(f"{var} = {expr} or None")
            elif "." not in source:
                self.emit(f"{var} = get({source!r})")
                self.emit(f"if type({var}) is _str:")
                self.emit(f"{var} = {var} or None", 2)
                self.emit(f'elif {var} == "":')  # a subclass of str
                self.emit(f"{var} = None", 2)
            elif source.count(".") == 1:
                head, tail = source.split(".")
                parent = parents.get(head)
                if parent is None:
                    parent = parents[head] = self.name("p")
                    self.emit(f"{parent} = get({head!r})")
                    self.emit(f"if {parent} is not None and type({parent}) is not _dict and "
                              f"not isinstance({parent}, _Mapping):")
                    self.emit(f"{parent} = None", 2)
                self.emit(f"{var} = None if {parent} is None else {parent}.get({tail!r})")
                self.emit(f'if {var} == "":')
                self.emit(f"{var} = None", 2)
            else:
                self.emit(f"{var} = _path(original, {tuple(source.split('.'))!r})")
        return local

    # rules -------------------------------------------------------------------------------

    def rules(self, local: dict[str, str]) -> dict[str, str]:
        """Emit every rule; the local of each target's value (None: not set).

        ``text`` of one field (``copy``; ``first_text`` of one field is the same) is
        inlined for strings and computed once per field (its result is a string, so rules
        that copy the same field can share it; a failure unmaps the field for all of them).
        """
        as_text: dict[str, int] = {}  # source -> bits of the rules that copy it
        for index, rule in enumerate(self.mapping.rules):
            if rule.transform in (text, first_text) and len(rule.sources) == 1:
                as_text[rule.sources[0]] = as_text.get(rule.sources[0], 0) | (1 << index)
        texts: dict[str, str] = {}
        targets: dict[str, str] = {}
        for index, rule in enumerate(self.mapping.rules):
            result = self.name("r")
            args = ", ".join(local[s] for s in rule.sources)
            bit = 1 << index
            transform = rule.transform
            if transform is None:
                if not rule.sources:
                    msg = f"{rule.target}: no source"
                    raise Unsupported(msg)
                self.emit(f"{result} = {local[rule.sources[0]]}")
            elif isinstance(transform, Constant):
                self.emit(f"{result} = {self.name('k', transform.value, bind=True)}")
            elif transform in (text, first_text) and len(rule.sources) == 1:
                source = rule.sources[0]
                if source in texts:
                    result = texts[source]
                else:
                    texts[source] = result
                    arg = local[source]
                    self.emit(f"if type({arg}) is _str or {arg} is None:")
                    self.emit(f"{result} = {arg}", 2)
                    self.emit("else:")
                    self.emit("try:", 2)
                    self.emit(f"{result} = _text({arg})", 3)
                    self.emit("except _Unmappable:", 2)
                    self.emit(f"{result} = None", 3)
                    self.emit(f"failed |= {as_text[source]}", 3)
            else:
                fn = self.name("f", transform, bind=True)
                self.emit("try:")
                self.emit(f"{result} = {fn}({args})", 2)
                self.emit("except _Unmappable:")
                self.emit(f"{result} = None", 2)
                self.emit(f"failed |= {bit}", 2)
            previous = targets.get(rule.target)
            if previous is None:
                targets[rule.target] = result
            else:
                merged = self.name("t")
                self.emit(f"{merged} = {previous} if {result} is None else {result}")
                targets[rule.target] = merged
        return targets

    # the record ----------------------------------------------------------------------------

    def tree(self, targets: dict[str, str]) -> _Node:
        """The record before ``conform``, as ``engine._common`` and ``_set`` build it."""
        for target in targets:
            head = target.split(".")[0]
            if head in _COMMON_NAMES or (head in _POPPED and target != head):
                raise Unsupported(target)
            if target in ("metadata", "cloud", "metadata.product") or target.startswith(
                    "metadata.product."):
                raise Unsupported(target)
        for target in targets:  # no target may be a parent of another (``_set`` clashes)
            if any(t.startswith(target + ".") for t in targets):
                raise Unsupported(target)

        def const(value: Any) -> _Leaf:
            return _Leaf(self.name("k", value, bind=True), nonnull=value is not None)

        cls, dataset = self.cls, self.dataset
        root = _Node(always=True)
        product = _Node(always=True, children={"name": const(dataset.product),
                                                "vendor_name": const(VENDOR)})
        metadata = _Node(always=True, children={
            "version": const(OCSF_VERSION), "uid": _Leaf("key", nonnull=True),
            "log_name": const(dataset.name), "product": product,
            "original_time": _Leaf("original_time", nonnull=True),
        })
        cloud = _Node(always=True, children={"provider": const(VENDOR)})
        root.children.update({
            "class_uid": const(cls.uid), "class_name": const(cls.name),
            "category_uid": const(cls.category_uid),
            "category_name": const(cls.category_name),
            "activity_id": _Leaf("activity_id", nonnull=True),
            "activity_name": _Leaf("activity_name", nonnull=True),
            "type_uid": _Leaf("type_uid", nonnull=True),
            "type_name": _Leaf("type_name", nonnull=True),
            "severity_id": _Leaf("severity_id", nonnull=True),
            "severity": _Leaf("severity", nonnull=True),
            "time": _Leaf("time_ms", nonnull=True),
            "status_id": _Leaf("status_id"), "status": _Leaf("status"),
            "metadata": metadata, "cloud": cloud,
        })
        for target, local in targets.items():
            if target in _POPPED:
                continue
            *parents, leaf = target.split(".")
            node = root
            for part in parents:
                child = node.children.get(part)
                if child is None:
                    child = node.children[part] = _Node()
                if not isinstance(child, _Node):
                    raise Unsupported(target)
                node = child
            found = node.children.get(leaf)
            if isinstance(found, _Node):
                raise Unsupported(target)
            if found is None:
                node.children[leaf] = _Leaf(local)
            else:  # a shared attribute the rule overrides when it sets something
                merged = self.name("t")
                self.emit(f"{merged} = {found.expr} if {local} is None else {local}")
                node.children[leaf] = _Leaf(merged, nonnull=found.nonnull)
        root.children["raw_data"] = _Leaf("raw_data", nonnull=True)
        root.children["unmapped"] = _Leaf("unmapped", nonnull=True, fresh=True)
        root.children["enrichments"] = _Leaf("[]", nonnull=True, fresh=True)
        return root

    def prepare(self, avro: Mapping[str, Any], node: _Node, indent: int
                ) -> dict[str, tuple[str, bool]]:
        """Emit the nested records of ``node`` first: ``{name: (expression, always)}``."""
        fields = {f["name"]: f for f in avro["fields"]}
        unknown = set(node.children) - set(fields)
        if unknown:
            raise Unsupported(str(sorted(unknown)))
        done = {}
        for name, child in node.children.items():
            if isinstance(child, _Node):
                resolved = self.shapes.resolve(fields[name]["type"])
                if not isinstance(resolved, dict) or resolved.get("type") != "record":
                    raise Unsupported(name)
                done[name] = self.node(resolved, child, indent)
        return done

    def node(self, avro: Mapping[str, Any], node: _Node, indent: int) -> tuple[str, bool]:
        """Emit a nested record: ``(its expression, whether it is always there)``; one that
        is there only when something in it is set is a local, None otherwise."""
        done = self.prepare(avro, node, indent)
        leaves = [c for c in node.children.values() if isinstance(c, _Leaf)]
        if node.always or any(c.nonnull for c in leaves) or any(a for _, a in done.values()):
            return self.record(avro, node, indent, done), True
        conditions = [f"{c.expr} is not None" for c in leaves]
        conditions += [f"{expr} is not None" for expr, _ in done.values()]
        local = self.name("n")
        self.emit(f"{local} = None", indent)
        self.emit(f"if {' or '.join(conditions)}:", indent)
        literal = self.record(avro, node, indent + 1, done)
        self.emit(f"{local} = {literal}", indent + 1)
        return local, False

    def record(self, avro: Mapping[str, Any], node: _Node, indent: int,
               done: dict[str, tuple[str, bool]]) -> str:
        """The dict literal of ``node`` shaped to the record ``avro`` (as ``conform``)."""
        items = []
        for fld in avro["fields"]:
            name = fld["name"]
            child = node.children.get(name)
            default = None
            if "default" in fld:
                found = default_source(fld["default"])
                assert found is not None
                default, constant = found
                if constant is not None or default.startswith("_deepcopy"):
                    default = f"_deepcopy({self.name('d', constant, bind=True)})"
            if child is None:
                if default is None:
                    msg = f"required {name} is never set"
                    raise Unsupported(msg)
                items.append(f"{name!r}: {default}")
                continue
            if isinstance(child, _Node):
                expr, nonnull = done[name]
            else:
                expr, nonnull = child.expr, child.nonnull
                converter = None if child.fresh else self.shapes.convert(fld["type"])
                if converter is not None:
                    conv = self.name("c", converter, bind=True)
                    if nonnull:
                        expr = f"{conv}({expr})"
                    else:
                        local = self.name("v")
                        self.emit(f"{local} = {conv}({expr}) if {expr} is not None else "
                                  f"{default if default is not None else 'None'}", indent)
                        if default is None:
                            self.emit(f"if {local} is None:", indent)
                            self.emit("raise _Refuse", indent + 1)
                        items.append(f"{name!r}: {local}")
                        continue
            if not nonnull:
                if default is None:
                    self.emit(f"if {expr} is None:", indent)
                    self.emit("raise _Refuse", indent + 1)
                elif default != "None":
                    expr = f"({expr} if {expr} is not None else {default})"
            items.append(f"{name!r}: {expr}")
        return "{" + ", ".join(items) + "}"

    # the function -----------------------------------------------------------------------------

    def source(self) -> str:
        head = [
            "def build(original, key, scope, account_name, snapshot_at, time_ms,"
            " original_time, time_index, value, plain):",
            "    get = original.get",
            "    failed = 0",
        ]
        if any(s == "@account" for r in self.mapping.rules for s in r.sources):
            head.append("    account = _account_of(key, scope)")
        self.env["_account_of"] = account_of
        local = self.sources()
        targets = self.rules(local)
        cls = self.cls
        activities = {a: (cls.activity_name(a), cls.type_uid(a), cls.type_name(a))
                      for a in cls.activities}
        self.env.update({
            "_activities": activities, "_activity": lambda a: (
                cls.activity_name(a), cls.type_uid(a), cls.type_name(a)),
            "_severity": dict(SEVERITY), "_statuses": dict(cls.statuses),
        })
        for name, dflt in (("activity_id", "0"), ("severity_id", "1")):
            if name in targets:
                self.emit(f"{name} = {dflt} if {targets[name]} is None else _int({targets[name]})")
            else:
                self.emit(f"{name} = {dflt}")
        self.emit(f"status_id = {targets.get('status_id', 'None')}")
        self.emit(f"status = {targets.get('status', 'None')}")
        self.emit("if status_id is not None and status is None:")
        self.emit('status = _statuses.get(status_id, "Other")', 2)
        self.emit("found = _activities.get(activity_id)")
        self.emit("activity_name, type_uid, type_name = found or _activity(activity_id)")
        self.emit('severity = _severity.get(severity_id, "Other")')
        self.emit("mapped, plan = _plans(failed, time_index)")
        self.emit("if plain and plan.bulk:")
        self.emit("unmapped, raw_data = plan.plain(original, value)", 2)
        self.emit("else:")
        self.emit("unmapped = _walk(plan, original)", 2)
        self.emit("raw_data = _raw_data(original, value, plain)", 2)
        self.emit("_scope_fields(unmapped, scope, original, value, plain)")
        tree = self.tree(targets)
        literal = self.record(self.schema, tree, 1, self.prepare(self.schema, tree, 1))
        self.emit(f"return {literal}, mapped")
        return "\n".join(head + self.lines)


def _walk(plan: UnmappedPlan, original: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    plan.walk(original, "", out)
    return out


def _scope_fields(out: dict[str, str], scope: str | None, original: Mapping[str, Any],
                  value: Mapping[str, Any], plain: bool) -> None:
    """``engine._scope_fields``, on a restored record that may hold topic nulls (plain)."""
    if not scope or scope.startswith("account:"):
        return
    if scope.startswith("zone:"):
        present = "ZoneID" in original and (not plain or value["ZoneID"] is not None)
        if not present:
            out["ZoneID"] = dumps(scope[5:])
            return
    out["cf.scope"] = dumps(scope)


def _raw_data(original: dict[str, Any], value: Mapping[str, Any], plain: bool) -> str:
    """``dumps(original)`` of the record as Cloudflare sent it."""
    if plain and None in original.values():
        original = Restorer.exact(original, value)
        plain = False
    found = orjson_text(original)
    if found is not None:
        return found
    if plain:
        original = Restorer.exact(original, value)
    return dumps_record(original)


# -- datasets --------------------------------------------------------------------------------


class _Plans:
    """``(mapped, UnmappedPlan)`` of a mapping by its failed rules and time source."""

    def __init__(self, dataset: Dataset, mapping: ClassMapping, restorer: Restorer) -> None:
        self.dataset = dataset
        self.mapping = mapping
        self.restorer = restorer
        self.schema = schemas.raw(dataset.raw_schema)
        self.cache: dict[tuple[int, int], tuple[frozenset[str], UnmappedPlan]] = {}

    def __call__(self, failed: int, time_index: int) -> tuple[frozenset[str], UnmappedPlan]:
        found = self.cache.get((failed, time_index))
        if found is not None:
            return found
        time_source = self.dataset.time.sources[time_index]
        mapped = {time_source} if not time_source.startswith("@") else set()
        for index, rule in enumerate(self.mapping.rules):
            if not failed & (1 << index):
                mapped.update(s for s in rule.sources if not s.startswith("@"))
        frozen = frozenset(mapped)
        plan = UnmappedPlan(frozen, self.mapping.keep, self.restorer, self.schema)
        if len(self.cache) < 256:
            self.cache[(failed, time_index)] = (frozen, plan)
        return frozen, plan


Build = Callable[..., tuple[dict[str, Any], frozenset[str]]]


def build_source(dataset: Dataset, mapping: ClassMapping) -> tuple[str, dict[str, Any]]:
    """The generated source of one mapping's ``build`` and the globals it runs with."""
    gen = _Gen(dataset, mapping)
    return gen.source(), gen.env


def _build(dataset: Dataset, mapping: ClassMapping, restorer: Restorer) -> Build:
    source, env = build_source(dataset, mapping)
    env.update({"_plans": _Plans(dataset, mapping, restorer), "_walk": _walk,
                "_scope_fields": _scope_fields, "_raw_data": _raw_data})
    code = compile(source, f"<ocsf {dataset.name} -> {mapping.ocsf_class.name}>", "exec")
    exec(code, env)  # noqa: S102 - our own generated source
    made: Build = env["build"]
    return made


def _context_value(name: str, key: str, account_name: str | None, scope: str | None,
                   snapshot_at: str | None) -> Any:
    return Context(key, account_name, scope, snapshot_at).lookup(name)


def compile_dataset(dataset: Dataset) -> Normalizer:
    """``engine.apply`` of ``dataset`` as one compiled function of the record and its
    context: ``(key, value, account_name, scope, snapshot_at) -> (class, record, mapped)``,
    the fields of ``engine.apply``'s ``Result``."""
    restorer = Restorer(schemas.raw(dataset.raw_schema), dataset.json_fields)
    try:
        routes = [(route.when, tuple(route.sources), route.mapping.ocsf_class,
                   _build(dataset, route.mapping, restorer)) for route in dataset.routes]
    except Unsupported:
        return _reference(dataset)
    name, raw_schema = dataset.name, dataset.raw_schema
    parse = dataset.time.parse
    time_sources = tuple(enumerate(dataset.time.sources))
    no_time = " or ".join(s.removeprefix("@") for s in dataset.time.sources)
    fast, slow = restorer.fast, restorer.slow

    def read(original: dict[str, Any], path: str, key: str, account_name: str | None,
             scope: str | None, snapshot_at: str | None) -> Any:
        if path[0] == "@":
            return _context_value(path, key, account_name, scope, snapshot_at)
        if "." in path:
            return _path(original, tuple(path.split(".")))
        found = original.get(path)
        return None if found == "" else found

    def timed(original: dict[str, Any], key: str, account_name: str | None,
              scope: str | None, snapshot_at: str | None) -> tuple[int, str, int]:
        for time_index, source in time_sources:
            raw = read(original, source, key, account_name, scope, snapshot_at)
            if raw is None:
                continue
            try:
                time_ms = parse(raw)
            except Unmappable as exc:
                reason = f"unparseable time {source}={raw!r}"
                raise NormalizationError(reason, dataset=name, key=key) from exc
            return time_ms, raw if isinstance(raw, str) else dumps(raw), time_index
        reason = f"record has no time ({no_time})"
        raise NormalizationError(reason, dataset=name, key=key)

    def route(original: dict[str, Any], key: str, account_name: str | None,
              scope: str | None, snapshot_at: str | None) -> tuple[OcsfClass, Build]:
        for when, sources, cls, build in routes:
            if when is None or when(*(read(original, s, key, account_name, scope, snapshot_at)
                                      for s in sources)):
                return cls, build
        msg = f"no route of dataset {name} matches"  # a mapping bug: routes end catch-all
        raise AssertionError(msg)

    single = (routes[0][2], routes[0][3]) if routes[0][0] is None else None

    def normalize(key: str, value: Mapping[str, Any], account_name: str | None,
                  scope: str | None, snapshot_at: str | None) -> Normalized:
        try:
            original = fast(value)
        except Exception:  # noqa: BLE001 - restore() below raises it as the reference does
            original = None
        plain = original is not None
        if original is None:
            try:
                original = slow(value)
            except (ValueError, TypeError, AttributeError) as exc:
                reason = f"not a decoded {raw_schema} value: {exc}"
                raise NormalizationError(reason, dataset=name, key=key) from exc
        time_ms, original_time, time_index = timed(original, key, account_name, scope,
                                                   snapshot_at)
        if single is not None:
            cls, build = single
        else:
            cls, build = route(original, key, account_name, scope, snapshot_at)
        try:
            record, mapped = build(original, key, scope, account_name, snapshot_at, time_ms,
                                   original_time, time_index, value, plain)
        except Exception:  # noqa: BLE001 - the reference gives the exact result or error
            return _applied(dataset, value, Context(key, account_name, scope, snapshot_at))
        return cls, record, mapped

    return normalize


def _reference(dataset: Dataset) -> Normalizer:
    def normalize(key: str, value: Mapping[str, Any], account_name: str | None,
                  scope: str | None, snapshot_at: str | None) -> Normalized:
        return _applied(dataset, value, Context(key, account_name, scope, snapshot_at))

    return normalize


def _applied(dataset: Dataset, value: Mapping[str, Any], context: Context) -> Normalized:
    result = apply(dataset, value, context)
    return result.ocsf_class, result.record, result.mapped
