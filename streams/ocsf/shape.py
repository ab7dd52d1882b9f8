"""Shape a sparse OCSF dict to its Avro schema: every field present, unknown fields refused.

``conform`` fills absent fields with their schema defaults (null, ``[]``, ``{}``), recurses
into nested records and arrays of records, and raises ``ShapeError`` for a field the schema
does not have (fastavro would silently drop it) or a missing field without a default. The
result is exactly what a decoder of that schema returns, so it round-trips unchanged.

``conform`` runs a function generated once per schema (straight-line code per record
type); ``conform_reference`` is the plain walk over the schema that defines the result,
and gives the exact error when the generated code refuses a record.
"""

from __future__ import annotations

import copy
import functools
import math
import operator
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar, cast

import schemas

from .errors import ShapeError

Named = dict[str, Mapping[str, Any]]
Converter = Callable[[Any], Any]
F = TypeVar("F", bound=Callable[[Any], Any])

_IMMUTABLE = (str, int, float, bool, type(None))


def conform(schema: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` shaped to ``schemas/<schema>.avsc``; raise ``ShapeError`` if it cannot be."""
    fast = _conformer(schema)
    try:
        out: dict[str, Any] = fast(record)
    except Exception:  # noqa: BLE001 - the reference walk raises the exact error
        return conform_reference(schema, record)
    return out


def conform_reference(schema: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """``conform`` as a plain walk over the schema (the definition of its result)."""
    root = schemas.raw(schema)
    return _record(root, record, _named(schema), "")


def shaped(schema: str, record: Any) -> bool:
    """Whether ``conform(schema, record)`` is a copy of ``record`` equal to it, key order
    included (so ``record`` can be used as it is): a dict with exactly its record's fields
    in schema order, at every level, no null where ``conform`` writes a default or refuses,
    lists for arrays and dicts with string keys for maps. False says nothing: conform."""
    return _shape_checker(schema)(record)


@functools.cache
def _shape_checker(schema: str) -> Callable[[Any], bool]:
    found = _ShapeChecker(_named(schema)).check(schemas.raw(schema))
    assert found is not None  # a record always has a check
    return found


_STR_ONLY = frozenset({str})


def _never(_value: Any) -> bool:
    return False


class _PerType(Generic[F]):
    """One closure per resolved record, array or map type, made once (by the node's
    identity); a recursive type refers to itself through a late-bound lambda. Subclasses
    make the closures (``_record``, ``_array``, ``_map``)."""

    def __init__(self) -> None:
        self.made: dict[int, F | None] = {}
        self.keep: list[Any] = []  # the schema nodes the ids belong to

    def _made(self, resolved: Mapping[str, Any]) -> F | None:
        key = id(resolved)
        if key in self.made:
            found = self.made[key]
            if found is None:  # a recursive type: late binding
                return cast("F", lambda value: self._late(key, value))
            return found
        self.made[key] = None
        self.keep.append(resolved)
        kind = resolved.get("type")
        made: F | None
        if kind == "record":
            made = self._record(resolved)
        elif kind == "array":
            made = self._array(resolved)
        elif kind == "map":
            made = self._map(resolved)
        else:
            made = None
        if made is None:
            del self.made[key]
        else:
            self.made[key] = made
        return made

    def _late(self, key: int, value: Any) -> Any:
        found = self.made[key]
        assert found is not None
        return found(value)

    def _record(self, node: Mapping[str, Any]) -> F:
        raise NotImplementedError

    def _array(self, node: Mapping[str, Any]) -> F:
        raise NotImplementedError

    def _map(self, node: Mapping[str, Any]) -> F:
        raise NotImplementedError


class _ShapeChecker(_PerType[Callable[[Any], bool]]):
    """``shaped``'s checks, one closure per Avro type of a schema (None: any value does)."""

    def __init__(self, named: Named) -> None:
        super().__init__()
        self.named = named

    def check(self, avro_type: Any) -> Callable[[Any], bool] | None:
        """The check of a non-null value of ``avro_type``; None when conform keeps any
        value as it is (primitives)."""
        resolved = ShapeCompiler(self.named).resolve(avro_type)
        if resolved is None:  # several non-null branches: conform refuses
            return _never
        if not isinstance(resolved, dict):
            return None
        return self._made(resolved)

    def _record(self, node: Mapping[str, Any]) -> Callable[[Any], bool]:
        """Generated: the field names in order, then one expression over the fields that
        need a look (nested values, nulls conform would replace or refuse)."""
        env: dict[str, Any] = {"_names": [f["name"] for f in node["fields"]], "_dict": dict}
        names: list[str] = []
        terms: list[str] = []
        for field in node["fields"]:
            sub = self.check(field["type"])
            # conform keeps a null only where the default is null
            may_be_null = "default" in field and field["default"] is None
            if sub is None and may_be_null:
                continue
            var = f"x{len(names)}"
            names.append(field["name"])
            if sub is not None:
                env[f"c{var}"] = sub
                terms.append(f"({var} is None or c{var}({var}))" if may_be_null
                             else f"({var} is not None and c{var}({var}))")
            else:
                terms.append(f"{var} is not None")
        lines = ["def record(value):",
                 "    if type(value) is not _dict or list(value) != _names:",
                 "        return False"]
        if len(names) == 1:
            lines.append(f"    x0 = value[{names[0]!r}]")
        elif names:
            env["_get"] = operator.itemgetter(*names)
            lines.append(f"    {', '.join(f'x{i}' for i in range(len(names)))} = _get(value)")
        lines.append(f"    return {' and '.join(terms) or 'True'}")
        code = compile("\n".join(lines), f"<shaped {node.get('name')}>", "exec")
        exec(code, env)  # noqa: S102 - generated here
        made: Callable[[Any], bool] = env["record"]
        return made

    def _array(self, node: Mapping[str, Any]) -> Callable[[Any], bool]:
        item = self.check(node["items"])

        def array(value: Any) -> bool:
            if type(value) is not list:
                return False
            return item is None or all(map(item, value))

        return array

    def _map(self, node: Mapping[str, Any]) -> Callable[[Any], bool]:
        item = self.check(node["values"])

        def mapping(value: Any) -> bool:
            if type(value) is not dict:
                return False
            if item is None:  # conform: a copy, when every key is a string
                try:
                    "".join(value)
                except TypeError:
                    return False
                return True
            # conform: {str(k): conform(v)}: the same keys when they are str
            return {*map(type, value)} <= _STR_ONLY and all(map(item, value.values()))

        return mapping


@functools.cache
def _conformer(schema: str) -> Converter:
    root = schemas.raw(schema)
    converter = ShapeCompiler(_named(schema)).convert(root)
    assert converter is not None  # a record always converts
    return converter


def value_converter(schema: str, avro_type: Any) -> Converter | None:
    """The compiled ``conform`` of one (non-null) value of ``avro_type`` in ``schema``;
    None when the value is kept as it is (primitives). Raises ``ShapeError`` (or another
    error) for a value that does not fit: check it again with ``conform_value_reference``."""
    return ShapeCompiler(_named(schema)).convert(avro_type)


def conform_value_reference(schema: str, avro_type: Any, value: Any, path: str) -> Any:
    """The plain walk's shape of a (non-null) ``value`` of ``avro_type`` at ``path``."""
    return _value(avro_type, value, _named(schema), path)


@functools.cache
def _named(schema: str) -> Named:
    """Every named type of the schema by full and short name."""
    named: Named = {}
    for node in _walk(schemas.raw(schema), schemas.raw(schema).get("namespace", "")):
        name, namespace = node[0], node[1]
        named[name] = node[2]
        named[f"{namespace}.{name}" if namespace else name] = node[2]
    return named


def named_types(schema: str) -> Named:
    """Every named record type of ``schemas/<schema>.avsc`` by full and short name."""
    return _named(schema)


def _walk(avro_type: Any, namespace: str) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    if isinstance(avro_type, list):
        for branch in avro_type:
            yield from _walk(branch, namespace)
    elif isinstance(avro_type, dict):
        kind = avro_type.get("type")
        if kind == "record":
            space = avro_type.get("namespace", namespace)
            yield avro_type["name"], space, avro_type
            for field in avro_type["fields"]:
                yield from _walk(field["type"], space)
        elif kind == "array":
            yield from _walk(avro_type["items"], namespace)
        elif kind == "map":
            yield from _walk(avro_type["values"], namespace)


# -- the reference walk -------------------------------------------------------------------


def _record(
    schema: Mapping[str, Any], value: Mapping[str, Any], named: Named, path: str
) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        msg = f"{path.rstrip('.') or 'record'} is not an object for {schema['name']}"
        raise ShapeError(msg)
    fields = schema["fields"]
    unknown = set(value) - {f["name"] for f in fields}
    if unknown:
        names = sorted(path + str(n) for n in unknown)
        msg = f"{names} not in schema record {schema['name']}"
        raise ShapeError(msg)
    out: dict[str, Any] = {}
    for field in fields:
        name = field["name"]
        item = value.get(name)
        if item is not None:
            out[name] = _value(field["type"], item, named, path + name)
        elif "default" in field:
            out[name] = copy.deepcopy(field["default"])
        else:
            msg = f"required field {path + name!r} is missing"
            raise ShapeError(msg)
    return out


def _value(avro_type: Any, value: Any, named: Named, path: str) -> Any:
    if isinstance(avro_type, str) and avro_type in named:
        avro_type = named[avro_type]
    if isinstance(avro_type, list):
        branches = [t for t in avro_type if t != "null"]
        if len(branches) != 1:
            msg = f"{path}: unions of several non-null types are not supported"
            raise ShapeError(msg)
        return _value(branches[0], value, named, path)
    if isinstance(avro_type, dict):
        kind = avro_type.get("type")
        if kind == "record":
            return _record(avro_type, value, named, path + ".")
        if kind == "array":
            if not isinstance(value, list | tuple):
                msg = f"{path} is not an array"
                raise ShapeError(msg)
            return [_value(avro_type["items"], v, named, f"{path}[{i}]")
                    for i, v in enumerate(value)]
        if kind == "map":
            if not isinstance(value, Mapping):
                msg = f"{path} is not a map"
                raise ShapeError(msg)
            return {str(k): _value(avro_type["values"], v, named, f"{path}.{k}")
                    for k, v in value.items()}
    return value


# -- the compiled shape -------------------------------------------------------------------


def _refuse(_value: Any = None) -> Any:
    """Any refusal: the caller re-runs the reference walk for the exact error."""
    msg = "value does not fit its schema"
    raise ShapeError(msg)


def default_source(default: Any) -> tuple[str, Any] | None:
    """How generated code writes a field default: ``(source, constant or None)``.

    Immutable defaults are literals, ``[]``/``{}`` fresh literals; anything else is a
    ``copy.deepcopy`` of the constant (as ``conform_reference`` does)."""
    if isinstance(default, _IMMUTABLE) and not (
            isinstance(default, float) and not math.isfinite(default)):
        return repr(default), None
    if default == [] and isinstance(default, list):
        return "[]", None
    if default == {} and isinstance(default, dict):
        return "{}", None
    return "_deepcopy(%s)", default


class ShapeCompiler(_PerType[Converter]):
    """Generates one converter per Avro type of a schema (records as straight-line code)."""

    def __init__(self, named: Named) -> None:
        super().__init__()
        self.named = named

    def resolve(self, avro_type: Any) -> Any:
        """Named type references resolved, unions with one non-null branch unwrapped;
        None for a union of several non-null branches."""
        while True:
            if isinstance(avro_type, str) and avro_type in self.named:
                avro_type = self.named[avro_type]
            if isinstance(avro_type, list):
                branches = [t for t in avro_type if t != "null"]
                if len(branches) != 1:
                    return None
                avro_type = branches[0]
                continue
            return avro_type

    def convert(self, avro_type: Any) -> Converter | None:
        """A converter of a non-null value of ``avro_type``; None for 'as it is'."""
        resolved = self.resolve(avro_type)
        if resolved is None:
            return _refuse
        if not isinstance(resolved, dict):
            return None
        return self._made(resolved)

    def _array(self, node: Mapping[str, Any]) -> Converter:
        resolved = self.resolve(node["items"])
        if isinstance(resolved, dict) and resolved.get("type") == "record" and (
                id(resolved) not in self.made):  # not a recursive type
            return self._records(resolved)
        item = self.convert(node["items"])

        def array(value: Any) -> list[Any]:
            if not isinstance(value, list | tuple):
                msg = "not an array"
                raise ShapeError(msg)
            if item is None:
                return list(value)
            return [item(v) for v in value]

        return array

    def _map(self, node: Mapping[str, Any]) -> Converter:
        item = self.convert(node["values"])

        def mapping(value: Any) -> dict[str, Any]:
            if not isinstance(value, Mapping):
                msg = "not a map"
                raise ShapeError(msg)
            if item is None:
                try:
                    "".join(value)  # every key a string (the common case): a plain copy
                except TypeError:
                    return {str(k): v for k, v in value.items()}
                return dict(value)
            return {str(k): item(v) for k, v in value.items()}

        return mapping

    def _record(self, node: Mapping[str, Any]) -> Converter:
        env: dict[str, Any] = {}
        body, literal = self._record_body(node, env, "value", 1)
        lines = ["def conform_record(value):", *body, f"    return {literal}"]
        return self._exec(lines, env, f"<conform {node.get('name')}>", "conform_record")

    def _records(self, node: Mapping[str, Any]) -> Converter:
        """An array of the record ``node``: the record's code inlined in the loop."""
        env: dict[str, Any] = {}
        body, literal = self._record_body(node, env, "item", 2)
        lines = [
            "def conform_array(value):",
            "    if not isinstance(value, _list_tuple):",
            "        _refuse()",
            "    out = []",
            "    append = out.append",
            "    for item in value:",
            *body,
            f"        append({literal})",
            "    return out",
        ]
        return self._exec(lines, env, f"<conform {node.get('name')}[]>", "conform_array")

    @staticmethod
    def _exec(lines: list[str], env: dict[str, Any], where: str, name: str) -> Converter:
        env.update({"_Mapping": Mapping, "_refuse": _refuse, "_dict": dict,
                    "_deepcopy": copy.deepcopy, "_list_tuple": (list, tuple)})
        exec(compile("\n".join(lines), where, "exec"), env)  # noqa: S102 - generated here
        made: Converter = env[name]
        return made

    def _record_body(self, node: Mapping[str, Any], env: dict[str, Any], value: str,
                     indent: int) -> tuple[list[str], str]:
        """Lines that check the mapping ``value`` against the record ``node`` and read its
        fields, and the dict literal of the shaped record."""
        pad = "    " * indent
        env["_names"] = frozenset(f["name"] for f in node["fields"])
        lines = [
            f"{pad}if type({value}) is not _dict and not isinstance({value}, _Mapping):",
            f"{pad}    _refuse()",
            f"{pad}if not _names.issuperset({value}):",
            f"{pad}    _refuse()",
            f"{pad}get = {value}.get",
        ]
        items = []
        for i, field in enumerate(node["fields"]):
            name = field["name"]
            converter = self.convert(field["type"])
            has_default = "default" in field
            dflt = default_source(field["default"]) if has_default else None
            if converter is None and has_default and dflt is not None and dflt[0] == "None":
                items.append(f"{name!r}: get({name!r})")
                continue
            var = f"v{i}"
            lines.append(f"{pad}{var} = get({name!r})")
            if converter is not None:
                env[f"c{i}"] = converter
                present = f"c{i}({var})"
            else:
                present = var
            if not has_default:
                lines.append(f"{pad}if {var} is None:")
                lines.append(f"{pad}    _refuse()")
                items.append(f"{name!r}: {present}")
                continue
            assert dflt is not None
            source, constant = dflt
            if constant is not None or source.startswith("_deepcopy"):
                env[f"d{i}"] = constant
                source = f"_deepcopy(d{i})"
            if converter is None and source == "None":
                items.append(f"{name!r}: {var}")
            else:
                items.append(f"{name!r}: ({present} if {var} is not None else {source})")
        return lines, "{" + ", ".join(items) + "}"
