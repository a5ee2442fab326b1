"""Resting-state connectivity: R x R correlation matrices from a network model.

Nodes belong to eight networks (seven canonical cortical ones and a subcortical one). Each
participant's BOLD time series (490 volumes, as UK Biobank's resting scan) come from network
factors whose strengths carry the age and sex effects reported for UK Biobank; the sample
correlation adds realistic estimation noise; then
many small edge effects (calibrated to the paper's table, see :mod:`.information`) are added
in Fisher-z space.
"""

from __future__ import annotations

import functools

import numpy as np

from legibility.errors import SettingError

__all__ = ["NETWORKS", "node_networks", "subject_connectivity", "upper_triangle"]

NETWORKS = ("visual", "somatomotor", "dorsal_attention", "ventral_attention", "limbic",
            "frontoparietal", "default", "subcortical")
_SHARE = (0.14, 0.14, 0.12, 0.10, 0.08, 0.14, 0.20, 0.08)
N_VOLUMES = 490
_SEED = 20240102


@functools.lru_cache(maxsize=8)
def node_networks(n_nodes: int) -> np.ndarray:
    """Network index of each node (contiguous blocks, in proportion to typical atlases)."""
    counts = np.floor(np.array(_SHARE) * n_nodes).astype(int)
    counts[np.argmax(_SHARE)] += n_nodes - counts.sum()
    return np.repeat(np.arange(len(NETWORKS)), counts)


@functools.lru_cache(maxsize=8)
def edge_code(n_nodes: int, n_codes: int) -> np.ndarray:
    """Orthonormal patterns (n_codes x n_edges) that spread each code over all edges."""
    n_edges = n_nodes * (n_nodes - 1) // 2
    if n_edges < n_codes:
        raise SettingError(f"connectivity needs at least {n_codes} edges; got {n_nodes} nodes")
    rng = np.random.default_rng(_SEED)
    q, _ = np.linalg.qr(rng.standard_normal((n_edges, n_codes)))
    return np.ascontiguousarray(q.T, dtype=np.float32)


def upper_triangle(mats: np.ndarray) -> np.ndarray:
    """Strict upper triangles of (..., R, R) matrices, row by row: (..., R(R-1)/2)."""
    r = mats.shape[-1]
    iu = np.triu_indices(r, k=1)
    return mats[..., iu[0], iu[1]]


def subject_connectivity(n_nodes: int, age: float, male: float, code: np.ndarray,
                         rng: np.random.Generator, gain: float = 0.3) -> np.ndarray:
    """One participant's R x R correlation matrix (float32, unit diagonal).

    Parameters
    ----------
    age, male
        The brain's age (years) and maleness (0..1) as connectivity observes them.
    code
        The participant's standardised connectivity observation of every characteristic;
        spread over the edges by :func:`edge_code`.
    """
    net = node_networks(n_nodes)
    k = len(NETWORKS)
    strength = np.full(k, 0.65)
    za = (age - 63.0) / 7.5
    sm, da, dmn, sub = (NETWORKS.index(n) for n in
                        ("somatomotor", "dorsal_attention", "default", "subcortical"))
    # Men stronger sensorimotor, women stronger default-mode (S).
    strength[sm] += 0.10 * (male - 0.5)
    strength[dmn] -= 0.10 * (male - 0.5)
    # Sensorimotor/attention and basal-ganglia networks lose connectivity with age (S).
    for i in (sm, da, sub):
        strength[i] -= 0.05 * za
    strength = np.clip(strength * np.exp(rng.normal(0, 0.05, k)), 0.05, 1.5)
    # Time series: a global signal, network factors, node noise.
    t = N_VOLUMES
    factors = rng.standard_normal((t, k)).astype(np.float32)
    glob = rng.standard_normal((t, 1)).astype(np.float32)
    loadings = strength[net] * rng.uniform(0.7, 1.0, n_nodes)
    ts = (factors[:, net] * loadings + 0.3 * glob
          + rng.standard_normal((t, n_nodes)).astype(np.float32))
    corr = np.corrcoef(ts, rowvar=False)
    # Many small edge effects in Fisher z (calibrated to the paper's table).
    iu = np.triu_indices(n_nodes, k=1)
    z = np.arctanh(np.clip(corr[iu], -0.999, 0.999))
    z = z + gain * (np.asarray(code, np.float32) @ edge_code(n_nodes, len(code)))
    out = np.eye(n_nodes, dtype=np.float32)
    out[iu] = np.tanh(z)
    out.T[iu] = out[iu]
    return out
