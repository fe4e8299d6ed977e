"""Hostile input: every case of the corpus (tests/hostile.py) ends extracted or quarantined with its specific
reason, the accounting invariant holds, any mixture of member cases in one zip keeps every verdict, and
peak memory stays bounded (a zip-level bomb is read no further than the member limit)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hostile import CONFIG, DAY, Case, build_zip, container_cases, member_cases, mixed_zip
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telemetry.config import TelemetryConfig
from telemetry.stages.extract import QUARANTINE_REASONS, Extraction, extract_day_zip

MEMBER_CASES = member_cases()
CONTAINER_CASES = container_cases()


def extract(data: bytes, config: TelemetryConfig = CONFIG) -> Extraction:
    return extract_day_zip(data, day=DAY, version="v1", signals=config.signals, extract=config.extract)


def check_accounting(got: Extraction) -> None:
    rep = got.report
    assert rep.documents == rep.extracted + rep.quarantined
    assert rep.quarantined == len(got.quarantine)
    assert rep.quarantined_by_reason == dict(Counter(q.reason for q in got.quarantine))
    for q in got.quarantine:
        assert q.reason in QUARANTINE_REASONS
        assert q.detail, f"{q.member}: no detail for {q.reason}"
        assert (q.key, q.version) == (DAY.key, "v1")


def test_the_corpus_covers_every_case_of_the_issue() -> None:
    names = " ".join([*MEMBER_CASES, *(c.name for c in CONTAINER_CASES)])
    for word in [
        "truncated_zip", "corrupt_zip", "path_traversal", "duplicate_names", "zip_bomb:zip_level_ratio",
        "zip_level_absolute", "gzip:trailing_garbage", "invalid_utf8", "deep_arrays", "beyond_float64",
        "beyond_int64", "nan:NaN", "nan:Infinity", "wrong_type:", "missing_ts", "ts_in_seconds",
        "ts_far_past", "ts_far_future", "schema:v2", "wrong_robot", "wrong_fleet", "empty_zip",
        "zero_byte_object",
    ]:  # fmt: skip
        assert word in names, word
    expected = {m(0).reason for m in MEMBER_CASES.values()} | {r for c in CONTAINER_CASES for r in c.reasons}
    assert expected - {None} == set(QUARANTINE_REASONS)  # every reason is reached by some case


@pytest.mark.parametrize("name", sorted(MEMBER_CASES))
def test_member_case_next_to_a_valid_member(name: str) -> None:
    data, members = mixed_zip(["valid", name])
    got = extract(data)
    check_accounting(got)
    assert got.report.documents == 2
    want = [(m.name, m.reason) for m in members if m.reason is not None]
    assert [(q.member, q.reason) for q in got.quarantine] == want, [q.detail for q in got.quarantine]
    assert got.tables["battery"].num_rows >= 1  # the valid member's sample is extracted


@pytest.mark.parametrize("case", CONTAINER_CASES, ids=lambda c: c.name)
def test_container_case(case: Case) -> None:
    got = extract(case.data, case.config)
    check_accounting(got)
    assert got.report.documents == case.documents
    assert Counter(q.reason for q in got.quarantine) == case.reasons, [q.detail for q in got.quarantine]
    if case.samples is not None:
        assert sum(got.report.samples.values()) == case.samples


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(sorted(MEMBER_CASES)), min_size=1, max_size=12))
def test_any_mixture_of_member_cases_keeps_every_verdict(names: list[str]) -> None:
    """Batched parsing (chunks, bisection on parse errors) must not let one member change another's fate."""
    data, members = mixed_zip(names)
    got = extract(data)
    check_accounting(got)
    assert got.report.documents == len(members)
    assert Counter((q.member, q.reason) for q in got.quarantine) == Counter(
        (m.name, m.reason) for m in members if m.reason is not None
    )
    # the samples are exactly those of the good members extracted alone
    clean = extract(build_zip([(m.name, m.payload) for m in members if m.reason is None]))
    for signal, table in clean.tables.items():
        assert got.tables[signal].equals(table), signal


_MEASURE = """
import json, resource, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from hostile import DAY
from telemetry.config import load_config
from telemetry.stages.extract import extract_day_zip
paths = sorted(Path({corpus!r}).iterdir())
blobs = [(p.name, p.read_bytes()) for p in paths]
config = load_config(env={{}})
extract_day_zip(blobs[0][1], day=DAY, version="warm-up", signals=config.signals, extract=config.extract)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
docs = 0
for name, data in blobs:
    got = extract_day_zip(data, day=DAY, version="v", signals=config.signals, extract=config.extract)
    assert got.report.documents == got.report.extracted + got.report.quarantined, name
    docs += got.report.documents
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"before_kib": before, "after_kib": after, "documents": docs, "objects": len(blobs)}}))
"""


def test_peak_memory_stays_bounded_on_the_whole_corpus(tmp_path: Path) -> None:
    """In a fresh process: extracting every case (incl. a 256 MiB zip-level bomb declared in a ~250 KB zip,
    and 100,000-level nesting) raises peak RSS by far less than the bomb's size."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, case in enumerate(CONTAINER_CASES):
        if case.config is CONFIG:
            (corpus / f"{i:03d}-{case.name.replace(':', '_')}.zip").write_bytes(case.data)
    for i, name in enumerate(sorted(MEMBER_CASES)):
        (corpus / f"m{i:03d}.zip").write_bytes(mixed_zip(["valid", name])[0])
    script = _MEASURE.format(tests=str(Path(__file__).parent), corpus=str(corpus))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    growth_mib = (result["after_kib"] - result["before_kib"]) / 1024
    assert result["objects"] > 100
    assert growth_mib < 64, result  # the bomb alone would be 256 MiB (512 MiB when read twice)
