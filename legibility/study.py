"""The study's definitions: targets, domains, input keys, input sets, the 700-model grid and
the leakage rule (which inputs a model of a target may read). ~320 lines: one place for every
fact of the study, as the project's rule asks.

Everything else in the package reads these facts from here; nothing here imports the rest
of the package. The strings (display names, ``Inputs`` labels, flag columns) are exactly those
of the paper's published metrics table (Ruffle et al., NeuroImage 2024).
"""

from __future__ import annotations

import difflib
import itertools
import warnings
from dataclasses import dataclass

from legibility.errors import SettingError, UnknownNameError

__all__ = [
    "DOMAINS",
    "DOMAIN_COLOURS",
    "FLAG_COLUMNS",
    "IMAGING_KEYS",
    "INPUT_KEYS",
    "METRIC_COLUMNS",
    "TARGETS",
    "Domain",
    "InputSet",
    "Target",
    "grid",
    "grid_table",
    "input_sets_for",
    "metadata_columns",
    "model_name",
    "parse_inputs_label",
    "resolve_inputs",
    "target",
]


@dataclass(frozen=True)
class Domain:
    key: str  # word used on the command line (``--metadata_blocks``)
    name: str  # as the published table's ``Domain`` column writes it
    letter: str  # as the ``Inputs`` label writes it: ``Non-imaging data (C + D)``


DOMAINS: dict[str, Domain] = {
    d.key: d
    for d in (
        Domain("constitutional", "Constitutional", "C"),
        Domain("disease", "Disease", "D"),
        Domain("serology", "Serology", "S"),
        Domain("psychology", "Psychology", "P"),
    )
}

# The paper's colours: constitutional orange, disease blue, psychology green, serology pink.
DOMAIN_COLOURS = {  # the paper's colours (ColorBrewer Set2)
    "constitutional": "#fc8d62",
    "disease": "#8da0cb",
    "psychology": "#66c2a5",
    "serology": "#e78ac3",
}


@dataclass(frozen=True)
class Target:
    key: str  # column name in ``metadata_*.csv``
    display: str  # as the published table's ``Target`` column writes it
    domain: str  # a key of DOMAINS
    kind: str  # "binary" or "continuous"
    units: str  # for continuous targets; for binary ones what 1 means

    @property
    def is_binary(self) -> bool:
        return self.kind == "binary"

    @property
    def metric(self) -> str:
        """The main metric, the paper's: ``Balanced accuracy`` for a binary target, ``r2`` for a continuous one."""
        return "Balanced accuracy" if self.is_binary else "r2"

    @property
    def metric_key(self) -> str:
        """:attr:`metric` as the linear peer's scores and :func:`~legibility.metrics.bootstrap_ci` name it."""
        return "balanced_accuracy" if self.is_binary else "r2"

    @property
    def peer_column(self) -> str:
        """The column of a model's ``metrics.csv`` holding its linear peer's score on :attr:`metric`."""
        return f"linear_{self.metric_key}"


def _t(key, display, domain, kind, units):
    return Target(key, display, domain, kind, units)


# Order: by domain (C, D, S, P), then as the paper lists them.
TARGETS: dict[str, Target] = {
    t.key: t
    for t in (
        _t("sex", "Sex (Male)", "constitutional", "binary", "1 = male"),
        _t("age", "Age", "constitutional", "continuous", "years"),
        _t("weight", "Weight", "constitutional", "continuous", "kg"),
        _t("handedness", "Handedness (Rt)", "constitutional", "binary", "1 = right-handed"),
        _t("smoking", "Smoking", "disease", "binary", "1 = ever smoked"),
        _t("hypertension", "Hypertension", "disease", "binary", "1 = yes"),
        _t("atopy", "Atopy", "disease", "binary", "1 = yes"),
        _t("asthma", "Asthma", "disease", "binary", "1 = yes"),
        _t("body_fat", "Body Fat", "disease", "continuous", "%"),
        _t("hb", "Hb", "serology", "continuous", "g/dL"),
        _t("hdl", "HDL", "serology", "continuous", "mmol/L"),
        _t("hba1c", "HbA1c", "serology", "continuous", "mmol/mol"),
        _t("ldl", "LDL", "serology", "continuous", "mmol/L"),
        _t("mood_swings", "Mood Swings", "psychology", "binary", "1 = yes"),
        _t("miserableness", "Miserableness", "psychology", "binary", "1 = yes"),
        _t("irritability", "Irritability", "psychology", "binary", "1 = yes"),
        _t("sensitivity", "Sensitivity", "psychology", "binary", "1 = yes"),
        _t("fed_up", "Fed Up", "psychology", "binary", "1 = yes"),
        _t("nervous", "Nervous", "psychology", "binary", "1 = yes"),
        _t("anxious", "Anxious", "psychology", "binary", "1 = yes"),
        _t("tense", "Tense", "psychology", "binary", "1 = yes"),
        _t("worry", "Worry", "psychology", "binary", "1 = yes"),
        _t("lonely", "Lonely", "psychology", "binary", "1 = yes"),
        _t("guilty", "Guilty", "psychology", "binary", "1 = yes"),
        _t("reaction_time", "Reaction Time", "psychology", "continuous", "ms"),
    )
}

