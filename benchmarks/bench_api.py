"""The HTTP API under load on loopback, beside the same engine call made in-process.

Models are trained on the real datasets (ALS with `genlift train recs`' defaults on the
100,000 MovieLens-100k interactions; the default CreditModel on the 1,000 german-credit
applicants) into a temporary models folder. uvicorn serves :func:`serving.api.create_app`
from it in a subprocess (one worker, access log off) on a free loopback port; the load
comes from this process: ``C`` concurrent keep-alive connections (httpx, asyncio), each
sending its next request as soon as the last one is answered, for a fixed time per
scenario. The latency is the client's: JSON encoding, the loopback round trip, FastAPI's
validation and serialisation, and the engine call.

Scenarios and their in-process peers (the same engine function on the same rows, called
back to back with no HTTP and no JSON, in a fresh process set up as the server's is:
the models read back with ``serving.api.load_models``, one BLAS and one torch thread):

- ``GET /recommend/{user}`` (n=10, a random known user) vs
  ``serving.jobs.scoring.recommend_block(model, [user], 10)``;
- ``POST /recommend`` with 100 users vs ``recommend_block`` on those 100 users;
- ``POST /score/credit`` with 1 and with 100 applicants vs ``CreditModel.score`` on the
  same rows (4 SHAP reason codes each);
- ``GET /healthz``: no engine work, the floor of the HTTP stack.

Ratios: ``latency x`` = HTTP p50 at concurrency 1 / in-process p50 (the price of HTTP for
one caller); ``throughput x`` = in-process calls/s / HTTP requests/s at the given
concurrency. On a 2-core machine the server and the load generator share the cores, so
the HTTP figures are a lower bound.

    python -m benchmarks.bench_api [--seconds 4] [--concurrency 1 8] [--seed 0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from benchmarks.common import peak_rss_mb, write_results
from engine.credit import CreditModel
from engine.recommenders.evaluation import make_model
from features.datasets import fetch
from features.matrix import build_user_items
from serving.api import MODELS_ENV, limit_threads, load_models
from serving.jobs.scoring import recommend_block

REPO = Path(__file__).resolve().parent.parent
TOP_N, BATCH = 10, 100


# ------------------------------------------------------------------------ models
def train_models(root: Path, seed: int) -> dict[str, Any]:
    """ALS on MovieLens-100k and the credit model on german-credit, in the layout of
    ``genlift serve --models``."""
    inter = fetch("movielens-100k")["interactions"]
    start = time.perf_counter()
    rec = make_model("als", seed).fit(build_user_items(inter, weight="count"))
    rec_s = time.perf_counter() - start
    rec.save(root / "recs" / "model")
    apps = fetch("german-credit")["applicants"]
    start = time.perf_counter()
    credit = CreditModel(random_state=seed).fit(apps)
    credit_s = time.perf_counter() - start
    credit.save(root / "credit" / "model")
    for kind in ("recs", "credit"):
        (root / kind / "train.json").write_text(json.dumps({"run_id": f"bench-api-{kind}"}))
    return {"rec": rec, "credit": credit, "applicants": apps.drop(columns="default"),
            "fit_seconds": {"als": rec_s, "credit": credit_s},
            "users": int(len(rec.user_ids_)), "items": int(len(rec.item_ids_))}


def make_workload(n_users: np.ndarray, n_apps: int, seed: int) -> dict[str, Any]:
    """The users and applicant rows every scenario cycles through (JSON-friendly)."""
    rng = np.random.default_rng(seed)
    ids = np.asarray(n_users, dtype=object)
    return {"users": rng.choice(ids, 4096).tolist(),
            "batches": [rng.choice(ids, BATCH, replace=False).tolist() for _ in range(64)],
            "one": rng.integers(0, n_apps, 4096).tolist(),
            "rows": [rng.choice(n_apps, BATCH, replace=False).tolist() for _ in range(64)]}


def peer_main(folder: Path, seconds: float) -> dict[str, Any]:
    """The in-process peers, run in a fresh process (``--peer``)."""
    ms = load_models(folder / "models")
    limit_threads()  # after loading, as the server does
    assert ms.recs is not None and ms.credit is not None
    rec, credit = ms.recs.model, ms.credit.model
    w = json.loads((folder / "workload.json").read_text())
    users = np.asarray(w["users"], dtype=object)
    batches = [np.asarray(b, dtype=object) for b in w["batches"]]
    apps = fetch("german-credit")["applicants"].drop(columns="default")
    peers: dict[str, Callable[[int], Any]] = {
        "recommend_1": lambda k: recommend_block(rec, users[k % 4096: k % 4096 + 1], TOP_N),
        "recommend_100": lambda k: recommend_block(rec, batches[k % 64], TOP_N),
        "credit_1": lambda k: credit.score(apps.iloc[[w["one"][k % 4096]]]),
        "credit_100": lambda k: credit.score(apps.iloc[w["rows"][k % 64]]),
    }
    return {name: in_process(fn, seconds) for name, fn in peers.items()}


# ------------------------------------------------------------------------ server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(models: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, MODELS_ENV: str(models), "PYTHONPATH": str(REPO)}
    env.pop("GENLIFT_API_KEY", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "serving.api:create_app_from_env", "--factory",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
         "--no-access-log"], env=env, cwd=REPO, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"the API server exited with status {proc.returncode}: {err}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the API server did not answer /healthz within 120 s")


# -------------------------------------------------------------------------- load
def _stats(lat: list[float], seconds: float) -> dict[str, float]:
    arr = np.asarray(lat) * 1e3
    return {"requests": len(arr), "per_second": len(arr) / seconds,
            "p50_ms": float(np.percentile(arr, 50)), "p99_ms": float(np.percentile(arr, 99)),
            "mean_ms": float(arr.mean())}


async def _load(base: str, make: Callable[[int], tuple[str, str, Any]], concurrency: int,
                seconds: float) -> dict[str, Any]:
    """``concurrency`` closed-loop clients for ``seconds``; ``make(k)`` gives the k-th
    request as (method, path, json body or None)."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        for k in range(2 * concurrency):  # warm the connections and the server
            method, path, body = make(k)
            (await client.request(method, path, json=body)).raise_for_status()
        lat: list[float] = []
        errors = 0
        counter = iter(range(10**9))
        stop = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < stop:
                method, path, body = make(next(counter))
                t0 = time.perf_counter()
                r = await client.request(method, path, json=body)
                lat.append(time.perf_counter() - t0)
                errors += r.status_code != 200

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return {**_stats(lat, elapsed), "errors": errors, "concurrency": concurrency}


