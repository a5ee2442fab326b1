"""Input checks on the characteristics: each error names the participant, field and fix.

An empty cell is not an error: questionnaires and blood tests always have gaps, and a model
leaves out only the participants lacking *its* target or *its* metadata inputs (nothing is
imputed). Text where a number belongs, a binary field outside 0/1 and a value outside the
plausible range are errors. A column whose values sit in the plausible range but whose median
is far from the usual one (weight in pounds: 85 kg reads 187) gets a warning naming the unit
it looks like.
"""

from __future__ import annotations

import difflib
import re
import warnings

import numpy as np
import pandas as pd

from legibility.data.problems import problem
from legibility.study import TARGETS

__all__ = ["PLAUSIBLE", "UKB_FIELD", "USUAL", "check_metadata", "likely_unit", "missingness", "unknown_columns",
           "unknown_splits"]

UKB_FIELD = re.compile(r"^\d+-\d+\.\d+$")  # UK Biobank field-id columns: 21003-2.0

# Plausible ranges of the continuous characteristics, in their units (generous on purpose:
# they catch unit mistakes and sentinel codes such as -1 or 9999, not outliers).
PLAUSIBLE = {
    "age": (18.0, 110.0),
    "weight": (25.0, 300.0),
    "body_fat": (1.0, 80.0),
    "hb": (4.0, 25.0),
    "hdl": (0.05, 6.0),
    "hba1c": (10.0, 200.0),
    "ldl": (0.05, 15.0),
    "reaction_time": (80.0, 5000.0),
}

# Where a cohort's median usually lies in our units, and the other units people record each
# characteristic in: (unit, what to do, conversion of a value in that unit to ours).
USUAL = {
    "age": ((20.0, 90.0), [("months", "divide by 12", lambda v: v / 12),
                           ("days", "divide by 365.25", lambda v: v / 365.25)]),
    "weight": ((45.0, 120.0), [("pounds (lb)", "divide by 2.2046 for kg", lambda v: v / 2.2046),
                               ("grams", "divide by 1000 for kg", lambda v: v / 1000)]),
    "body_fat": ((10.0, 50.0), [("a fraction (0-1)", "multiply by 100 for %", lambda v: v * 100)]),
    "hb": ((10.0, 18.0), [("g/L", "divide by 10 for g/dL", lambda v: v / 10),
                          ("mmol/L", "divide by 0.6206 for g/dL", lambda v: v / 0.6206)]),
    "hdl": ((0.7, 2.5), [("mg/dL", "divide by 38.67 for mmol/L", lambda v: v / 38.67)]),
    "ldl": ((1.5, 5.5), [("mg/dL", "divide by 38.67 for mmol/L", lambda v: v / 38.67)]),
    "hba1c": ((25.0, 65.0), [("% (DCCT/NGSP)", "mmol/mol = (% - 2.15) x 10.929",
                              lambda v: (v - 2.15) * 10.929)]),
    "reaction_time": ((250.0, 1500.0), [("seconds", "multiply by 1000 for ms", lambda v: v * 1000)]),
}


def likely_unit(key: str, values) -> str | None:
    """``'pounds (lb): divide by 2.2046 for kg'`` when the median of ``values`` is far from the
    usual one of ``key`` in our units but where it belongs once read in another unit; else None."""
    if key not in USUAL:
        return None
    vals = np.asarray(values, float)
    vals = vals[np.isfinite(vals)]
    if not len(vals):
        return None
    (lo, hi), others = USUAL[key]
    med = float(np.median(vals))
    if lo <= med <= hi:
        return None
    for unit, fix, convert in others:
        if lo <= convert(med) <= hi:
            return f"{unit}: {fix}"
    return None


