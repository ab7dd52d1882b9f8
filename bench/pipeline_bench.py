"""Benchmark: ``streams.pipeline.process`` per event and each of its stages, µs per event.

Usage::

    .venv/bin/python bench/pipeline_bench.py                       # http_requests, access_requests
    .venv/bin/python bench/pipeline_bench.py --records 2000 --repeat 7
    .venv/bin/python bench/pipeline_bench.py --datasets http_requests --profile
    .venv/bin/python bench/pipeline_bench.py --check        # also: compiled codecs == fastavro
    .venv/bin/python bench/pipeline_bench.py --baseline     # plus columns with fastavro codecs

Builds N simulator records per dataset (``tests/streams/ocsf/ocsf_samples.py``), encodes
them as the raw topic holds them (Confluent-framed Avro of ``cloudflare.<dataset>.v1``,
registered in an in-memory registry, ``tests/streams/test_streams_codecs.MockRegistry``),
with their Kafka keys and ``cf.scope`` headers, outside the timed region. Then times, on
one core, each stage over the same inputs and ``process`` as the worker calls it:

- ``decode``: ``Codecs.decode_raw`` (Confluent wire -> dict);
- ``normalize``: ``streams.ocsf.normalize`` of the decoded values;
- ``enrich``: ``Enricher.enrich`` of copies of the normalized records, then ``conform`` if
  ``shaped`` says the record needs it (the default enricher, as ``process`` runs it; caches
  warm);
- ``conform``: ``conform`` alone of the normalized records (what ``process`` did after
  enrichment before ``shaped``);
- ``encode``: ``Codecs.encode`` of the normalized (not enriched) records;
- ``alert inputs``: ``pipeline.alert_inputs`` with the default rules;
- ``process``: ``pipeline.process`` without enrichment, with the default enricher, and
  with the enricher and the default alert rules (a fresh dedup table per pass);
- ``process, cold``: the first pass of a new enricher (its caches empty: each distinct user
  agent parsed once), not the steady state. ua-parser's one-time start (its first parse
  compiles the rules, ~0.2 s) is timed on its own before anything else and printed under
  the table: over a short run it looks like a per-event cost of enrichment.

Each pass is timed per chunk of 100 events, the best of R passes of each chunk is kept
(after a warm-up pass, GC off while timing): a chunk another process preempted on this
shared machine is not the code's speed. Progress goes to stderr, the Markdown table to
stdout. ``--profile`` adds a cProfile (top 30 by own time) of ``process`` with enrichment.
``--baseline`` times plain ``fastavro`` in place of the compiled codecs (what the worker did
before they existed), for a before/after in one run.
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import gc
import platform
import pstats
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "streams"))
sys.path.insert(0, str(ROOT / "tests" / "streams" / "ocsf"))

import fastavro  # noqa: E402
from ocsf_samples import ACCOUNT, ZONE, headers_of, key_of, samples, topic_value  # noqa: E402
from test_streams_codecs import MockRegistry  # noqa: E402

import schemas  # noqa: E402
from schemas.registry import Decoder, Encoder, register  # noqa: E402
from streams.alerts import default_rules  # noqa: E402
from streams.codecs import Codecs, connect  # noqa: E402
from streams.enrich import Enricher, Roster  # noqa: E402
from streams.native import transforms  # noqa: E402
from streams.ocsf import DATASETS as OCSF_DATASETS  # noqa: E402
from streams.ocsf import conform, normalize  # noqa: E402
from streams.ocsf.shape import shaped  # noqa: E402
from streams.pipeline import Options, Output, alert_inputs, process  # noqa: E402
from streams.routing import DATASET  # noqa: E402

CHUNK = 100
DEFAULT_DATASETS = ("http_requests", "access_requests")


class Inputs:
    """One dataset's events in every form a stage takes, built outside the timed region."""

    def __init__(self, codecs: Codecs, registry: MockRegistry, dataset: str, n: int) -> None:
        self.dataset = dataset
        raw_schema = OCSF_DATASETS[dataset].raw_schema
        schema_id = register(registry, f"cloudflare.{dataset}.v1-value",
                             schemas.text(raw_schema))
        encoder = Encoder(schema_id, schemas.load(raw_schema))
        records = samples(dataset, n, 1)
        self.keys = [key_of(dataset, r) for r in records]
        self.values = [encoder.encode(topic_value(dataset, r)) for r in records]
        self.scope = headers_of(dataset)["scope"]
        self.headers = {"cf.scope": self.scope.encode(), "cf.feed": dataset.encode()}
        self.decoded = [codecs.decode_raw(v) for v in self.values]
        self.events = [normalize(dataset, k, d, scope=self.scope)
                       for k, d in zip(self.keys, self.decoded, strict=True)]
        self.schema = self.events[0].schema
        self.records = [e.record for e in self.events]