def in_process(fn: Callable[[int], Any], seconds: float) -> dict[str, Any]:
    """The engine call back to back for ``seconds`` (after 3 warm-up calls)."""
    for k in range(3):
        fn(k)
    lat: list[float] = []
    start = time.perf_counter()
    k = 0
    while time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        fn(k)
        lat.append(time.perf_counter() - t0)
        k += 1
    return _stats(lat, time.perf_counter() - start)


# -------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=4.0, help="per scenario and level")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--peer", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.peer is not None:  # the child process that times the in-process calls
        print(json.dumps(peer_main(args.peer, args.seconds)))
        return

    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "models"
        m = train_models(root, args.seed)
        rec, apps = m["rec"], m["applicants"]
        w = make_workload(rec.user_ids_, len(apps), args.seed)
        (Path(tmp) / "workload.json").write_text(json.dumps(w))
        users, batches = w["users"], w["batches"]
        records = json.loads(apps.to_json(orient="records"))
        one = [[records[i]] for i in w["one"]]
        hundred = [[records[i] for i in r] for r in w["rows"]]
        peer = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_api", "--peer", tmp, "--seconds",
             str(args.seconds)], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
            check=True, capture_output=True, text=True)
        peers = json.loads(peer.stdout.strip().splitlines()[-1])

        scenarios: list[dict[str, Any]] = [
            {"name": "GET /recommend/{user}", "batch": 1, "peer": "recommend_1",
             "http": lambda k: ("GET", f"/recommend/{users[k % 4096]}?n={TOP_N}", None)},
            {"name": "POST /recommend", "batch": BATCH, "peer": "recommend_100",
             "http": lambda k: ("POST", "/recommend", {"users": batches[k % 64],
                                                       "n": TOP_N})},
            {"name": "POST /score/credit", "batch": 1, "peer": "credit_1",
             "http": lambda k: ("POST", "/score/credit", {"applicants": one[k % 4096]})},
            {"name": "POST /score/credit", "batch": BATCH, "peer": "credit_100",
             "http": lambda k: ("POST", "/score/credit", {"applicants": hundred[k % 64]})},
            {"name": "GET /healthz", "batch": 0, "peer": None,
             "http": lambda k: ("GET", "/healthz", None)},
        ]
        for sc in scenarios:
            sc["in_process"] = peers[sc["peer"]] if sc["peer"] else None

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_server(root, port)
        try:
            # the API answers what the engine answers
            got = httpx.get(f"{base}/recommend/{users[0]}?n={TOP_N}").json()
            want = recommend_block(rec, np.asarray(users[:1], dtype=object), TOP_N)[0][0]
            assert [x["item_id"] for x in got["items"]] == list(want), "API != engine"
            for sc in scenarios:
                sc["runs"] = [asyncio.run(_load(base, sc["http"], c, args.seconds))
                              for c in args.concurrency]
                print(f"{sc['name']} x{sc['batch']}: " + ", ".join(
                    f"c={r['concurrency']} {r['per_second']:.0f} req/s p50 {r['p50_ms']:.2f} "
                    f"ms" for r in sc["runs"]), flush=True)
        finally:
            server.terminate()
            server.wait(timeout=30)

    results = []
    for sc in scenarios:
        peer = sc["in_process"]
        base_p50 = sc["runs"][0]["p50_ms"]
        for run in sc["runs"]:
            row = {"endpoint": sc["name"], "batch": sc["batch"], **run, "in_process": peer}
            if peer:
                row["latency_x"] = base_p50 / peer["p50_ms"]
                row["throughput_x"] = peer["per_second"] / run["per_second"]
            results.append(row)

    def f(v: float, digits: int = 2) -> str:
        return f"{v:,.{digits}f}"

    header = ["endpoint", "batch", "clients", "HTTP req/s", "HTTP p50 ms", "HTTP p99 ms",
              "in-process calls/s", "in-process p50 ms", "in-process p99 ms",
              "latency x (c=1 p50)", "throughput x"]
    md = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in results:
        p = r["in_process"]
        md.append("| " + " | ".join([
            f"`{r['endpoint']}`", str(r["batch"] or "-"), str(r["concurrency"]),
            f(r["per_second"], 0), f(r["p50_ms"]), f(r["p99_ms"]),
            f(p["per_second"], 0) if p else "-", f(p["p50_ms"], 3) if p else "-",
            f(p["p99_ms"], 3) if p else "-",
            f(r["latency_x"], 1) if p else "-", f(r["throughput_x"], 1) if p else "-"]) + " |")
    errors = sum(r["errors"] for r in results)
    lines = [
        "# HTTP API under load (loopback, uvicorn, 1 worker) vs the in-process engine call",
        "",
        f"ALS ({m['users']} users x {m['items']} items, MovieLens-100k) and CreditModel "
        f"(german-credit); n={TOP_N}; {args.seconds:g} s per row; closed-loop httpx clients "
        f"on the same {os.cpu_count()}-core machine as the server. `latency x`: HTTP p50 at "
        "1 client / in-process p50; `throughput x`: in-process calls/s / HTTP req/s. "
        "The in-process peer runs in a fresh process set up as the server's (models from "
        "`load_models`, one BLAS and one torch thread). "
        f"Non-200 answers: {errors}. Load average before / after: {load[0]:.1f} / "
        f"{os.getloadavg()[0]:.1f} (other work on the machine adds noise). "
        "`python -m benchmarks.bench_api`",
        "",
        *md,
        "",
    ]
    table = "\n".join(lines)
    payload = {"datasets": ["movielens-100k", "german-credit"], "top_n": TOP_N,
               "batch": BATCH, "seconds": args.seconds, "concurrency": args.concurrency,
               "fit_seconds": m["fit_seconds"], "users": m["users"], "items": m["items"],
               "results": results, "non_200": errors, "load_average_before": load[0],
               "load_average_after": os.getloadavg()[0], "peak_rss_mb": peak_rss_mb()}
    out = write_results("api", payload, table)
    print(table)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
