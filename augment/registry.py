"""Generators by kind and name, as the CLI and the lift experiment ask for them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from augment.base import Generator
from augment.baskets import BasketGenerator
from augment.copula import GaussianCopula
from augment.paths import BlockBootstrap, GarchT, PricePathGenerator
from augment.sales import SalesWindowGenerator
from augment.tabular import AutoTabular, TabularDiffusion, TabularGAN, TabularVAE
from features.errors import DataValidationError

GENERATORS: dict[str, dict[str, tuple[type[Generator], dict[str, Any]]]] = {
    "tabular": {"copula": (GaussianCopula, {}), "vae": (TabularVAE, {}),
                "gan": (TabularGAN, {}), "diffusion": (TabularDiffusion, {}),
                "auto": (AutoTabular, {})},
    "baskets": {"vae": (BasketGenerator, {"model": "vae"}),
                "gan": (BasketGenerator, {"model": "gan"})},
    "paths": {"gan": (PricePathGenerator, {"model": "gan"}),
              "vae": (PricePathGenerator, {"model": "vae"}),
              "bootstrap": (BlockBootstrap, {}), "garch": (GarchT, {})},
    "sales": {"ar": (SalesWindowGenerator, {"model": "ar"}),
              "vae": (SalesWindowGenerator, {"model": "vae"})},
}


def make_generator(kind: str, name: str, **params: Any) -> Generator:
    """A new generator; ``params`` that the class does not take are ignored (``epochs`` for
    the copula), so one set of CLI flags serves every generator."""
    if kind not in GENERATORS:
        raise DataValidationError(f"unknown generator kind {kind!r}",
                                  fix=f"use one of {', '.join(GENERATORS)}")
    if name not in GENERATORS[kind]:
        raise DataValidationError(f"unknown {kind} generator {name!r}",
                                  fix=f"use one of {', '.join(GENERATORS[kind])}")
    klass, fixed = GENERATORS[kind][name]
    accepted = set(klass.__init__.__code__.co_varnames)
    kwargs = {k: v for k, v in params.items() if k in accepted and v is not None}
    return klass(**fixed, **kwargs)


def load_generator(path: str | Path, *, device: str = "auto") -> Generator:
    """Load any generator artifact (the class is read from its params.json)."""
    return Generator.load(path, device=device)
