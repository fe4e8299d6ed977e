"""Which model is current: the pointer ``models/current.json``, the promotion history
``models/promotions.jsonl``, the list of model folders, and the promotion of a freshly trained model (the I/O
edge around :func:`telemetry.stages.score.compare_on_validation` and
:func:`telemetry.stages.evaluate.promotion_decision`). Model folders themselves are
:mod:`telemetry.io.registry`.

Layout under an output root (:mod:`telemetry.contract.layout`)::

    models/<model_id>/...        one folder per trained model
    models/current.json          the pointer: the model `telemetry score` uses by default
    models/promotions.jsonl      every decision, one JSON object a line, oldest first

A **decision** (one history line): ``promotion_id`` (``<UTC time>-<random>``), ``model_id``, ``target``,
``promoted`` (true: it became current; false: refused), ``at`` (ISO time UTC), ``reason``, ``rule``
(``not_worse``/``always``/``manual``: ``train.promotion`` applied by :func:`promote_candidate`; ``hand``:
:func:`promote`, ``telemetry models promote``; ``first``: ``telemetry train`` on a root without a current
model), ``previous`` (the model that was current when it was decided, or null), ``previous_promotion``
(that model's ``promotion_id``) and ``comparison`` (what was compared, see
:func:`telemetry.stages.score.compare_on_validation`; null for a promotion by hand). The pointer holds the
decision that made the current model: the same fields but ``promoted``, with ``at`` named ``promoted_at``.

Writes and crashes. A decision rewrites the history as a whole object with its line appended (it is small),
then, for a promotion only, writes the pointer. Each write is one atomic PUT (one atomic rename locally) and a
compare-and-swap (:meth:`~telemetry.io.store.Store.write_if`) against what was read when the decision
started: of two promotions at the same time one fails with ModelError, and a model never becomes current
without its history line. The history is written **first**: a crash (or a lost race) between the two writes
leaves the previous pointer in force and a promoted line that never took effect, which
:func:`promotion_history` marks ``interrupted`` (a promoted line is in force when the chain of
``previous_promotion`` from the pointer reaches it). Re-running the same promotion repairs it.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import json
import secrets
from dataclasses import dataclass
from typing import Any

import pandas as pd

from telemetry.contract.layout import (
    CURRENT_MODEL_KEY,
    FEATURES_PREFIX,
    MODELS_PREFIX,
    PROMOTIONS_KEY,
    parse_partition_key,
)
from telemetry.errors import ModelError
from telemetry.io.registry import read_model
from telemetry.io.store import Store
from telemetry.stages.evaluate import promotion_decision
from telemetry.stages.score import Model, compare_on_validation
from telemetry.stages.train import FeatureSet

__all__ = [
    "MODEL_COLUMNS",
    "Promotion",
    "current_model",
    "list_models",
    "load_current_model",
    "promote",
    "promote_candidate",
    "promotion_history",
    "read_current_model",
]

MODEL_COLUMNS = (
    "model_id", "target", "created_at", "first_day", "last_day", "valid_pr_auc", "test_pr_auc", "threshold",
    "trees", "current",
)  # fmt: skip
"""Columns of :func:`list_models`."""


@dataclass(frozen=True, slots=True)
class Promotion:
    """What :func:`promote_candidate` decided."""

    model_id: str
    promoted: bool
    """The candidate is the current model after the call."""
    reason: str
    comparison: dict[str, Any] | None
    """Both models' validation PR-AUC on the candidate's validation rows (None: nothing compared)."""
    record: dict[str, Any] | None
    """The history line written; None when nothing was written (already current, or the same refusal is
    the model's latest history line)."""


# ------------------------------------------------------------------------------------------- reading


def _pointer_of(data: bytes, url: str) -> dict[str, Any]:
    try:
        pointer = json.loads(data)
    except ValueError:
        pointer = None
    if not isinstance(pointer, dict) or not isinstance(pointer.get("model_id"), str):
        raise ModelError(
            f"{url}/{CURRENT_MODEL_KEY} is not a model pointer (expected a JSON object with model_id); "
            f"promote a model again with `telemetry models promote --out {url} MODEL_ID`"
        )
    return pointer


def _read_pointer(out: Store) -> tuple[dict[str, Any] | None, str | None]:
    read = out.read_with_token(CURRENT_MODEL_KEY)
    if read is None:
        return None, None
    return _pointer_of(read[0], out.url), read[1]


def current_model(out: Store) -> dict[str, Any] | None:
    """The pointer ``models/current.json`` of `out` (see the module docstring for its fields), or None when
    no model was ever promoted.

    Raises:
        ModelError: the object is not a pointer.
    """
    return _read_pointer(out)[0]


def _history_of(data: bytes, url: str) -> list[dict[str, Any]]:
    lines = []
    for number, line in enumerate(data.decode().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict) or "model_id" not in record:
            raise ModelError(f"{url}/{PROMOTIONS_KEY} line {number} is not a promotion record: {line[:80]!r}")
        lines.append(record)
    return lines


def promotion_history(out: Store, model_id: str | None = None) -> list[dict[str, Any]]:
    """The decisions of ``models/promotions.jsonl``, oldest first (only those of `model_id` when given),
    each with a ``status``: ``current`` (the pointer's), ``superseded`` (was current, replaced later),
    ``refused`` (not promoted), or ``interrupted`` (promoted, but the pointer was never written: a crash or
    a concurrent promotion between the two writes)."""
    read = out.read_with_token(PROMOTIONS_KEY)
    lines = _history_of(read[0], out.url) if read is not None else []
    pointer = current_model(out)
    by_id = {line.get("promotion_id"): line for line in lines}
    in_force: set[str] = set()
    promotion = pointer.get("promotion_id") if pointer else None
    while isinstance(promotion, str) and promotion in by_id and promotion not in in_force:
        in_force.add(promotion)
        promotion = by_id[promotion].get("previous_promotion")
    head = pointer.get("promotion_id") if pointer else None
    history = []
    for line in lines:
        if model_id is not None and line["model_id"] != model_id:
            continue
        if not line.get("promoted"):
            status = "refused"
        elif line.get("promotion_id") == head:
            status = "current"
        else:
            status = "superseded" if line.get("promotion_id") in in_force else "interrupted"
        history.append({**line, "status": status})
    return history


def read_current_model(out: Store) -> Model:
    """The current model of the output root `out` (``models/current.json``), loaded.

    Raises:
        ModelError: no model was promoted, or the pointer names a folder that is not a complete model.
    """
    pointer = current_model(out)
    if pointer is None:
        raise ModelError(
            f"no current model under {out.url} (no {CURRENT_MODEL_KEY}): promote one with "
            f"`telemetry models promote --out {out.url} MODEL_ID` (see `telemetry models list --out "
            f"{out.url}`), or give the model folder with --model"
        )
    try:
        return read_model(out, pointer["model_id"])
    except ModelError as exc:
        raise ModelError(
            f"{out.url}/{CURRENT_MODEL_KEY} names model {pointer['model_id']}, which cannot be loaded "
            f"({exc}); promote another with `telemetry models promote --out {out.url} MODEL_ID`"
        ) from None


def load_current_model(out_url: str, s3: Any = None) -> Model:
    """:func:`read_current_model` of the output root at `out_url` (``s3``: its
    :class:`~telemetry.config.S3Config`)."""
    return read_current_model(Store(out_url, s3))


def _days_of(metadata: dict[str, Any]) -> tuple[dt.date | None, dt.date | None]:
    partitions = (metadata.get("features_used") or {}).get("partitions", [])
    days = [parse_partition_key(str(p.get("key")), FEATURES_PREFIX, ".parquet") for p in partitions]
    dates = [d.date for d in days if d is not None]
    return (min(dates), max(dates)) if dates else (None, None)


def list_models(out: Store, *, threads: int = 8) -> pd.DataFrame:
    """One row per complete model folder under ``models/`` (``metadata.json`` and ``model.txt``), sorted by
    ``created_at`` (UTC timestamp): columns :data:`MODEL_COLUMNS`, ``first_day``/``last_day`` the first and
    last UTC day of the feature partitions it was trained on (train, validation and test days),
    ``valid_pr_auc``/``test_pr_auc`` from its metrics, ``trees`` its boosting rounds, ``current`` whether
    ``models/current.json`` names it."""
    keys = set(out.list_keys(MODELS_PREFIX))
    ids = sorted(
        key[len(MODELS_PREFIX) : -len("/metadata.json")]
        for key in keys
        if key.endswith("/metadata.json")
        and key.count("/") == 2
        and key.replace("metadata.json", "model.txt") in keys
    )

    def read_one(model_id: str) -> dict[str, Any]:
        return dict(json.loads(out.read_bytes(f"{MODELS_PREFIX}{model_id}/metadata.json")))

    with cf.ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        metadata = list(pool.map(read_one, ids))
    pointer = current_model(out)
    rows = []
    for model_id, meta in zip(ids, metadata, strict=True):
        metrics = meta.get("metrics") or {}
        first, last = _days_of(meta)
        rows.append({
            "model_id": model_id, "target": meta.get("target"), "created_at": meta.get("created_at"),
            "first_day": first, "last_day": last,
            "valid_pr_auc": (metrics.get("valid") or {}).get("pr_auc"),
            "test_pr_auc": (metrics.get("test") or {}).get("pr_auc"),
            "threshold": meta.get("threshold"), "trees": meta.get("best_iteration"),
            "current": pointer is not None and pointer["model_id"] == model_id,
        })  # fmt: skip
    frame = pd.DataFrame(rows, columns=list(MODEL_COLUMNS))
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True, format="ISO8601")
    for col in ("valid_pr_auc", "test_pr_auc", "threshold"):
        frame[col] = frame[col].astype("float64")
    frame["current"] = frame["current"].astype(bool)
    return frame.sort_values(["created_at", "model_id"], kind="stable").reset_index(drop=True)


