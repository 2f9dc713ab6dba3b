"""Shared test set-up: GPU tests are skipped on machines without CUDA."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # The test networks are tiny: one torch thread is faster than two fighting over a
    # 2-core CI machine, and keeps timings steady when other work shares the machine.
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if not gpu_items:
        return
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:  # pragma: no cover - torch is a dependency
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="needs CUDA; none on this machine")
    for item in gpu_items:
        item.add_marker(skip)
