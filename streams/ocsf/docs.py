"""Render the field maps as Markdown tables (the generated part of docs/OCSF.md)."""

from __future__ import annotations

from .datasets import DATASETS
from .engine import ClassMapping, Dataset

BEGIN = "<!-- BEGIN GENERATED MAPPINGS (python -m streams.ocsf.docs) -->"
END = "<!-- END GENERATED MAPPINGS -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _code(text: str) -> str:
    return ", ".join(f"`{_cell(p)}`" for p in text.split(", ")) if text != "-" else "-"


def _mapping(dataset: Dataset, mapping: ClassMapping, condition: str) -> list[str]:
    cls = mapping.ocsf_class
    lines = [
        f"#### `{dataset.name}` -> {cls.name} ({cls.uid}){condition}",
        "",
        f"Schema `schemas/{cls.schema}.avsc`; time <- "
        f"{_code(', '.join(dataset.time.sources))} ({dataset.time.parse.__name__}); "
        f"`metadata.product.name` = \"{dataset.product}\".",
        "",
        "| OCSF attribute | Cloudflare field(s) | transform |",
        "|---|---|---|",
    ]
    for rule in mapping.rules:
        target, sources, how = rule.describe()
        lines.append(f"| `{_cell(target)}` | {_code(sources)} | {_cell(how)} |")
    if mapping.keep:
        kept = ", ".join(f"`{k}`" for k in sorted(mapping.keep))
        lines += ["", f"Also kept in `unmapped` although mapped: {kept}."]
    return [*lines, ""]


def markdown() -> str:
    """Every dataset's mappings, in ``DATASETS`` order, between the BEGIN/END markers."""
    lines = [BEGIN, ""]
    for dataset in DATASETS.values():
        lines += [f"### {dataset.name}", ""]
        for route in dataset.routes:
            condition = ""
            if route.when is not None:
                fields = ", ".join(f"`{s}`" for s in route.sources)
                condition = f", when {route.when.__name__}({fields})"
            lines += _mapping(dataset, route.mapping, condition)
    return "\n".join([*lines, END]) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