def enricher() -> Enricher:
    """The default enricher with the samples' account and zone named."""
    return Enricher.default(account_names={ACCOUNT: "Example Account"},
                            zone_names={ZONE: "example.com"}, roster=Roster(), threat_lists=[])


def best(run: Callable[[Sequence[int]], None], n: int, repeat: int) -> float:
    """µs per event: the sum over chunks of 100 events of each chunk's best of ``repeat``
    passes (after a warm-up pass, GC off while timing), over ``n``."""
    run(range(n))
    chunks = [range(i, min(i + CHUNK, n)) for i in range(0, n, CHUNK)]
    best_of = [float("inf")] * len(chunks)
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            for i, chunk in enumerate(chunks):
                start = time.perf_counter()
                run(chunk)
                best_of[i] = min(best_of[i], time.perf_counter() - start)
        finally:
            gc.enable()
    return sum(best_of) / n * 1e6


def fastavro_codecs(codecs: Codecs) -> Codecs:
    """``codecs`` with fastavro alone (``Encoder.encode_fastavro``, ``Decoder.decode_fastavro``):
    the codecs as they were before the compiled writers and readers."""

    class PlainEncoder(Encoder):
        def encode(self, record: Any) -> bytes:
            return self.encode_fastavro(record)

    class PlainDecoder(Decoder):
        def decode(self, data: bytes | None) -> dict[str, Any]:
            return self.decode_fastavro(data)

    def plain(encoder: Encoder) -> Encoder:
        return PlainEncoder(encoder.schema_id, encoder.schema)

    return Codecs(raw=PlainDecoder(codecs.raw._client),  # noqa: SLF001
                  siem=plain(codecs.siem),
                  ocsf={k: plain(v) for k, v in codecs.ocsf.items()},
                  alerts=plain(codecs.alerts) if codecs.alerts else None)


def stages(codecs: Codecs, inputs: Inputs, repeat: int) -> list[tuple[str, float]]:
    """``(stage, µs per event)`` of every stage and of ``process``."""
    ds, n = inputs.dataset, len(inputs.values)
    spec = DATASET[ds]
    rules = default_rules()
    enrich = enricher()
    copies: list[dict[str, Any]] = []

    def run_decode(idx: Sequence[int]) -> None:
        for i in idx:
            codecs.decode_raw(inputs.values[i])

    def run_normalize(idx: Sequence[int]) -> None:
        for i in idx:
            normalize(ds, inputs.keys[i], inputs.decoded[i], scope=inputs.scope)

    def run_enrich(idx: Sequence[int]) -> None:
        for i in idx:  # as pipeline._enriched: conform only a record enrichment unshaped
            record = enrich.enrich(copies[i])
            if not shaped(inputs.schema, record):
                conform(inputs.schema, record)

    def run_conform(idx: Sequence[int]) -> None:
        for i in idx:
            conform(inputs.schema, inputs.records[i])

    def run_encode(idx: Sequence[int]) -> None:
        for i in idx:
            codecs.encode(inputs.schema, inputs.records[i])

    def run_alerts(idx: Sequence[int]) -> None:
        for i in idx:
            alert_inputs(rules, "siem.alert_events.v1", inputs.records[i])

    def run_process(options: Options) -> Callable[[Sequence[int]], None]:
        def run(idx: Sequence[int]) -> None:
            table: dict[bytes, Any] = {}
            for i in idx:
                outcome = process(inputs.keys[i].encode(), inputs.values[i], inputs.headers,
                                  table, codecs, spec, options)
                assert isinstance(outcome, Output), outcome
        return run

    rows = [("decode", best(run_decode, n, repeat)),
            ("normalize", best(run_normalize, n, repeat))]
    # enrichment works in place: fresh copies for every pass, made outside the timing
    enrich_best = float("inf")
    for _ in range(repeat):
        copies = copy.deepcopy(inputs.records)
        enrich_best = min(enrich_best, best(run_enrich, n, 1))
    rows += [("enrich (+shape check)", enrich_best),
             ("conform", best(run_conform, n, repeat)),
             ("encode", best(run_encode, n, repeat)),
             ("alert inputs (default rules)", best(run_alerts, n, repeat)),
             ("process, no enrichment", best(run_process(Options(legacy_audit=False)), n,
                                             repeat)),
             ("process, enrichment", best(run_process(Options(legacy_audit=False,
                                                              enricher=enrich)), n, repeat)),
             ("process, enrichment + alert rules",
              best(run_process(Options(legacy_audit=False, enricher=enrich, alert_rules=rules,
                                       alert_topic="siem.alert_events.v1")), n, repeat))]
    native = transforms(codecs)
    if ds in native:
        enriched = transforms(codecs, enricher=enrich)  # the enricher runs in Rust
        rows += [("process, native, no enrichment",
                  best(run_process(Options(legacy_audit=False, native=native)), n, repeat)),
                 ("process, native, enrichment (in Rust)",
                  best(run_process(Options(legacy_audit=False, enricher=enrich,
                                           native=enriched)), n, repeat)),
                 ("process, native, enrichment (in Rust) + alert rules",
                  best(run_process(Options(legacy_audit=False, enricher=enrich,
                                           native=enriched, alert_rules=rules,
                                           alert_topic="siem.alert_events.v1")), n, repeat)),
                 ("process, native, enrichment (in Python, on the view)",
                  best(run_process(Options(legacy_audit=False, enricher=enrich,
                                           native=native)), n, repeat))]
    cold = run_process(Options(legacy_audit=False, enricher=enricher()))
    start = time.perf_counter()
    cold(range(n))
    rows.append(("process, enrichment, cold (first pass)",
                 (time.perf_counter() - start) / n * 1e6))
    return rows


