"""Type stubs of cfkafka_native (see native/src/lib.rs and connector/lines.py)."""

from typing import Any

__version__: str

#: (name, null bytes or None if required, [(union prefix, kind, array items or None)],
#: JSON string prefix or None) -- see connector.fastencode.native_spec
Field = tuple[str, bytes | None, list[tuple[bytes, str, str | None]], bytes | None]

class Codec:
    """A flat Avro record schema compiled for NDJSON lines."""

    def __init__(self, fields: list[Field], extra: tuple[int, bytes] | None, key_field: str,
                 prefix: bytes) -> None: ...
    @property
    def field_count(self) -> int: ...
    def encode(self, line: bytes) -> tuple[bytes, bytes] | None: ...
    def encode_lines(self, lines: list[bytes]) -> list[tuple[bytes, bytes] | None]: ...
    def encode_chunk(
        self, data: bytes, last: bool = False
    ) -> tuple[list[bytes], list[bytes | None], int]: ...

class Prepared:
    """A normalized record kept in Rust between ``prepare``/``checked`` and ``encode``."""

class OcsfTransform:
    """One dataset's raw Avro -> OCSF Avro (see streams/native.py)."""

    def __init__(self, raw_schema: str, ocsf_schema: str, spec: str, ocsf_schema_id: int,
                 views: tuple[list[str], list[str], list[str], list[str]]) -> None: ...
    def enrich_natively(self, steps: list[tuple[str, Any]]) -> None: ...
    def run(self, value: bytes, key: str, scope: str | None = None) -> bytes | None: ...
    def checked(
        self, value: bytes, key: str, scope: str | None = None
    ) -> tuple[dict[str, Any], Prepared] | None: ...
    def prepare(
        self, value: bytes, key: str, scope: str | None = None
    ) -> tuple[dict[str, Any], Prepared] | None: ...
    def encode(self, view: dict[str, Any], prepared: Prepared) -> bytes | None: ...
