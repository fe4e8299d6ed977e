"""Static unit attributes: a units table (one row per robot) joined onto the examples by robot id
(see docs/time-semantics.md, "Static unit attributes").

Columns: ``unit.<column>`` for each ``units.numeric`` column (float64) then each ``units.categorical`` column
(string), in configuration order, after every other feature column. The columns come from the configuration,
never from the table, so every partition has the same schema whatever the table holds.

Time semantics: the attributes are static. Every example of a robot takes the robot's one row of the table as
read by the run, whatever its cutoff: a table that changes over time (a firmware upgrade, a move to another
site) is not time-travelled, and a cutoff before the change sees the new value. Nothing in the table is
derived from telemetry, so no sample at or after a cutoff can reach these features through it. A robot that
the table lacks gets nulls (:func:`unit_row` returns None; the pipeline counts and reports such robots).

Table format: Parquet (types as stored) or CSV (``.csv``, ``.csv.gz``; every value read as text). Ids are
compared as strings (an integer id ``7`` matches robot ``"7"``); numeric columns must hold numbers (or
nulls), categorical values are taken as strings (surrounding whitespace stripped; empty means null).
"""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from telemetry.config import UnitsConfig
from telemetry.errors import DataContractError

__all__ = [
    "PREFIX",
    "parse_unit_name",
    "unit_feature_fields",
    "unit_feature_names",
    "unit_features",
    "unit_row",
    "units_table",
]

PREFIX = "unit"
"""First part of every unit attribute column name (a reserved signal name: no window feature looks alike)."""

_NAME_RE = re.compile(rf"^{PREFIX}\.(?P<column>[a-z][a-z0-9_]*)$")

UnitValue = float | str | None


def unit_feature_names(units: UnitsConfig) -> list[str]:
    """``unit.<column>`` for every configured column, numeric first (none when ``units.url`` is null)."""
    if units.url is None:
        return []
    return [f"{PREFIX}.{column}" for column in units.columns]


def unit_feature_fields(units: UnitsConfig) -> list[pa.Field]:
    """The Arrow fields of the unit columns: float64 for numeric columns, string for categorical ones."""
    numeric = set(units.numeric)
    return [
        pa.field(name, pa.float64() if parse_unit_name(name) in numeric else pa.string())
        for name in unit_feature_names(units)
    ]


def parse_unit_name(name: str) -> str:
    """The table column of a unit attribute feature name.

    >>> parse_unit_name("unit.model")
    'model'
    """
    m = _NAME_RE.match(name)
    if m is None or "__" in name:
        raise ValueError(
            f"not a unit attribute name: {name!r} (expected unit.<column>, column [a-z][a-z0-9_]*)"
        )
    return m["column"]


def _read(data: bytes, name: str) -> pd.DataFrame:
    """The table in `data`, by the ending of its file `name`: Parquet as stored, CSV as text."""
    if name.lower().endswith(".parquet"):
        try:
            frame: pd.DataFrame = pq.read_table(io.BytesIO(data)).to_pandas()
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataContractError(f"units table {name}: not a readable Parquet file ({exc})") from None
        return frame
    if data[:2] == b"\x1f\x8b":  # gzip, whatever the name says
        data = gzip.decompress(data)
    try:
        return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataContractError(f"units table {name}: not a readable CSV file ({exc})") from None


def _text(values: pd.Series[Any]) -> pd.Series[Any]:
    """Values as stripped strings; nulls and empty strings are null."""
    text = values.astype("string").str.strip()
    return text.mask(text == "")


def _numbers(values: pd.Series[Any], name: str, column: str) -> npt.NDArray[np.float64]:
    """float64 values of a numeric column (nulls NaN); a value that is no number is an error."""
    if pd.api.types.is_numeric_dtype(values):  # bool included
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    text = _text(values)
    numbers = pd.to_numeric(text, errors="coerce")
    bad = numbers.isna() & text.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataContractError(
            f"units table {name}: column {column!r} is listed in units.numeric but row {row + 1} holds "
            f"{text.iloc[row]!r}; list the column in units.categorical or fix the value"
        )
    return numbers.to_numpy(dtype=np.float64, na_value=np.nan)


def units_table(data: bytes, name: str, units: UnitsConfig) -> pd.DataFrame:
    """The units table in `data` (the bytes of file `name`) as a frame indexed by robot id (string), with the
    configured columns: numeric float64 (NaN for nulls), categorical strings (None for nulls).

    Raises:
        DataContractError: the file is unreadable, lacks the id column or a configured column, has a null or
            repeated id, or a numeric column holds a value that is no number.
    """
    frame = _read(data, name)
    missing = [c for c in (units.id_column, *units.columns) if c not in frame.columns]
    if missing:
        raise DataContractError(
            f"units table {name}: no column(s) {missing} (columns: {', '.join(map(str, frame.columns))}); "
            "fix units.id_column, units.numeric or units.categorical"
        )
    ids = _text(frame[units.id_column])
    if ids.isna().any():
        row = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise DataContractError(f"units table {name}: row {row + 1} has no {units.id_column!r}")
    repeated = sorted(set(ids[ids.duplicated()]))
    if repeated:
        raise DataContractError(
            f"units table {name}: robot ids {repeated[:5]} appear more than once; a robot has one row"
        )
    out = pd.DataFrame(index=pd.Index(ids.to_numpy(dtype=object), name="robot_id"))
    for column in units.numeric:
        out[column] = _numbers(frame[column], name, column)
    for column in units.categorical:
        values = [None if pd.isna(v) else str(v) for v in _text(frame[column])]
        out[column] = pd.Series(values, index=out.index, dtype=object)
    return out


def unit_row(table: pd.DataFrame, robot_id: str, units: UnitsConfig) -> dict[str, UnitValue] | None:
    """The configured attributes of `robot_id` (floats, strings, None for nulls), or None when the table has
    no row for it."""
    if robot_id not in table.index:
        return None
    out: dict[str, UnitValue] = {}
    for column in units.numeric:
        value: Any = table.at[robot_id, column]
        number = float(value)
        out[column] = None if np.isnan(number) else number
    for column in units.categorical:
        text: Any = table.at[robot_id, column]
        out[column] = None if text is None else str(text)
    return out


def unit_features(
    row: Mapping[str, UnitValue] | None, examples: int, units: UnitsConfig
) -> dict[str, npt.NDArray[Any]]:
    """The unit columns of `examples` examples of one robot, by name in :func:`unit_feature_names` order:
    its attributes repeated on every example (the same for every cutoff), or nulls when `row` is None (the
    robot is not in the table). Numeric columns are float64 (NaN for null), categorical ones object arrays
    of strings or None."""
    out: dict[str, npt.NDArray[Any]] = {}
    for name in unit_feature_names(units):
        column = parse_unit_name(name)
        value = None if row is None else row[column]
        if column in units.numeric:
            out[name] = np.full(examples, np.nan if value is None else float(value), dtype=np.float64)
        else:
            out[name] = np.full(examples, value, dtype=object)
    return out
