"""``get_params`` and ``repr`` derived from ``__init__``, for every engine estimator.

An engine estimator's ``__init__`` only stores its keyword arguments under the same
names (scikit-learn's convention), so its parameters are the names in that signature:
no class keeps a hand-written list that can drift from its constructor.
"""

from __future__ import annotations

import inspect
from typing import Any


class Estimator:
    """Mixin: parameters read off the constructor's signature."""

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values()
                if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments, as given."""
        return {name: getattr(self, name) for name in self._param_names()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
