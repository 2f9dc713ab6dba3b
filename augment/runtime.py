"""Device choice, mixed precision and random state for every torch-facing class."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import numpy as np
import torch

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