# ------------------------------------------------------------------------------------------- writing


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _decision(
    model: Model,
    *,
    promoted: bool,
    reason: str,
    rule: str,
    pointer: dict[str, Any] | None,
    comparison: dict[str, Any] | None,
) -> dict[str, Any]:
    now = _now()
    return {
        "promotion_id": f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}",
        "model_id": model.model_id,
        "target": model.metadata.get("target"),
        "promoted": promoted,
        "at": now.isoformat(timespec="seconds"),
        "reason": reason,
        "rule": rule,
        "previous": pointer["model_id"] if pointer else None,
        "previous_promotion": pointer.get("promotion_id") if pointer else None,
        "comparison": comparison,
    }


def _pointer_record(decision: dict[str, Any]) -> dict[str, Any]:
    pointer = {k: v for k, v in decision.items() if k not in ("promoted", "at")}
    pointer["promoted_at"] = decision["at"]
    return pointer


def _commit(out: Store, decision: dict[str, Any], pointer_token: str | None) -> None:
    """Append `decision` to the history, then (a promotion) write the pointer; both compare-and-swap."""
    read = out.read_with_token(PROMOTIONS_KEY)
    old, token = (b"", None) if read is None else read
    if old and not old.endswith(b"\n"):
        old += b"\n"
    line = json.dumps(decision, sort_keys=True, separators=(",", ":"), allow_nan=False).encode() + b"\n"
    if out.write_if(PROMOTIONS_KEY, old + line, token) is None:
        raise ModelError(
            f"{out.url}/{PROMOTIONS_KEY} changed while deciding on {decision['model_id']} (another promotion "
            "ran at the same time); nothing was changed: run it again"
        )
    if not decision["promoted"]:
        return
    pointer = json.dumps(_pointer_record(decision), indent=1, sort_keys=True, allow_nan=False).encode()
    if out.write_if(CURRENT_MODEL_KEY, pointer, pointer_token) is None:
        raise ModelError(
            f"{out.url}/{CURRENT_MODEL_KEY} changed while promoting {decision['model_id']} (another "
            "promotion ran at the same time); it stays as the other promotion left it and this history "
            "line is marked interrupted: run it again"
        )