def check(codecs: Codecs, inputs: Inputs) -> None:
    """Assert the worker's codecs give what plain fastavro gives on these inputs."""
    plain = fastavro_codecs(codecs)
    for value, decoded in zip(inputs.values, inputs.decoded, strict=True):
        assert plain.decode_raw(value) == decoded
    for record in inputs.records:
        assert codecs.encode(inputs.schema, record) == plain.encode(inputs.schema, record)


def main() -> None:
    """Parse arguments, build the inputs, print the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--datasets", nargs="*", default=list(DEFAULT_DATASETS))
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--baseline", action="store_true",
                        help="also time the stages with plain fastavro codecs")
    args = parser.parse_args()

    import ua_parser

    start = time.perf_counter()
    ua_parser.parse("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
    ua_start_ms = (time.perf_counter() - start) * 1e3
    registry = MockRegistry()
    codecs = connect(registry)
    print(f"Python {platform.python_version()} on {platform.machine()}, fastavro "
          f"{fastavro.__version__}, {args.records} events per dataset, best of {args.repeat}",
          file=sys.stderr)
    variants = [("", codecs)]
    if args.baseline:
        variants.append((" [fastavro]", fastavro_codecs(codecs)))
    table: dict[str, dict[str, float]] = {}
    columns: list[str] = []
    for dataset in args.datasets:
        print(f"  {dataset}: building inputs", file=sys.stderr)
        inputs = Inputs(codecs, registry, dataset, args.records)
        if args.check:
            check(codecs, inputs)
            print(f"  {dataset}: codecs agree with fastavro", file=sys.stderr)
        for suffix, variant in variants:
            column = dataset + suffix
            columns.append(column)
            print(f"  {column}: timing", file=sys.stderr)
            for stage, us in stages(variant, inputs, args.repeat):
                table.setdefault(stage, {})[column] = us
        if args.profile:
            profiler = cProfile.Profile()
            options = Options(legacy_audit=False, enricher=enricher())
            spec = DATASET[dataset]
            for profiled in (False, True):
                state: dict[bytes, Any] = {}
                if profiled:
                    profiler.enable()
                for key, value in zip(inputs.keys, inputs.values, strict=True):
                    process(key.encode(), value, inputs.headers, state, codecs, spec, options)
                profiler.disable()
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(30)

    print("| stage (µs per event) | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for stage, by_column in table.items():
        cells = " | ".join("–" if c not in by_column else f"{by_column[c]:.1f}"
                           for c in columns)  # native rows: http_requests only
        print(f"| {stage} | {cells} |")
    process_us = table["process, enrichment"]
    print()
    print("| events/s per core, process with enrichment | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    print("| Python | " + " | ".join(f"{1e6 / process_us[c]:,.0f}" for c in columns) + " |")
    native_us = table.get("process, native, enrichment (in Rust)", {})
    if native_us:
        print("| native | " + " | ".join(
            "–" if c not in native_us else f"{1e6 / native_us[c]:,.0f}" for c in columns) + " |")
    print()
    print(f"ua-parser's first parse in this process (one-time): {ua_start_ms:.0f} ms")


if __name__ == "__main__":
    main()
