"""Loading a models folder for the API: ``recs/``, ``credit/`` and ``demand/``, each the
``--out`` folder of a ``genlift train`` command, loaded once and read-only."""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.credit import load_credit_model
from engine.demand import DemandModel
from engine.recommenders.index_store import find_saved_index
from features.errors import DataValidationError
from serving.jobs.model_folders import check_model_folder
from serving.jobs.scoring import load_model, recommend_block

logger = logging.getLogger(__name__)

KINDS = ("recs", "credit", "demand")
TRAIN_COMMAND = {"recs": "genlift train recs", "credit": "genlift train credit",
                 "demand": "genlift train demand"}


@dataclass
class LoadedModel:
    """One model of ``DIR``, loaded read-only, with the lock every call takes."""

    kind: str
    folder: Path
    model: Any
    meta: dict[str, Any]
    details: dict[str, Any]
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: recs: the FAISS indexes a scoring run saved beside the model (None: exact search)
    index: Any = None
    similar_index: Any = None

    @property
    def run_id(self) -> str:
        return str(self.meta.get("run_id") or "unknown")


@dataclass
class ModelSet:
    """The models found in a models folder (``None`` where a sub-folder is absent)."""

    root: Path
    recs: LoadedModel | None = None
    credit: LoadedModel | None = None
    demand: LoadedModel | None = None

    def loaded(self) -> list[LoadedModel]:
        return [m for m in (self.recs, self.credit, self.demand) if m is not None]

    def missing(self) -> list[str]:
        return [k for k in KINDS if getattr(self, k) is None]


def _train_meta(kind: str, folder: Path) -> dict[str, Any]:
    path = folder / "train.json"
    if not path.is_file():
        raise DataValidationError(
            f"{folder} is not a `{TRAIN_COMMAND[kind]}` folder (no train.json)",
            fix=f"pass a models folder whose {kind}/ is the --out folder of "
                f"`{TRAIN_COMMAND[kind]}`")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataValidationError(f"{path} is unreadable ({exc})",
                                  fix=f"train the {kind} model again") from exc
    if not isinstance(meta, dict):
        raise DataValidationError(f"{path} does not hold a JSON object",
                                  fix=f"train the {kind} model again")
    return meta


def _load_one(kind: str, folder: Path) -> LoadedModel:
    check_model_folder(folder, kind, f"the models folder's {kind}/")
    if kind == "recs":
        rec, meta = load_model(folder, "serve")
        if len(rec.user_ids_) and len(rec.item_ids_):
            recommend_block(rec, rec.user_ids_[:1], 1)  # warm-up: torch import, first GEMM
        index, index_info = find_saved_index(folder, rec)
        similar_index, similar_info = find_saved_index(folder, rec, "similar")
        details = {"model_class": type(rec).__name__, "users": int(len(rec.user_ids_)),
                   "items": int(len(rec.item_ids_)), "index": index_info,
                   "similar_index": similar_info}
        return LoadedModel(kind, folder, rec, meta, details, index=index,
                           similar_index=similar_index)
    meta = _train_meta(kind, folder)
    if kind == "credit":
        credit = load_credit_model(folder / "model")  # the champion: LightGBM or scorecard
        details = {"model_class": type(credit).__name__,
                   "features": len(credit.features_.feature_names_),
                   "calibration": str(credit.calibration_)}
        return LoadedModel(kind, folder, credit, meta, details)
    demand = DemandModel.load(folder / "model")
    details = {"model_class": "DemandModel", "horizon": int(demand.horizon),
               "quantiles": [float(q) for q in sorted(demand.quantiles)],
               "exog": list(demand.exog)}
    return LoadedModel(kind, folder, demand, meta, details)


def load_models(models_dir: str | os.PathLike[str]) -> ModelSet:
    """Load every model of ``models_dir`` (``recs/``, ``credit/``, ``demand/``).

    Raises
    ------
    FileNotFoundError
        ``models_dir`` is not a folder.
    DataValidationError
        It holds none of the three sub-folders, or one that is present cannot be
        loaded (the message names it and the cause).
    """
    root = Path(models_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"the models folder {root} does not exist or is not a folder")
    present = [k for k in KINDS if (root / k).exists()]
    if not present:
        raise DataValidationError(
            f"{root} holds no model: expected at least one of "
            + ", ".join(f"{k}/" for k in KINDS),
            fix="train one with e.g. `genlift train recs --out DIR/recs` and serve DIR")
    models = ModelSet(root)
    for kind in present:
        folder = root / kind
        try:
            setattr(models, kind, _load_one(kind, folder))
        except Exception as exc:  # start-up: one clear message, whatever broke
            raise DataValidationError(
                f"cannot load the {kind} model in {folder}: {exc}",
                fix=f"train it again with `{TRAIN_COMMAND[kind]} --out {folder}`, or "
                    "remove the folder to serve the other models") from exc
        logger.info("serving %s model %s from %s", kind, models.loaded()[-1].run_id, folder)
    return models



__all__ = ["KINDS", "TRAIN_COMMAND", "LoadedModel", "ModelSet", "load_models"]
