"""Errors of the OCSF normalizer.

::

    NormalizationError (ValueError)   the record cannot be normalized: dead-letter it
    ├── UnknownDatasetError           no mapping for the dataset name
    └── ShapeError                    a record does not fit its OCSF class schema
    Unmappable (Exception)            internal: a transform cannot read one raw value; the
                                      value stays in ``unmapped`` and the record goes on
"""

from __future__ import annotations


class NormalizationError(ValueError):
    """A raw record that cannot be normalized (missing or unparseable time, bad JSON, ...)."""

    def __init__(self, reason: str, *, dataset: str | None = None, key: str | None = None) -> None:
        where = " ".join(p for p in (dataset, repr(key) if key is not None else None) if p)
        super().__init__(f"{where}: {reason}" if where else reason)
        self.reason = reason
        self.dataset = dataset
        self.key = key


class UnknownDatasetError(NormalizationError):
    """The dataset has no OCSF mapping."""


class ShapeError(NormalizationError):
    """A record has a field its OCSF class schema does not know, or lacks a required one."""


class Unmappable(Exception):
    """Raised by a transform that cannot convert its input; the engine leaves it unmapped."""
