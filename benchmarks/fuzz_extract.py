"""Coverage-guided fuzzing of the extractor with atheris (libFuzzer), for a bounded time.

    .venv/bin/pip install -c constraints.txt atheris      # Linux x86_64 wheels; not in the dev extra
    .venv/bin/python benchmarks/fuzz_extract.py --seconds 300 [--json results.json]

Seeds: every case of the hostile corpus (tests/hostile.py). Each input is used two ways: as a whole day zip,
and as one gzipped member of a zip next to a valid member, so mutations reach the gzip, JSON and
validation layers as well as the zip reader. A run fails (and libFuzzer saves the input) when extraction
raises, when the accounting invariant ``documents == extracted + quarantined`` breaks, or when a reason
outside QUARANTINE_REASONS appears. Prints iterations, crashes, documents and peak RSS.

Without atheris (macOS, other Pythons) it falls back to a documented equivalent: random byte mutations
(flip, insert, delete, splice) of the same seeds for the same time budget, not coverage-guided.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from hostile import CONFIG, DAY, build_zip, envelope, gz, member_cases, seed_corpus

from telemetry.contract.envelope import member_name
from telemetry.stages.extract import QUARANTINE_REASONS, extract_day_zip

STATS = {"iterations": 0, "documents": 0, "quarantined": 0, "crashes": 0}
VALID = (member_name(DAY.robot_id, 1793577600500, 0), gz(envelope(0)))


def check(data: bytes) -> None:
    got = extract_day_zip(data, day=DAY, version="fuzz", signals=CONFIG.signals, extract=CONFIG.extract)
    rep = got.report
    if rep.documents != rep.extracted + rep.quarantined or rep.quarantined != len(got.quarantine):
        raise AssertionError(f"accounting broken: {rep.to_dict()}")
    for q in got.quarantine:
        if q.reason not in QUARANTINE_REASONS:
            raise AssertionError(f"unknown reason {q.reason!r}")
    STATS["documents"] += rep.documents
    STATS["quarantined"] += rep.quarantined


def one_input(data: bytes) -> None:
    STATS["iterations"] += 1
    try:
        check(data)  # as a whole object
        check(build_zip([VALID, (member_name(DAY.robot_id, 1793577605000, 1), data)]))  # as one member
    except BaseException:
        STATS["crashes"] += 1
        raise


def _mutate(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(4)
        pos = rng.randrange(len(buf) + 1)
        if op == 0 and buf:
            buf[min(pos, len(buf) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            buf[pos:pos] = rng.randbytes(rng.randint(1, 16))
        elif op == 2:
            del buf[pos : pos + rng.randint(1, 64)]
        else:
            other = rng.choice(seeds)
            start = rng.randrange(len(other) + 1)
            buf[pos:] = other[start : start + rng.randint(1, 4096)]
    return bytes(buf)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=120, help="time budget (default 120)")
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--engine", choices=("auto", "atheris", "random"), default="auto")
    args = parser.parse_args()
    seeds = seed_corpus()
    seeds += [gz(envelope(i)) for i in range(3)]  # member-level seeds for the second use
    seeds += [member_cases()[name](1).payload for name in sorted(member_cases())]
    started = time.monotonic()
    try:
        import atheris  # type: ignore[import-not-found]
    except ImportError:
        atheris = None
    engine = "atheris" if atheris is not None and args.engine != "random" else "random"
    if engine == "atheris":
        corpus = Path("/tmp/telemetry-fuzz-corpus")
        corpus.mkdir(exist_ok=True)
        for i, seed in enumerate(seeds):
            (corpus / f"seed-{i:04d}").write_bytes(seed)

        def report() -> None:
            _print(engine, started)

        import atexit

        atexit.register(report)
        atheris.instrument_all()
        atheris.Setup(
            [sys.argv[0], f"-max_total_time={args.seconds}", "-max_len=2000000", "-rss_limit_mb=4096",
             "-timeout=30", str(corpus)],
            one_input,
        )  # fmt: skip
        atheris.Fuzz()
    rng = random.Random(0)
    for seed in seeds:
        one_input(seed)
    while time.monotonic() - started < args.seconds:
        one_input(_mutate(rng, rng.choice(seeds), seeds))
    figures = _print(engine, started)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))


def _print(engine: str, started: float) -> dict[str, object]:
    figures = {
        "engine": engine,
        "seconds": round(time.monotonic() - started, 1),
        **STATS,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(json.dumps(figures), flush=True)
    return figures


if __name__ == "__main__":
    main()
