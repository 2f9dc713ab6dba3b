"""Every saved artifact kind (recommender, credit model, demand model, generator) refuses
a truncated, edited or missing file, an unreadable params.json, a folder from another
genlift major version and a newer format, with an error that names the folder, the file
and the fix; and the CLI turns that into exit code 2 with no traceback."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from augment.copula import GaussianCopula
from augment.registry import load_generator
from engine.credit import CreditModel
from engine.demand import DemandModel
from engine.recommenders import ALSRecommender, Recommender
from features.artifacts import ArtifactError
from features.matrix import build_user_items
from features.version import __version__


def _applicants(n: int = 160, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    income = rng.normal(50, 10, n)
    duration = rng.integers(6, 60, n)
    purpose = rng.choice(["car", "tv", "education"], n)
    z = -0.08 * (income - 50) + 0.04 * (duration - 30) + rng.normal(0, 1, n)
    return pd.DataFrame({"applicant_id": np.arange(n), "income": income,
                         "duration": duration, "purpose": purpose,
                         "default": (z > 0.8).astype(int)})


def _sales(weeks: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    dates = pd.date_range("2020-01-06", periods=weeks, freq="7D")
    rows = [{"store_id": s, "item_id": i, "date": d, "units": float(rng.poisson(20 + 5 * s)),
             "price": 2.0 + 0.1 * i, "promo": 0.0, "feat": 0.0}
            for s in range(2) for i in range(2) for d in dates]
    return pd.DataFrame(rows)


def _save_recs(path: Path) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"user_id": rng.integers(0, 30, 400), "item_id": rng.integers(0, 20, 400)})
    model = ALSRecommender(factors=4, iterations=2, random_state=0)
    model.fit(build_user_items(frame.drop_duplicates(), weight="count"))
    return model.save(path)


def _save_credit(path: Path) -> Path:
    return CreditModel(random_state=0, n_estimators=20).fit(_applicants()).save(path)


def _save_demand(path: Path) -> Path:
    return DemandModel(horizon=1, n_estimators=10, quantiles=(0.5,), lags=(1, 2),
                       windows=(2,), random_state=0).fit(_sales()).save(path)


def _save_generator(path: Path) -> Path:
    return GaussianCopula().fit(_applicants().drop(columns="applicant_id")).save(path)


SAVERS: dict[str, tuple[Callable[[Path], Path], Callable[[Path], object], str]] = {
    "recs": (_save_recs, Recommender.load, "arrays.npz"),
    "credit": (_save_credit, CreditModel.load, "model_0.txt"),
    "demand": (_save_demand, DemandModel.load, "h1_point.txt"),
    "generator": (_save_generator, load_generator, "arrays.npz"),
}


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("artifacts")
    return {kind: save(root / kind) for kind, (save, _, _) in SAVERS.items()}


@pytest.fixture(params=sorted(SAVERS))
def artifact(request: pytest.FixtureRequest, saved: dict[str, Path], tmp_path: Path
             ) -> tuple[str, Path]:
    """A private copy of one saved artifact, free to break."""
    copy = tmp_path / request.param
    shutil.copytree(saved[request.param], copy)
    return request.param, copy


def _load(kind: str, path: Path) -> object:
    return SAVERS[kind][1](path)


def test_a_saved_artifact_loads(artifact: tuple[str, Path]) -> None:
    kind, path = artifact
    assert _load(kind, path) is not None


def test_truncated_file_is_refused(artifact: tuple[str, Path]) -> None:
    kind, path = artifact
    target = path / SAVERS[kind][2]
    assert target.is_file(), sorted(p.name for p in path.iterdir())
    target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    with pytest.raises(ArtifactError, match=rf"{SAVERS[kind][2]} sha256 is .*truncated or "
                                            r"changed.*Fix: .* again"):
        _load(kind, path)


def test_flipped_byte_is_refused(artifact: tuple[str, Path]) -> None:
    kind, path = artifact
    target = path / SAVERS[kind][2]
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="sha256"):
        _load(kind, path)


def test_missing_file_is_refused(artifact: tuple[str, Path]) -> None:
    kind, path = artifact
    (path / SAVERS[kind][2]).unlink()
    with pytest.raises(ArtifactError, match=f"{SAVERS[kind][2]} is missing"):
        _load(kind, path)


@pytest.mark.parametrize("content", ["", "{not json", "[1, 2]", "\xff\xfe garbage"])
def test_unreadable_params_is_refused(artifact: tuple[str, Path], content: str) -> None:
    kind, path = artifact
    (path / "params.json").write_text(content, encoding="latin-1")
    with pytest.raises(ArtifactError, match="params.json is unreadable"):
        _load(kind, path)


def test_missing_params_is_refused(artifact: tuple[str, Path]) -> None:
    kind, path = artifact
    (path / "params.json").unlink()
    with pytest.raises(ArtifactError, match="no params.json"):
        _load(kind, path)


def _edit_params(path: Path, **changes: object) -> None:
    params = json.loads((path / "params.json").read_text())
    params.update(changes)
    (path / "params.json").write_text(json.dumps(params))


def test_other_major_version_is_refused(artifact: tuple[str, Path]) -> None:
    kind, path = artifact
    major = int(__version__.split(".")[0])
    _edit_params(path, genlift_version=f"{major + 1}.0.0")
    with pytest.raises(ArtifactError, match=rf"written by genlift {major + 1}\.0\.0 .*this is "
                                            rf"genlift {__version__}.*genlift {major + 1}\.x"):
        _load(kind, path)
    _edit_params(path, genlift_version=None)
    with pytest.raises(ArtifactError, match="written by genlift None"):
        _load(kind, path)


def test_same_major_other_minor_loads(artifact: tuple[str, Path]) -> None:
    kind, path = artifact
    major = __version__.split(".")[0]
    _edit_params(path, genlift_version=f"{major}.999.3")
    assert _load(kind, path) is not None


def test_newer_format_is_refused(artifact: tuple[str, Path]) -> None:
    kind, path = artifact
    _edit_params(path, format_version=99)
    with pytest.raises(ArtifactError, match="format 99"):
        _load(kind, path)


def test_cli_reports_a_corrupted_model_with_exit_2(saved: dict[str, Path], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from serving.cli.main import main

    folder = tmp_path / "recs"
    shutil.copytree(saved["recs"], folder / "model")
    (folder / "train.json").write_text(json.dumps({"run_id": "r1"}))
    arrays = folder / "model" / "arrays.npz"
    arrays.write_bytes(arrays.read_bytes()[:100])
    code = main(["--db", str(tmp_path / "s.duckdb"), "score", "recommend", "--model",
                 str(folder), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert "arrays.npz sha256" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").glob("part-*"))


# -- one artifact base: refuse foreign folders, atomic replace, old folders load ----------
FIXTURES = Path(__file__).parents[1] / "fixtures" / "artifacts_0_1"


@pytest.mark.parametrize("kind", sorted(SAVERS))
def test_save_refuses_a_folder_with_a_users_files(kind: str, tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("my notes")
    with pytest.raises(ArtifactError, match=rf"{folder} exists and holds files that are not "
                                            r"a genlift .*notes\.txt.*refusing to overwrite"):
        SAVERS[kind][0](folder)
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
    assert (folder / "notes.txt").read_text() == "my notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no temporary left


@pytest.mark.parametrize("kind", sorted(SAVERS))
def test_save_refuses_a_file_and_another_kinds_artifact(kind: str, tmp_path: Path,
                                                        saved: dict[str, Path]) -> None:
    file = tmp_path / "model"
    file.write_text("x")
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        SAVERS[kind][0](file)
    assert file.read_text() == "x"
    other = "credit" if kind != "credit" else "demand"
    folder = tmp_path / "other"
    shutil.copytree(saved[other], folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(ArtifactError, match="holds a saved .*refusing to overwrite"):
        SAVERS[kind][0](folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


@pytest.mark.parametrize("kind", sorted(SAVERS))
def test_save_replaces_an_earlier_artifact_and_an_empty_folder(kind: str, tmp_path: Path
                                                              ) -> None:
    (tmp_path / "empty").mkdir()
    SAVERS[kind][0](tmp_path / "empty")
    SAVERS[kind][0](tmp_path / "empty")  # over its own earlier save
    assert _load(kind, tmp_path / "empty") is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def test_a_failed_save_keeps_the_earlier_artifact(saved: dict[str, Path], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "gen"
    shutil.copytree(saved["generator"], folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def boom(self: object, folder: Path) -> dict[str, object]:
        (folder / "arrays.npz").write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(GaussianCopula, "_save_state", boom)
    with pytest.raises(OSError, match="disk full"):
        _save_generator(folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gen"]


def test_every_kind_writes_one_set_of_keys(saved: dict[str, Path]) -> None:
    keys = {kind: set(json.loads((path / "params.json").read_text()))
            for kind, path in saved.items()}
    assert all(k == keys["generator"] for k in keys.values()), keys
    assert keys["generator"] == {"format_version", "genlift_version", "kind", "class", "config",
                                 "seed", "data_fingerprint", "sha256", "state"}
    for kind, path in saved.items():
        params = json.loads((path / "params.json").read_text())
        files = {p.name for p in path.iterdir()} - {"params.json"}
        assert set(params["sha256"]) == files, kind


def test_artifacts_saved_by_genlift_0_1_still_load_and_answer_the_same() -> None:
    from augment.base import Generator

    expected = json.loads((FIXTURES / "expected.json").read_text())
    recs = Recommender.load(FIXTURES / "recs")
    items, scores = recs.recommend(expected["recs"]["users"], n=3)
    assert items.astype(str).tolist() == expected["recs"]["items"]
    np.testing.assert_allclose(scores, expected["recs"]["scores"], atol=1e-5)
    credit = CreditModel.load(FIXTURES / "credit")
    np.testing.assert_allclose(credit.predict_proba(_applicants(10, seed=5)),
                               expected["credit"]["pd"], atol=1e-6)
    assert DemandModel.load(FIXTURES / "demand").boosters_
    for name in ("generator", "generator_vae"):
        gen = load_generator(FIXTURES / name)
        assert isinstance(gen, Generator)
        sample = gen.sample(3, random_state=0).drop(columns="is_synthetic")
        assert sample.astype(str).values.tolist() == expected[name]


def test_cli_refuses_a_generator_folder_holding_other_files(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]
                                                            ) -> None:
    from features.store import Store
    from serving.cli.main import main

    db = str(tmp_path / "s.duckdb")
    with Store(db) as store:
        store.load({"applicants": _applicants()}, source="test")
    out = tmp_path / "out"
    (out / "generator").mkdir(parents=True)
    (out / "generator" / "keep.csv").write_text("a,b\n1,2\n")
    code = main(["--db", db, "augment", "fit", "tabular", "--generator", "copula",
                 "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "refusing to overwrite" in err and str(out / "generator") in err
    assert "Traceback" not in err
    assert (out / "generator" / "keep.csv").read_text() == "a,b\n1,2\n"
    assert sorted(p.name for p in (out / "generator").iterdir()) == ["keep.csv"]
