"""What a model folder holds, and the one check every command that reads one makes.

Each ``genlift train`` command (and ``augment fit``) writes a folder: ``train.json`` beside
the saved model (``model/``; ``train pricing``: ``gbm/`` and ``glm/``), or ``fit.json``
beside ``generator/``. The saved model's ``params.json`` names its kind (a demand or
credit model saved from Python into ``DIR/model`` reads too; recommenders and pricing
models need their train.json). A command given a
folder of another kind says what the folder holds and which command makes the folder it
needs ("M holds a demand model; score recommend needs a recommender from `genlift train
recs`"), before it loads anything or writes anything.
"""

from __future__ import annotations

import json
from pathlib import Path

from features.errors import DataValidationError

#: folder kind -> (what it holds, the command that writes it)
FOLDERS: dict[str, tuple[str, str]] = {
    "recs": ("a recommender", "genlift train recs"),
    "credit": ("a credit model", "genlift train credit"),
    "demand": ("a demand model", "genlift train demand"),
    "pricing": ("pricing models", "genlift train pricing"),
    "generator": ("a fitted generator", "genlift augment fit"),
}
#: a saved artifact's ``kind`` (params.json) -> the folder kind that holds it
_ARTIFACT_KINDS = {"recommender": "recs", "credit": "credit", "demand": "demand",
                   "pricing": "pricing", "generator": "generator"}
#: where each writer saves its artifact inside its folder
_SAVED = ("model", "gbm", "glm", "generator")
#: the kinds whose readers need train.json beside the model (run id, champion, loading)
_NEED_TRAIN_JSON = ("recs", "pricing")
#: the sub-folders of a `genlift serve --models DIR` folder
_SERVE_KINDS = ("recs", "credit", "demand")


def _artifact_kind(folder: Path) -> str | None:
    """The folder kind of a saved artifact folder (its params.json), or None."""
    try:
        params = json.loads((folder / "params.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    kind = params.get("kind") if isinstance(params, dict) else None
    return _ARTIFACT_KINDS.get(str(kind)) if kind else None


def held_kind(folder: str | Path) -> str | None:
    """The kind of folder ``folder`` is (a key of :data:`FOLDERS`), or None when it is
    none of them."""
    folder = Path(folder)
    if (folder / "fit.json").is_file():
        return "generator"
    for sub in _SAVED:
        kind = _artifact_kind(folder / sub)
        if kind is not None:
            return kind
    return None


def check_model_folder(folder: str | Path, needs: str, command: str) -> Path:
    """``folder`` as a Path when it is a folder of kind ``needs``; otherwise a
    :class:`DataValidationError` that says what it is and what ``command`` needs."""
    folder = Path(folder)
    what, writer = FOLDERS[needs]
    fix = f"pass the --out folder of `{writer}`"
    if not folder.is_dir():
        raise DataValidationError(f"{folder} is not a `{writer}` folder ("
                                  + ("it is a file)" if folder.exists() else
                                     "nothing is there)"), fix=f"{fix}, or run `{writer}` first")
    held = held_kind(folder)
    if held == needs and (needs not in _NEED_TRAIN_JSON or (folder / "train.json").is_file()):
        return folder
    if held == needs:
        raise DataValidationError(f"{folder} holds {what} but not its train.json (what "
                                  f"`{writer}` wrote about the run)", fix=fix)
    if held is not None:
        raise DataValidationError(f"{folder} holds {FOLDERS[held][0]}; {command} needs "
                                  f"{what} from `{writer}`", fix=fix)
    inner = _artifact_kind(folder)
    if inner is not None and held_kind(folder.parent) == inner:
        raise DataValidationError(
            f"{folder} is the saved model inside the folder {folder.parent}, which holds "
            f"{FOLDERS[inner][0]}" + ("" if inner == needs else
                                      f"; {command} needs {what} from `{writer}`"),
            fix=f"pass {folder.parent}" if inner == needs else fix)
    if inner is not None:  # a model saved from Python, not by a genlift command
        raise DataValidationError(f"{folder} is a saved model ({FOLDERS[inner][0]}), not "
                                  f"the folder `{writer}` writes around it",
                                  fix=fix if inner != needs else
                                  f"save it as {folder}/model, or {fix}")
    served = [k for k in _SERVE_KINDS if (folder / k).is_dir()]
    if served:
        raise DataValidationError(
            f"{folder} is a models folder of `genlift serve` ({', '.join(served)})",
            fix=f"pass one of its sub-folders, e.g. {folder / served[0]}")
    marker = "fit.json" if needs == "generator" else "train.json"
    raise DataValidationError(f"{folder} is not a `{writer}` folder (no {marker})", fix=fix)
