"""Type stubs of cfkafka_native (see native/src/lib.rs and connector/lines.py)."""

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
