"""The HTML reports `make demo` writes open in a real browser (headless Chromium): every
image loads, nothing is wider than a 1280 px window, and the console stays silent. The
reports are built here at tiny size through the same report functions; each page's
screenshot is kept under ``test-artifacts/screenshots/`` (git-ignored) for CI to keep.

Without Chromium the test skips and says why; `.ci/run` installs it (Debian's
``chromium``), so CI always runs it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.store import Store
from serving.jobs.backtest import BacktestConfig
from serving.jobs.backtest import run as run_backtest
from serving.reports.generator import tabular_plots, write_generator_report
from serving.reports.lift import write_index, write_task_report

LiftResult = Callable[..., dict[str, Any]]
WIDTH = 1280
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
BROWSER = next((b for b in ("chromium", "chromium-browser", "google-chrome")
                if shutil.which(b)), None)
pytestmark = pytest.mark.skipif(
    BROWSER is None, reason="no Chromium on this machine: `apt-get install -y chromium` "
    "(.ci/run does) to render the HTML reports in a browser")

# One page that opens every report in a 1280 px iframe and, once each has loaded, writes
# what the browser measured as JSON: one browser start for all the reports.
HARNESS = """<!doctype html><html><body><script>
const pages = %s; const out = {}; let left = pages.length;
for (const [name, url] of pages) {
  const f = document.createElement("iframe");
  f.style.width = "%dpx"; f.style.height = "900px"; f.src = url;
  f.onload = () => {
    const d = f.contentDocument;
    out[name] = {scrollWidth: d.documentElement.scrollWidth,
                 images: [...d.images].map(i => [i.complete, i.naturalWidth,
                                                 i.src.slice(0, 30)])};
    if (--left === 0) {
      const p = document.createElement("pre"); p.id = "genlift-probe";
      p.textContent = JSON.stringify(out); document.body.appendChild(p);
    }
  };
  document.body.appendChild(f);
}
</script></body></html>"""


def _command(*args: str) -> list[str]:
    assert BROWSER is not None
    return [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--allow-file-access-from-files", "--enable-logging=stderr", "--v=0", *args]


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory, lift_result: LiftResult,
            price_table: Callable[[int], pd.DataFrame]) -> dict[str, Path]:
    """One page of each report kind the demo writes, at tiny size."""
    out = tmp_path_factory.mktemp("reports")
    result = lift_result({("copula-both", "all", "auc"): "helps"})
    pages = {"lift-task": write_task_report(result, out / "credit.html"),
             "lift-index": write_index([result], out)}
    with Store(str(out / "s.duckdb")) as store:
        store.load({"prices": price_table(360)}, source="test")
        bt = run_backtest(store, BacktestConfig(paths=8, horizon=63, strategies=(
            "buy_and_hold", "equal_weight", "inverse_vol:window=42")), out / "backtest.html")
    pages["backtest"] = Path(bt["report"])
    rng = np.random.default_rng(0)
    real = pd.DataFrame({"age": rng.integers(20, 70, 80), "amount": rng.gamma(2, 500, 80),
                         "housing": rng.choice(["own", "rent"], 80)})
    synth = real.sample(frac=1.0, random_state=1).reset_index(drop=True)
    plots = tabular_plots(real, synth, list(real.columns), {c: 0.9 for c in real.columns})
    pages["generator"] = write_generator_report(
        out / "generator.html", title="genlift generator report: tabular / copula",
        scorecard={"quality": 0.9, "detection_auc": 0.55, "membership_auc": 0.51},
        plots=plots, history=[{"epoch": 1, "loss": 1.0}, {"epoch": 2, "loss": 0.5}],
        config={"generator": "copula"}, run_id="test")
    # The customer stage: genlift clv's report and genlift segment's, on a simulated log.
    from engine.customers.clv import ClvConfig, fit_clv
    from serving.jobs.segments import segment
    from serving.reports.clv import write_clv_report
    tx = _purchases()
    pages["clv"] = write_clv_report(fit_clv(tx, ClvConfig(calibration_end="2024-06-30")),
                                    out / "clv.html", table_name="transactions")
    with Store(str(out / "c.duckdb")) as store:
        store.load({"transactions": tx}, source="test")
        seg = segment(store, "transactions", out / "segments", k=3, show_progress=False)
    pages["segments"] = Path(seg["report"])
    pages["inventory"] = _inventory_plan(out / "plan.html")
    return pages


def _inventory_plan(path: Path) -> Path:
    """`genlift plan inventory`'s report for 8 series (fan charts, safety stock, status)."""
    from engine.inventory import plan
    from serving.reports.inventory import write_plan_report
    rng = np.random.default_rng(0)
    series = pd.DataFrame({"store_id": ["s1"] * 4 + ["s2"] * 4,
                           "item_id": [f"i{k}" for k in range(4)] * 2})
    level = rng.uniform(2, 50, 8)
    paths = rng.poisson(level[:, None, None], size=(8, 300, 6)).astype(float)
    history = pd.DataFrame([{"store_id": s, "item_id": i, "date": d,
                             "units": float(rng.poisson(lv))}
                            for (s, i), lv in zip(series.itertuples(index=False), level,
                                                  strict=True)
                            for d in pd.date_range("2024-01-07", periods=20, freq="W")])
    p = plan(series, paths, lead_time=3, service_level={"A": 0.98, "B": 0.95, "C": 0.9},
             on_hand=np.array([0, 5, 400, 60, 30, 0, 1000, 80], dtype=float))
    return Path(write_plan_report(p, paths, history, None, path, title="Plan")["html"])


