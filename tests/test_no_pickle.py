"""No pickled code in artifacts: the product source never reads or writes pickles.

docs/architecture.md ("Artifacts"): arrays are ``.npz`` read with ``allow_pickle=False``,
torch state dicts are read with ``weights_only=True``, LightGBM models are text. This test
parses every module of features/, augment/, engine/ and serving/ with ``ast`` (so comments,
docstrings and strings do not count) and reports each offender as ``file:line: what``:

- an import of pickle, cPickle, _pickle, cloudpickle, dill, joblib, shelve or marshal;
- ``torch.load(...)`` without ``weights_only=True``;
- ``np.load(...)`` / ``numpy.load(...)`` without ``allow_pickle=False``;
- ``pd.read_pickle(...)`` or any ``.to_pickle(...)`` call.

Names are resolved through the module's imports, so ``import torch as th; th.load(f)`` and
``from numpy import load; load(f)`` are caught too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("features", "augment", "engine", "serving")
PICKLE_MODULES = {"pickle", "cPickle", "_pickle", "cloudpickle", "dill", "joblib", "shelve",
                  "marshal"}
# call -> (keyword, the constant it must be given)
REQUIRED_KEYWORDS = {"torch.load": ("weights_only", True),
                     "numpy.load": ("allow_pickle", False)}
FORBIDDEN_CALLS = {"pandas.read_pickle", "torch.serialization.load"}


def _aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> the dotted name it stands for (``np`` -> ``numpy``)."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:  # `import a.b` binds `a`
                    top = alias.name.split(".")[0]
                    names[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _dotted(node: ast.expr, aliases: dict[str, str]) -> str | None:
    """``th.load`` -> ``torch.load`` for a call target built from names and attributes."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(aliases.get(node.id, node.id))
    return ".".join(reversed(parts))


def _has_keyword(call: ast.Call, name: str, value: bool) -> bool:
    return any(kw.arg == name and isinstance(kw.value, ast.Constant) and kw.value.value is value
               for kw in call.keywords)


def offenders(source: str, filename: str = "<source>") -> list[str]:
    """``filename:line: what`` for every pickle use in ``source``."""
    tree = ast.parse(source, filename=filename)
    aliases = _aliases(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, f"imports {a.name}") for a in node.names
                      if a.name.split(".")[0] in PICKLE_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if node.module.split(".")[0] in PICKLE_MODULES:
                found.append((node.lineno, f"imports from {node.module}"))
        elif isinstance(node, ast.Call):
            target = _dotted(node.func, aliases)
            if isinstance(node.func, ast.Attribute) and node.func.attr == "to_pickle":
                found.append((node.lineno, "calls .to_pickle"))
            elif target in FORBIDDEN_CALLS:
                found.append((node.lineno, f"calls {target}"))
            elif target in REQUIRED_KEYWORDS:
                keyword, value = REQUIRED_KEYWORDS[target]
                if not _has_keyword(node, keyword, value):
                    found.append((node.lineno, f"calls {target} without {keyword}={value}"))
    return [f"{filename}:{line}: {what}" for line, what in sorted(found)]


def product_files() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def test_the_product_source_has_no_pickle() -> None:
    files = product_files()
    assert len(files) > 20  # the scan found the packages
    found = [line for path in files
             for line in offenders(path.read_text(encoding="utf-8"),
                                   str(path.relative_to(ROOT)))]
    assert not found, "pickle in the product source:\n" + "\n".join(found)


# -- the scanner itself ----------------------------------------------------------------------
@pytest.mark.parametrize(("source", "expected"), [
    ("import pickle", "imports pickle"),
    ("import joblib as jl", "imports joblib"),
    ("import dill.settings", "imports dill.settings"),
    ("from shelve import open", "imports from shelve"),
    ("from cloudpickle import dumps", "imports from cloudpickle"),
    ("import marshal", "imports marshal"),
    ("import torch\ntorch.load('w.pt')", "calls torch.load without weights_only=True"),
    ("import torch as th\nth.load('w.pt', weights_only=False)",
     "calls torch.load without weights_only=True"),
    ("from torch import load\nload('w.pt')", "calls torch.load without weights_only=True"),
    ("import numpy as np\nnp.load('a.npz')", "calls numpy.load without allow_pickle=False"),
    ("import numpy\nnumpy.load('a.npy', allow_pickle=True)",
     "calls numpy.load without allow_pickle=False"),
    ("import pandas as pd\npd.read_pickle('f.pkl')", "calls pandas.read_pickle"),
    ("frame.to_pickle('f.pkl')", "calls .to_pickle"),
])
def test_the_scanner_finds(source: str, expected: str) -> None:
    assert offenders(source, "m.py") == [f"m.py:{source.count(chr(10)) + 1}: {expected}"]


@pytest.mark.parametrize("source", [
    "import torch\ntorch.load('w.pt', map_location='cpu', weights_only=True)",
    "import numpy as np\nwith np.load('a.npz', allow_pickle=False) as z: pass",
    "import lightgbm\nlightgbm.Booster(model_file='model.txt')",
    "# import pickle\n'''torch.load(f)'''\nx = 'np.load(f)'",
    "from .pickle_free import load\nload('x')",  # a relative module named like one
    "store.load({'users': frame}, source='x')",
])
def test_the_scanner_passes(source: str) -> None:
    assert offenders(source) == []
