"""How a model is trained, as plain dataclasses: the settings every model of a run shares
(:class:`TrainSettings`; a sweep's :class:`~legibility.sweep.SweepConfig` adds its own to them),
one model's config (:class:`TrainConfig`), and each preset's training recipe.

No torch here: the command line reads these for its flags and their defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from legibility import defaults
from legibility.errors import SettingError, UnknownNameError

__all__ = ["TRAINING_DEFAULTS", "TrainConfig", "TrainSettings", "known_preset"]


# The training recipe of each preset; a TrainConfig field left at None takes its preset's value.
# The paper's: Adam at 1e-4, batch 64, a constant rate, augmentation with p 0.05.
# The cpu preset's is ours, chosen on validation scores on ~800 training participants
# (docs/cpu_recipe.md; benchmarks/recipe_search.py).
# Gradient clipping stays off in both: on validation, clipping the norm at 1 left the cpu preset's
# age model as it was (R^2 0.832 against 0.831) and lowered its sex model (balanced accuracy 0.910
# against 0.919), two seeds each (benchmarks/results/recipe_search.md, "Later comparisons").
TRAINING_DEFAULTS = {
    "paper": {"lr": 1e-4, "batch_size": 64, "weight_decay": 0.0, "schedule": "constant", "warmup_epochs": 0.0,
              "ema": 0.0, "augment": True, "grad_clip": 0.0},
    "cpu": {"lr": 3e-3, "batch_size": 64, "weight_decay": 0.05, "schedule": "cosine", "warmup_epochs": 1.0,
            "ema": 0.995, "augment": False, "grad_clip": 0.0},
}


def known_preset(name: str) -> str:
    """``name`` if it is a preset (``paper`` or ``cpu``), else an error that lists the presets."""
    if name not in TRAINING_DEFAULTS:
        raise UnknownNameError(f"Unknown preset '{name}'; valid presets: {', '.join(TRAINING_DEFAULTS)}.")
    return name


@dataclass(kw_only=True)
class TrainSettings:
    """How models are trained: what every model of a run (one, a sweep, the scaling study) shares."""

    preset: str = defaults.PRESET
    side: int = defaults.SIDE
    epochs: int = defaults.EPOCHS  # the main job's (legibility/defaults.py), as patience
    batch_size: int | None = None  # None: the preset's (TRAINING_DEFAULTS), as every field at None below
    lr: float | None = None  # peak learning rate
    weight_decay: float | None = None  # > 0: AdamW with this decoupled weight decay; 0: Adam (the paper)
    schedule: str | None = None  # "constant" (the paper) or "cosine": linear warm-up, then cosine to 0
    warmup_epochs: float | None = None  # length of the warm-up of the "cosine" schedule
    ema: float | None = None  # > 0: keep, evaluate and save a moving average of the weights (decay per step)
    grad_clip: float | None = None  # > 0: the gradient's norm over all weights clipped to this each step; 0: off
    patience: int = defaults.PATIENCE
    seed: int = 0
    device: str = "cpu"
    num_workers: int = 0
    data_size: int | None = None  # only the first N participants of each split (debugging)
    diagnostic: bool = False  # every input replaced by constant codes: tests the pipeline only
    augment: bool | None = None  # small affine/elastic/histogram augmentations, p = 0.05
    voxel_standardise: bool = True  # centre/scale each voxel on the training set
    tensorboard: bool = False
    progress: bool = True
    shuffle_images: bool = False  # control: training and validation read others' images (same split)
    model: dict = field(default_factory=dict)  # ModelConfig fields that override the preset's
    network: str | None = None  # "module:Name" of a user's network (legibility.user_network); None: the fused model
    network_args: dict = field(default_factory=dict)  # keyword arguments of the user's network

    def __post_init__(self):
        defaults = TRAINING_DEFAULTS[known_preset(self.preset)]
        for key, value in defaults.items():
            if getattr(self, key) is None:
                setattr(self, key, value)
        if self.schedule not in ("constant", "cosine"):
            raise SettingError(f"schedule must be 'constant' or 'cosine', got {self.schedule!r}.")


@dataclass(kw_only=True)
class TrainConfig(TrainSettings):
    """One model: its target and input set, trained with :class:`TrainSettings`."""

    target: str
    inputs: tuple[str, ...]  # input keys: t1 flair dwi connectivity metadata
    metadata_blocks: tuple[str, ...] = ()  # domain words; default with metadata: every allowed one

    @classmethod
    def of(cls, settings: TrainSettings, **model) -> TrainConfig:
        """One model's config with ``settings``'s values of the fields TrainSettings has."""
        shared = {k: getattr(settings, k) for k in TrainSettings.__dataclass_fields__}
        return cls(**shared, **model)