def _purchases(n: int = 150) -> pd.DataFrame:
    """A purchase log: each customer buys at a rate of their own until they drop out."""
    rng = np.random.default_rng(3)
    rows = []
    for u in range(n):  # BG/NBD's story: gamma-distributed rates, beta-distributed dropout
        day, rate, drop = 0.0, rng.gamma(1.0, 1 / 20), rng.beta(1.0, 3.0)
        while day < 365:
            rows.append((u, day, int(rng.integers(1, 4)), float(rng.gamma(2, 15))))
            if rng.random() < drop:
                break
            day += rng.exponential(1 / rate)
    frame = pd.DataFrame(rows, columns=["user_id", "day", "quantity", "amount"])
    frame["user_id"] = frame["user_id"].map(lambda u: f"c{u:03d}")
    frame["ts"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(frame.pop("day").round(),
                                                                "D")
    return frame[["user_id", "ts", "quantity", "amount"]]


@pytest.fixture(scope="module")
def rendered(reports: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
             ) -> dict[str, Any]:
    """Every report measured in one browser, and screenshotted (in parallel)."""
    harness = tmp_path_factory.mktemp("harness") / "harness.html"
    harness.write_text(HARNESS % (json.dumps([[k, p.as_uri()] for k, p in reports.items()]),
                                  WIDTH))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shots = {k: SCREENSHOTS / f"{k}.png" for k in reports}
    for shot in shots.values():
        shot.unlink(missing_ok=True)
    running = [subprocess.Popen(_command(f"--window-size={WIDTH},1600", f"--screenshot={shots[k]}",
                                         p.as_uri()),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for k, p in reports.items()]
    done = subprocess.run(_command(f"--window-size={WIDTH},900", "--virtual-time-budget=10000",
                                   "--dump-dom", harness.as_uri()),
                          capture_output=True, text=True, timeout=120, check=False)
    for proc in running:
        proc.wait(timeout=120)
    found = re.search(r'<pre id="genlift-probe">(.*?)</pre>', done.stdout, re.S)
    assert found, f"the reports did not all load: {done.stderr[-2000:]}"
    measured = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    console = [line for line in done.stderr.splitlines()
               if "CONSOLE" in line or "Uncaught" in line]
    return {"measured": measured, "console": console, "shots": shots}


@pytest.mark.parametrize("kind", ["lift-task", "lift-index", "backtest", "generator", "clv",
                                  "segments", "inventory"])
def test_report_renders_in_chromium(reports: dict[str, Path], rendered: dict[str, Any],
                                    kind: str) -> None:
    page = reports[kind]
    console = [line for line in rendered["console"] if page.name in line]
    assert console == [], f"{kind}: console messages {console}"
    measured = rendered["measured"][kind]
    assert measured["scrollWidth"] <= WIDTH, f"{kind} overflows: {measured['scrollWidth']} px"
    assert measured["scrollWidth"] > WIDTH // 2  # measured in a laid-out 1280 px frame
    broken = [src for complete, width, src in measured["images"] if not complete or width == 0]
    assert broken == [], f"{kind}: images that did not load: {broken}"
    assert len(measured["images"]) >= (0 if kind == "lift-index" else 1)
    shot = rendered["shots"][kind]
    assert shot.is_file(), f"no screenshot of {kind}"
    import matplotlib.image as mpimg

    pixels = mpimg.imread(shot)
    assert pixels.shape[1] == WIDTH and float(pixels[..., :3].std()) > 0.01  # not blank


def test_no_console_message_at_all(rendered: dict[str, Any]) -> None:
    assert rendered["console"] == []
