"""Write ``tests/fixtures/avro_records.json``: Avro bodies of the Python path, for the Rust
codec's equivalence tests (``src/streams/avro.rs``).

Run from the repository root: ``.venv/bin/python native/tests/avro_fixtures.py``.

For each dataset's simulator samples, the raw-topic value and its OCSF record are encoded
with ``schemas.registry.Encoder`` (and decoded with the compiled reader, checked against
fastavro); a few mutated records exercise what the generated writer leaves to fastavro.
Values are tagged trees that keep Python's types and float bits exactly:
``null``, ``{"b": bool}``, ``{"i": int}``, ``{"f": float bits as u64}``, ``{"s": str}``,
``{"l": [...]}``, ``{"d": [[key, value], ...]}`` (dict order). A case's ``decoded`` (what the
compiled reader returns) is there only when it differs from ``value``; ``compiled``: whether
the generated writer takes the value (else the Rust codec must refuse it).
"""

from __future__ import annotations

import copy
import io
import json
import struct
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "streams" / "ocsf")]

import fastavro  # noqa: E402
from ocsf_samples import headers_of, key_of, samples, topic_value  # noqa: E402

import schemas  # noqa: E402
from schemas.registry import Encoder, compile_reader, compile_writer  # noqa: E402
from streams.ocsf import DATASETS, normalize  # noqa: E402

PER_DATASET = 12
OUT = Path(__file__).resolve().parent / "fixtures" / "avro_records.json"


def tag(value: Any) -> Any:
    """The tagged tree of a decoded or to-be-encoded Python value."""
    if value is None:
        return None
    kind = type(value)
    if kind is bool:
        return {"b": value}
    if kind is int:
        return {"i": value}
    if kind is float:
        return {"f": struct.unpack("<Q", struct.pack("<d", value))[0]}
    if kind is str:
        return {"s": value}
    if kind is list:
        return {"l": [tag(v) for v in value]}
    if kind is dict:
        return {"d": [[k, tag(v)] for k, v in value.items()]}
    raise TypeError(kind)


def case(name: str, record: dict[str, Any]) -> dict[str, Any]:
    """One fixture record: the value, whether the generated writer takes it, the body."""
    parsed = schemas.load(name)
    pieces: list[bytes] = []
    try:
        compile_writer(parsed)(record, pieces.append)
        compiled = True
    except Exception:  # noqa: BLE001 - fastavro's record
        compiled = False
    body = Encoder(1, parsed).encode(record)[5:]
    out = {"schema": name, "value": tag(record), "compiled": compiled, "hex": body.hex()}
    if compiled:
        assert b"".join(pieces) == body
        decoded, end = compile_reader(parsed)(body, 0)
        assert end == len(body)
        assert decoded == fastavro.schemaless_reader(io.BytesIO(body), parsed, None)
        if tag(decoded) != out["value"]:  # else the same tree: left out
            out["decoded"] = tag(decoded)
    return out


def mutations(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Records the generated writer gives up on (or not), from one valid record."""
    out = []
    missing = dict(record)
    missing.popitem()
    out.append(missing)
    out.append({**record, "not_a_field": None})
    for key, value in record.items():
        if type(value) is int and not isinstance(value, bool):
            out.append({**record, key: float(value)})
            out.append({**record, key: True})
            out.append({**record, key: 1 << 40})
            break
    for key, value in record.items():
        if type(value) is str:
            out.append({**record, key: None})
            out.append({**record, key: 7})
            break
    for key, value in record.items():
        if type(value) is float:
            out.append({**record, key: 3})
            break
    for key, value in record.items():
        if type(value) is dict:
            inner = copy.deepcopy(value)
            inner["extra"] = "x"
            out.append({**record, key: inner})
            break
    return out


def main() -> None:
    names: set[str] = set()
    cases = []
    for dataset, spec in sorted(DATASETS.items()):
        headers = headers_of(dataset)
        for i, raw in enumerate(samples(dataset, PER_DATASET, 3)):
            value = topic_value(dataset, raw)
            event = normalize(dataset, key_of(dataset, raw), value, **headers)
            for name, record in ((spec.raw_schema, value), (event.schema, event.record)):
                names.add(name)
                cases.append(case(name, record))
                if i < 2:
                    cases.extend(case(name, m) for m in mutations(record)
                                 if _encodable(name, m))
    fixture = {
        "schemas": {n: {"text": schemas.text(n),
                        "compiled": compile_writer(schemas.load(n)) is not None}
                    for n in sorted(names)},
        "cases": cases,
    }
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(fixture, separators=(",", ":")) + "\n")
    print(f"{len(cases)} cases, {sum(c['compiled'] for c in cases)} compiled, "
          f"{len(names)} schemas -> {OUT}")


def _encodable(name: str, record: dict[str, Any]) -> bool:
    """Whether fastavro writes ``record`` at all (mutations it refuses are left out)."""
    try:
        Encoder(1, schemas.load(name)).encode(record)
    except Exception:  # noqa: BLE001
        return False
    return True


if __name__ == "__main__":
    main()