def check_metadata(table: pd.DataFrame, source, empty: str = "leave the cell empty") -> list[str]:
    """Every characteristic column present holds numbers (or is empty), 0/1 for binary ones, in
    the plausible range for continuous ones.

    Parameters
    ----------
    table : DataFrame
        With ``biobank_id`` and the characteristic columns, as read.
    source : path
        The file the table was read from, named in the messages.
    empty : str
        How the file marks an unknown value, said in the messages (BIDS: ``write n/a``).

    Returns
    -------
    list of str
        Notes: continuous columns whose median suggests another unit (also warned).

    Raises
    ------
    DataError
        Naming the first offending participant and field, the value found and what to do
        (every offending column is reported inside :func:`legibility.data.problems.gathering`).
    """
    ids = table["biobank_id"].astype(str).to_numpy()
    notes = []
    for key, tgt in TARGETS.items():
        if key not in table.columns:
            continue
        raw = table[key]
        col = pd.to_numeric(raw, errors="coerce")
        text = col.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
        if text.any():
            i = int(np.flatnonzero(text.to_numpy())[0])
            write = f"0 or 1 ({tgt.units}, 0 otherwise)" if tgt.is_binary else f"a number in {tgt.units}"
            problem(f"Participant {ids[i]} in {source}: field '{key}' is {str(raw.iloc[i])!r}, "
                    f"not a number ({int(text.sum())} such value(s) in this column). Write {write}, "
                    f"or {empty} when it is unknown.", file=source, participant=ids[i])
            continue
        vals = col.to_numpy(dtype=float)
        known = np.isfinite(vals)
        if tgt.is_binary:
            wrong = known & ~np.isin(vals, (0.0, 1.0))
            rule, hint = f"0 or 1 ({tgt.units})", ""
        else:
            lo, hi = PLAUSIBLE[key]
            wrong = known & ((vals < lo) | (vals > hi))
            rule = f"between {lo:g} and {hi:g} {tgt.units}"
            unit = likely_unit(key, vals)
            hint = f" The column looks like {unit}." if unit else ""
            if unit and not wrong.any():
                note = (f"field '{key}' in {source}: median {np.nanmedian(vals):g} is far from the usual "
                        f"{USUAL[key][0][0]:g}-{USUAL[key][0][1]:g} {tgt.units}; the values look like {unit}")
                warnings.warn(note, stacklevel=3)
                notes.append(note)
        if wrong.any():
            i = int(np.flatnonzero(wrong)[0])
            problem(f"Participant {ids[i]} in {source}: field '{key}' is {vals[i]:g}; it must be "
                    f"{rule} ({int(wrong.sum())} such value(s)). Check the units or coding.{hint}",
                    file=source, participant=ids[i])
    return notes


def unknown_columns(df: pd.DataFrame, source, extra_known=()) -> list[str]:
    """Notes (also warned) on the columns of a participants table: UK Biobank field ids, unknown
    columns with the closest characteristic ("did you mean"), and absent characteristics.

    Parameters
    ----------
    df : DataFrame
        The table as read, its id column renamed ``biobank_id``.
    source : path
        The file, named in the notes.
    extra_known : iterable of str
        Other columns the layout uses (a manifest's image path columns).
    """
    name = getattr(source, "name", str(source))
    known = {"biobank_id", "split", *TARGETS, *extra_known}
    notes = []
    fields = [c for c in df.columns if UKB_FIELD.match(str(c))]
    if fields:
        notes.append(f"{len(fields)} UK Biobank field-id column(s) in {name} (e.g. {fields[0]}) ignored: "
                     f"`legibility ukb` converts them to the characteristics")
    for col in df.columns:
        if col in known or str(col).startswith("Unnamed") or col in fields:
            continue
        close = difflib.get_close_matches(str(col).lower(), list(TARGETS), n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        notes.append(f"unknown column '{col}' in {name}{hint}: ignored")
    absent = [k for k in TARGETS if k not in df.columns]
    if absent:
        notes.append(f"{len(absent)} characteristic column(s) absent from {name} "
                     f"({', '.join(absent[:5])}{' ...' if len(absent) > 5 else ''}): only models that "
                     f"need none of them can use these participants")
    for n in notes:
        warnings.warn(n, stacklevel=3)
    return notes


def unknown_splits(df: pd.DataFrame, source, fix: str) -> None:
    """Report each value of the ``split`` column other than train, val and test (an empty cell
    included), naming the first participant that has it and how many do."""
    split = df["split"].fillna("").astype(str).str.strip()
    for value in sorted(set(split) - {"train", "val", "test"}):
        which = df.loc[split == value, "biobank_id"].astype(str)
        shown = repr(value) if value else "empty"
        problem(f"Participant {which.iloc[0]} in {source}: split is {shown} ({len(which)} participant(s) "
                f"with this value); {fix}.", file=source, participant=which.iloc[0])


def missingness(table: pd.DataFrame, splits=("train", "val", "test")) -> pd.DataFrame:
    """Empty cells per characteristic column (those with any), in all and per split."""
    rows = []
    for key in TARGETS:
        gap = table[key].isna() if key in table.columns else pd.Series(True, index=table.index)
        if not gap.any():
            continue
        row = {"column": key, "missing": int(gap.sum()), "%": 100.0 * gap.mean()}
        for s in splits:
            row[s] = int((gap & (table["split"] == s)).sum())
        rows.append(row)
    return pd.DataFrame(rows, columns=["column", "missing", "%", *splits])
