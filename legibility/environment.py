"""What a run will use: torch and CUDA, the GPUs seen, bf16, CPU threads, and where files go."""

from __future__ import annotations

import os
import platform
import sys

from legibility import __version__, paths

__all__ = ["describe_environment", "format_environment", "CUDA_HINT"]

CUDA_HINT = ("the CUDA build of the pinned torch: `make env TORCH=cu128` (PyTorch's wheel index "
             "https://download.pytorch.org/whl/cu128; cu126 and others likewise)")


def describe_environment(inpath=None) -> dict:
    """A dictionary of what this process sees (nothing is changed)."""
    import torch

    cuda = torch.cuda.is_available()
    gpus = []
    if cuda:
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            gpus.append({"index": i, "name": p.name, "memory_gib": round(p.total_memory / 2**30, 1),
                         "capability": f"{p.major}.{p.minor}"})
    info = {
        "legibility": __version__,
        "python": platform.python_version(),
        "executable": sys.executable,
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,  # None for the CPU build
        "cuda_available": cuda,
        "gpus": gpus,
        "bf16": bool(cuda and torch.cuda.is_bf16_supported()),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "user_cache": str(paths.user_cache()),
        "results": str(paths.RESULTS),
        "figures": str(paths.FIGURES),
    }
    if inpath:
        from pathlib import Path

        root = Path(inpath)
        info["dataset_cache"] = str((root.parent if root.is_file() else root) / "_cache")
    return info


def format_environment(info: dict) -> str:
    """The dictionary as the lines ``legibility env`` prints."""
    build = f"CUDA {info['torch_cuda']} build" if info["torch_cuda"] else "CPU build"
    lines = [
        f"legibility {info['legibility']}  python {info['python']} ({info['executable']})",
        f"torch      {info['torch']} ({build}); CUDA available: {'yes' if info['cuda_available'] else 'no'}",
    ]
    for g in info["gpus"]:
        lines.append(f"gpu {g['index']}      {g['name']}, {g['memory_gib']} GiB, compute capability {g['capability']}")
    if info["cuda_available"]:
        lines.append(f"bf16       {'supported: training uses bf16 autocast' if info['bf16'] else 'not supported'}")
    else:
        lines.append("gpu        none seen: runs use the CPU (--device cpu)")
        if not info["torch_cuda"]:
            lines.append(f"           for GPUs install {CUDA_HINT}")
    lines += [
        f"cpu        {info['cpu_count']} cores; torch uses {info['torch_threads']} threads",
        f"caches     ground-truth ceilings and downloads: {info['user_cache']} ($LEGIBILITY_CACHE)",
        "           decoded volumes: <dataset>/_cache/ beside the data"
        + (f" (here {info['dataset_cache']})" if info.get("dataset_cache") else ""),
        f"results    {info['results']}; figures {info['figures']}",
    ]
    return "\n".join(lines)