def _model_to_promote(out: Store, model_id: str) -> Model:
    try:
        return read_model(out, model_id)
    except ModelError as exc:
        raise ModelError(
            f"cannot promote {model_id!r}: {exc}. The models of this root: `telemetry models list --out "
            f"{out.url}`"
        ) from None


def promote(
    out: Store, model_id: str, *, reason: str, comparison: dict[str, Any] | None = None, rule: str = "hand"
) -> dict[str, Any]:
    """Make `model_id` the current model of `out` (also a rollback to an older model); returns the pointer.

    Writes the history line, then ``models/current.json`` (see the module docstring). When `model_id`
    already is current, nothing is written and the pointer is returned unchanged.

    Raises:
        ModelError: no complete model folder ``models/<model_id>/``, or another promotion ran at the same
            time.
    """
    model = _model_to_promote(out, model_id)
    pointer, token = _read_pointer(out)
    if pointer is not None and pointer["model_id"] == model_id:
        return pointer
    decision = _decision(
        model, promoted=True, reason=reason, rule=rule, pointer=pointer, comparison=comparison
    )
    _commit(out, decision, token)
    return _pointer_record(decision)


def _target_of(current: Model | None, pointer: dict[str, Any] | None) -> str | None:
    if current is not None:
        return str(current.metadata.get("target"))
    target = pointer.get("target") if pointer else None
    return str(target) if target is not None else None