_BY_DISPLAY = {t.display.lower(): t for t in TARGETS.values()}


def target(name: str) -> Target:
    """Look a target up by key (``hb``) or by the paper's spelling (``Hb``, ``Sex (Male)``).

    Raises
    ------
    KeyError
        Naming the closest valid key and listing them all.
    """
    key = name.strip()
    if key in TARGETS:
        return TARGETS[key]
    if key.lower() in TARGETS:
        return TARGETS[key.lower()]
    if key.lower() in _BY_DISPLAY:
        return _BY_DISPLAY[key.lower()]
    close = difflib.get_close_matches(key.lower(), list(TARGETS) + list(_BY_DISPLAY), n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise UnknownNameError(
        f"Unknown target '{name}'.{hint} Valid targets: {', '.join(TARGETS)}."
    )


# ----------------------------------------------------------------------------- inputs
INPUT_KEYS = ("t1", "flair", "dwi", "connectivity", "metadata")
IMAGING_KEYS = ("t1", "flair", "dwi")  # stacked as channels in the order [flair, t1, dwi]
CHANNEL_ORDER = ("flair", "t1", "dwi")

# Label pieces of the published ``Inputs`` strings, in the order the table writes them.
_INPUT_LABELS = {"connectivity": "rsfMRI Connectivity", "dwi": "DWI", "flair": "FLAIR", "t1": "T1"}
_LABEL_ORDER = ("connectivity", "dwi", "flair", "t1")

# Flag columns of the published table (``Yes``/``No``).
FLAG_COLUMNS = (
    "Metadata", "Constitutional", "Serology", "Psychology", "Disease",
    "T1", "FLAIR", "DWI", "rsfMRI connectivity",
)
_FLAG_OF_INPUT = {"t1": "T1", "flair": "FLAIR", "dwi": "DWI", "connectivity": "rsfMRI connectivity"}

# Columns of the published metrics table, in its order (the leading unnamed index aside).
METRIC_COLUMNS = (
    "Mode", "Target", "Inputs", "Balanced accuracy", "Weighted precision", "Weighted recall",
    "Weighted F1", "AUC", "Training time (mins)", "Loss", "r2", "r", "MAE",
    *FLAG_COLUMNS, "Domain",
)


_lookup_target = target  # for functions whose argument is named `target`


@dataclass(frozen=True)
class InputSet:
    """A combination of inputs: imaging keys plus the metadata domain blocks fed in."""

    imaging: frozenset[str]  # subset of {"t1", "flair", "dwi", "connectivity"}
    blocks: frozenset[str] = frozenset()  # metadata domains; empty = no metadata

    @property
    def keys(self) -> tuple[str, ...]:
        """Input keys in ``INPUT_KEYS`` order (``metadata`` when any block is used)."""
        used = set(self.imaging) | ({"metadata"} if self.blocks else set())
        return tuple(k for k in INPUT_KEYS if k in used)

    @property
    def label(self) -> str:
        """The published table's ``Inputs`` string."""
        parts = [_INPUT_LABELS[k] for k in _LABEL_ORDER if k in self.imaging]
        if self.blocks:
            letters = sorted(DOMAINS[b].letter for b in self.blocks)
            parts.append(f"Non-imaging data ({' + '.join(letters)})")
        return " + ".join(parts)

    def flags(self) -> dict[str, str]:
        """The published table's Yes/No flag columns for this input set."""
        yes = {"Metadata": bool(self.blocks)}
        for key in ("t1", "flair", "dwi", "connectivity"):
            yes[_FLAG_OF_INPUT[key]] = key in self.imaging
        for dom in DOMAINS.values():
            yes[dom.name] = dom.key in self.blocks
        return {c: "Yes" if yes[c] else "No" for c in FLAG_COLUMNS}


def parse_inputs_label(label: str) -> InputSet:
    """Inverse of :attr:`InputSet.label`: ``'DWI + Non-imaging data (C + S)'`` -> InputSet."""
    imaging, blocks = set(), set()
    by_label = {v: k for k, v in _INPUT_LABELS.items()}
    by_letter = {d.letter: d.key for d in DOMAINS.values()}
    rest = label.strip()
    if "Non-imaging data (" in rest:
        rest, meta = rest.split("Non-imaging data (", 1)
        for letter in meta.rstrip(")").split("+"):
            letter = letter.strip()
            if letter not in by_letter:
                raise SettingError(f"Unknown domain letter '{letter}' in inputs label '{label}'.")
            blocks.add(by_letter[letter])
    for part in rest.split("+"):
        part = part.strip()
        if not part:
            continue
        if part not in by_label:
            raise SettingError(
                f"Unknown input '{part}' in inputs label '{label}'; "
                f"known: {', '.join(_INPUT_LABELS.values())}, Non-imaging data (...)."
            )
        imaging.add(by_label[part])
    return InputSet(frozenset(imaging), frozenset(blocks))


# ----------------------------------------------------------------------------- the grid
_STRUCTURAL = frozenset({"t1", "flair"})  # T1 and FLAIR always enter together in the grid
_IMAGING_UNITS = (_STRUCTURAL, frozenset({"dwi"}), frozenset({"connectivity"}))


def _imaging_subsets(include_empty: bool) -> list[frozenset[str]]:
    out = []
    for r in range(0 if include_empty else 1, len(_IMAGING_UNITS) + 1):
        for combo in itertools.combinations(_IMAGING_UNITS, r):
            out.append(frozenset().union(*combo))
    return out


def input_sets_for(tgt: Target) -> list[InputSet]:
    """The paper's input sets for one target (7 for constitutional targets, 32 otherwise)."""
    if tgt.domain == "constitutional":
        return [InputSet(img) for img in _imaging_subsets(include_empty=False)]
    others = [d for d in DOMAINS if d not in ("constitutional", tgt.domain)]
    meta_sets = [frozenset({"constitutional"}) | frozenset(extra)
                 for r in range(len(others) + 1) for extra in itertools.combinations(others, r)]
    return [InputSet(img, meta) for img in _imaging_subsets(include_empty=True)
            for meta in meta_sets]


def grid() -> list[tuple[Target, InputSet]]:
    """The paper's 700 (target, input set) pairs."""
    return [(t, s) for t in TARGETS.values() for s in input_sets_for(t)]


def model_name(tgt: Target, inputs: InputSet) -> str:
    """A file-system-safe model name: ``age__t1-flair`` or ``hb__dwi__meta-c-d``."""
    parts = [tgt.key]
    img = [k for k in INPUT_KEYS if k in inputs.imaging]
    if img:
        parts.append("-".join(img))
    if inputs.blocks:
        parts.append("meta-" + "-".join(sorted(DOMAINS[b].letter.lower() for b in inputs.blocks)))
    return "__".join(parts)


def grid_table():
    """The grid as a table: ``Target``, ``Inputs``, ``Domain``, the flag columns, the keys."""
    import pandas as pd

    rows = []
    for tgt, inputs in grid():
        row = {"Target": tgt.display, "Inputs": inputs.label, "Domain": DOMAINS[tgt.domain].name}
        row.update(inputs.flags())
        row.update({"target": tgt.key, "inputs": " ".join(inputs.keys),
                    "metadata_blocks": " ".join(sorted(inputs.blocks)),
                    "model": model_name(tgt, inputs)})
        rows.append(row)
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- the leakage rule
def resolve_inputs(target: str, inputs, metadata_blocks=()) -> tuple[Target, InputSet]:
    """Check the requested inputs and apply the leakage rule.

    Raises
    ------
    KeyError
        For an unknown target, input or domain word, listing the valid ones.
    ValueError
        When no input is left.
    """
    tgt = _lookup_target(target)
    keys = [k.strip().lower() for k in (inputs.split() if isinstance(inputs, str) else inputs) if k.strip()]
    unknown = [k for k in keys if k not in INPUT_KEYS]
    if unknown:
        raise UnknownNameError(f"Unknown input(s) {', '.join(unknown)}; valid inputs: {', '.join(INPUT_KEYS)}.")
    blocks = [b.strip().lower() for b in (metadata_blocks.split() if isinstance(metadata_blocks, str)
                                          else metadata_blocks) if b.strip()]
    bad = [b for b in blocks if b not in DOMAINS]
    if bad:
        raise UnknownNameError(f"Unknown metadata block(s) {', '.join(bad)}; valid blocks: {', '.join(DOMAINS)}.")
    if blocks and "metadata" not in keys:
        keys.append("metadata")
    if "metadata" in keys and not blocks:
        blocks = [d for d in DOMAINS if d != tgt.domain]
    if tgt.domain in blocks:
        warnings.warn(f"the {tgt.domain} block is the target's own domain and is zeroed (leakage rule)",
                      stacklevel=2)
        blocks = [b for b in blocks if b != tgt.domain]
    if "metadata" in keys and not blocks:
        keys.remove("metadata")
    if not keys:
        raise SettingError(f"No inputs left for target '{tgt.key}': give at least one of "
                         f"{', '.join(INPUT_KEYS)} (metadata of the target's own domain is never used).")
    return tgt, InputSet(frozenset(k for k in keys if k != "metadata"), frozenset(blocks))


def metadata_columns(tgt: Target) -> list[str]:
    """The metadata vector's columns: every characteristic but the target (24)."""
    return [k for k in TARGETS if k != tgt.key]
