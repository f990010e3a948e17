"""Device selection shared by training and inference."""

from __future__ import annotations

import torch

from pairless.errors import PairlessError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise PairlessError(f"--device {name!r} is not a device (use auto, cpu, cuda, cuda:1, mps)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise PairlessError(f"--device {name}: CUDA is not available on this machine")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise PairlessError(f"--device {name}: MPS is not available on this machine")
    return device


def set_cuda_speed_options(device: torch.device, tf32: bool, cudnn_benchmark: bool) -> None:
    """TF32 arithmetic and cuDNN autotuning on `device` if it is a CUDA device, set both ways (these are
    process-wide settings, so a run with them off must clear what an earlier one set)."""
    if device.type != "cuda":
        return
    torch.set_float32_matmul_precision("high" if tf32 else "highest")
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = cudnn_benchmark


def available_memory(device: torch.device) -> int | None:
    """Bytes that can still be allocated on `device`: free CUDA memory plus what torch's caching allocator
    holds unused, or the system's available memory (Linux's MemAvailable) for the CPU; None where unknown."""
    if device.type == "cuda":
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return torch.cuda.mem_get_info(device)[0] + cached
    if device.type != "cpu":
        return None
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None