def promote_candidate(out: Store, model_id: str, features: FeatureSet, rule: str) -> Promotion:
    """Decide whether the freshly trained model `model_id` (written under ``models/``) becomes the current
    model of `out`, and record the decision; what ``telemetry run``'s train stage calls per trained model.

    The current model and the candidate are scored on exactly the candidate's validation rows of
    `features` (the FeatureSet it was trained on; :func:`telemetry.stages.score.compare_on_validation`), and
    `rule` (``train.promotion``) decides (:func:`telemetry.stages.evaluate.promotion_decision`). A current
    model that cannot score the features (another feature spec, or a pointer to a missing folder) is
    recorded with its error, and ``not_worse`` promotes. A candidate of another target than the current
    model's is never promoted by a rule (training ``any`` and per-mode models must not swap what is scored):
    call this for the models of the scored target, and change the target by hand (:func:`promote`).
    Re-running is idempotent: a candidate that already is current, or whose latest history line is the
    same refusal, writes nothing.

    Raises:
        ModelError: the candidate is not a complete model, `features` are not its training features, or
            another promotion ran at the same time.
    """
    candidate = _model_to_promote(out, model_id)
    pointer, token = _read_pointer(out)
    if pointer is not None and pointer["model_id"] == model_id:
        return Promotion(model_id, True, "already the current model", None, None)
    current: Model | None = None
    error = None
    if pointer is not None:
        try:
            current = read_model(out, pointer["model_id"])
        except ModelError as exc:
            error = str(exc)
    comparison = compare_on_validation(candidate, current, features)
    if pointer is not None and current is None:
        comparison["current"] = {
            "model_id": pointer["model_id"],
            "target": None,
            "pr_auc": None,
            "error": error,
        }
    entry = comparison["current"]
    current_ap = None
    if entry is not None:
        current_ap = float("nan") if entry["pr_auc"] is None else entry["pr_auc"]
    promoted, reason = promotion_decision(
        comparison["candidate"]["pr_auc"], current_ap, rule,
        current_error=entry["error"] if entry is not None else None,
    )  # fmt: skip
    target, current_target = candidate.metadata.get("target"), _target_of(current, pointer)
    if promoted and current_target is not None and target != current_target:
        promoted = False
        reason = (
            f"target {target} is not the current model's ({current_target}): a rule never changes the "
            "scored target; promote by hand with `telemetry models promote` to change it"
        )
    if not promoted:
        mine = promotion_history(out, model_id)
        last = mine[-1] if mine else None
        previous = pointer["model_id"] if pointer else None
        seen = (last["status"], last["previous"], last["rule"], last["reason"]) if last else None
        if seen == ("refused", previous, rule, reason):  # a re-run: the same refusal is recorded
            return Promotion(model_id, False, reason, comparison, None)
    decision = _decision(
        candidate, promoted=promoted, reason=reason, rule=rule, pointer=pointer, comparison=comparison
    )
    _commit(out, decision, token)
    return Promotion(model_id, promoted, reason, comparison, decision)
