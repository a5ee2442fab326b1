"""Input checks on the characteristics: each error names the participant, field and fix."""

from __future__ import annotations

import numpy as np
import pandas as pd

from legibility.errors import DataError
from legibility.study import TARGETS

__all__ = ["PLAUSIBLE", "check_metadata"]

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


def check_metadata(table: pd.DataFrame, source) -> None:
    """Every characteristic column present is numeric, finite, in range (0/1 for binary).

    Raises
    ------
    DataError
        Naming the first offending participant and field, the value found and what to do.
    """
    ids = table["biobank_id"].astype(str).to_numpy()
    for key, tgt in TARGETS.items():
        if key not in table.columns:
            continue
        col = pd.to_numeric(table[key], errors="coerce")
        bad = col.isna().to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raw = table[key].iloc[i]
            shown = "empty (NaN)" if pd.isna(raw) else repr(str(raw))
            raise DataError(
                f"Participant {ids[i]} in {source}: field '{key}' is {shown}, not a number "
                f"({int(bad.sum())} such value(s) in this column). Fill in or drop these "
                f"participants; the models need every characteristic.")
        vals = col.to_numpy(dtype=float)
        if tgt.is_binary:
            wrong = ~np.isin(vals, (0.0, 1.0))
            rule = f"0 or 1 ({tgt.units})"
        else:
            lo, hi = PLAUSIBLE[key]
            wrong = (vals < lo) | (vals > hi)
            rule = f"between {lo:g} and {hi:g} {tgt.units}"
        if wrong.any():
            i = int(np.flatnonzero(wrong)[0])
            raise DataError(
                f"Participant {ids[i]} in {source}: field '{key}' is {vals[i]:g}; it must be "
                f"{rule} ({int(wrong.sum())} such value(s)). Check the units or coding.")
    missing = [k for k in TARGETS if k not in table.columns]
    if missing:
        raise DataError(f"{source}: characteristic column(s) missing: {', '.join(missing)}. "
                        f"Every metadata file needs all 25 (see `legibility grid`).")
