"""Device choice, mixed precision, random state and seeded weight initialisation for every
torch-facing class."""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from features.errors import check_param

logger = logging.getLogger(__name__)

RandomState = int | np.random.Generator | None
_logged: set[str] = set()


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when present, else CPU; the choice is logged once per process."""
    if isinstance(device, torch.device):
        return device
    check_param("resolve_device", "device", device,
                isinstance(device, str) and (device in ("auto", "cpu") or
                                             device.startswith("cuda")),
                "'auto', 'cpu' or 'cuda[:N]'")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was requested but CUDA is not available here; "
                         "use device='auto' or 'cpu'")
    if device not in _logged:
        _logged.add(device)
        name = torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") \
            else "CPU"
        logger.info("genlift generators run on %s (%s)", device, name)
    return torch.device(device)


@contextlib.contextmanager
def autocast(device: torch.device, enabled: bool = True) -> Iterator[None]:
    """Mixed precision on CUDA (bf16 where supported, else fp16); a no-op on CPU, where
    float32 is both faster and reproducible."""
    if enabled and device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        with torch.autocast(device_type="cuda", dtype=dtype):
            yield
    else:
        yield


def grad_scaler(device: torch.device) -> torch.amp.GradScaler:
    """The loss scaler of :func:`autocast`: active only where it runs in fp16 (CUDA
    without bf16)."""
    use_fp16 = device.type == "cuda" and not torch.cuda.is_bf16_supported()
    return torch.amp.GradScaler(device.type, enabled=use_fp16)


def scaled_step(loss: torch.Tensor, opt: torch.optim.Optimizer,
                scaler: torch.amp.GradScaler, module: nn.Module,
                max_norm: float = 5.0) -> None:
    """One optimiser step on ``loss``: scaled backward, gradient norms of ``module``
    clipped to ``max_norm``, then the step."""
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(opt)
    nn.utils.clip_grad_norm_(module.parameters(), max_norm)
    scaler.step(opt)
    scaler.update()


def cpu_threads() -> int:
    """Torch threads for CPU work: ``$GENLIFT_TORCH_THREADS``, default 1.

    genlift's networks are small; on a machine whose cores are busy with other work, two
    torch threads contending for them were measured up to 200x slower per step than one.
    Set the variable to use more threads for large models on an idle machine.
    """
    raw = os.environ.get("GENLIFT_TORCH_THREADS", "1")
    try:
        return max(1, int(raw))
    except ValueError:
        raise ValueError(f"GENLIFT_TORCH_THREADS must be a positive int, got {raw!r}") from None


@contextlib.contextmanager
def torch_threads(device: torch.device | None = None) -> Iterator[None]:
    """Run a block with :func:`cpu_threads` torch threads, restoring the caller's setting."""
    if device is not None and device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(cpu_threads())
    try:
        yield
    finally:
        torch.set_num_threads(before)


def make_rngs(random_state: RandomState, device: torch.device | None = None
              ) -> tuple[np.random.Generator, torch.Generator]:
    """A numpy Generator and a torch Generator from one ``random_state``.

    The torch generator lives on ``device`` (CPU by default) and is seeded from the numpy
    one, so one integer fixes both. Global random state is never touched.
    """
    if isinstance(random_state, np.random.Generator):
        rng = random_state
    elif random_state is None or isinstance(random_state, int | np.integer):
        rng = np.random.default_rng(random_state)
    else:
        raise ValueError("The 'random_state' parameter must be an int, a "
                         f"numpy.random.Generator or None. Got {random_state!r} instead.")
    gen = torch.Generator(device=device or "cpu")
    gen.manual_seed(int(rng.integers(0, 2**63 - 1)))
    return rng, gen


@contextlib.contextmanager
def torch_seeded(seed: int | None) -> Iterator[None]:
    """Build networks inside a fork of torch's CPU generator, so that the caller's global
    random state is the same afterwards (networks are built on the CPU, then moved).

    ``seed`` seeds the fork: torch's default initialisation then comes from it. With
    None the fork is left as it is, for networks whose weights are all drawn again from
    an explicit generator (or loaded) right after they are built.
    """
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.default_generator.manual_seed(seed)
        yield


def init_weights(module: nn.Module, gen: torch.Generator) -> None:
    """PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)) initialisation of every
    Linear, Conv1d and GRU in ``module``, drawn from ``gen`` instead of the global
    generator (same seed -> same network)."""
    with torch.no_grad():
        for sub in module.modules():
            if isinstance(sub, nn.Linear | nn.Conv1d):
                fan_in = sub.weight[0].numel()
                params = [sub.weight] + ([sub.bias] if sub.bias is not None else [])
            elif isinstance(sub, nn.GRU):
                fan_in = sub.hidden_size
                params = list(sub.parameters())
            else:
                continue
            bound = 1.0 / math.sqrt(fan_in)
            for p in params:
                p.copy_(torch.rand(p.shape, generator=gen, device=gen.device) * 2 * bound
                        - bound)
