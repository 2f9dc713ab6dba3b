"""`genlift serve`: the HTTP API of :mod:`serving.api` under uvicorn.

    genlift serve --models reports/demo/models [--host 127.0.0.1] [--port 8000]
                  [--workers 1] [--log-level info]

``--models DIR`` holds ``recs/``, ``credit/`` and/or ``demand/``, each the ``--out`` folder
of the matching ``genlift train`` command. The models are loaded (and checked) before the
server starts: a folder with no model, or a model that cannot be loaded, exits with
status 2 and one message. The command then prints where it listens, which models it
serves (kind, run id, class) and whether an API key is required, and serves until
stopped (Ctrl-C). Set ``GENLIFT_API_KEY`` to require the header ``X-API-Key`` on every
model endpoint. With ``--workers N`` (N > 1) uvicorn runs N processes, each loading the
models itself (``GENLIFT_MODELS_DIR`` tells them where). FastAPI and uvicorn come with
the ``serve`` extra (``pip install 'genlift[serve]'``).
"""

from __future__ import annotations

import argparse
import errno
import os
import socket
import sys
from pathlib import Path
from typing import Any

from features.errors import DataValidationError
from features.version import __version__
from serving.cli.common import Groups, emit, table


def _require_serve_extra() -> None:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise ValueError(f"genlift serve needs FastAPI and uvicorn ({exc}); install them "
                         "with `pip install 'genlift[serve]'`") from exc


def check_port(host: str, port: int) -> None:
    """Refuse (exit 2, one line naming the port and --port) a port another program
    listens on, before uvicorn would fail on it with its own log. The test bind uses
    SO_REUSEADDR as uvicorn does, so a port whose last connections linger in TIME_WAIT
    counts as free."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise DataValidationError(f"--host {host} is not an address of this machine "
                                  f"({exc.strerror})",
                                  fix="pass --host 127.0.0.1, or 0.0.0.0 for every "
                                      "interface") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            why = ("is already in use by another program" if exc.errno == errno.EADDRINUSE
                   else f"cannot be opened ({exc.strerror})")
            raise DataValidationError(
                f"port {port} on {host} {why}",
                fix=f"stop the program listening there, or pass a free port with --port "
                    f"(e.g. --port {port + 1 if port < 65535 else 8000})") from None


def cmd_serve(args: argparse.Namespace) -> Any:
    _require_serve_extra()
    import uvicorn

    from serving.api import (
        API_KEY_ENV,
        API_KEY_HEADER,
        MODELS_ENV,
        create_app,
        limit_threads,
        load_models,
    )

    # --workers >= 1 and --port in 1..65535 are checked when the command line is read
    check_port(args.host, args.port)  # before the models load: a busy port fails fast
    models = load_models(args.models)
    keyed = bool(os.environ.get(API_KEY_ENV))
    url = f"http://{args.host}:{args.port}"
    summary = {
        "url": url, "docs": f"{url}/docs", "models_dir": str(args.models),
        "workers": args.workers, "api_key_required": keyed, "genlift_version": __version__,
        "models": {m.kind: {"run_id": m.run_id, **m.details} for m in models.loaded()},
        "missing": models.missing(),
    }
    rows = [(m.kind, m.run_id, m.details["model_class"], str(m.folder))
            for m in models.loaded()]
    rows += [(kind, "-", "(not found: endpoints answer 503)", str(models.root / kind))
             for kind in models.missing()]
    text = (f"genlift {__version__} serving {url} (docs {url}/docs, {args.workers} "
            f"worker{'s' if args.workers > 1 else ''})\n"
            + table(rows, ["model", "run id", "class", "folder"]) + "\n"
            + (f"API key: required in the {API_KEY_HEADER} header ({API_KEY_ENV} is set)"
               if keyed else f"API key: none (set {API_KEY_ENV} to require one)"))
    emit(args, summary, text)
    sys.stdout.flush()  # before uvicorn takes over the process
    log_level = "debug" if args.verbose >= 2 else args.log_level
    if args.workers == 1:
        limit_threads()
        uvicorn.run(create_app(models), host=args.host, port=args.port, log_level=log_level)
    else:
        del models  # every worker loads its own copy
        os.environ[MODELS_ENV] = str(Path(args.models).resolve())
        uvicorn.run("serving.api:create_app_from_env", factory=True, host=args.host,
                    port=args.port, workers=args.workers, log_level=log_level)
    return summary


def register(g: Groups) -> None:
    p = g.sub.add_parser("serve", parents=[g.common], help="serve the HTTP API",
                         description="Serve recommendations, similar items, credit scores "
                         "and demand forecasts over HTTP (FastAPI; docs at /docs) from the "
                         "models of one folder: DIR/recs, DIR/credit and/or DIR/demand, "
                         "each the --out folder of `genlift train recs|credit|demand`. Set "
                         "GENLIFT_API_KEY to require an X-API-Key header.")
    p.add_argument("--models", required=True, type=Path, metavar="DIR",
                   help="models folder (recs/, credit/, demand/)")
    p.add_argument("--host", default="127.0.0.1",
                   help="interface to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes, each with its own copy of the models (default 1)")
    p.add_argument("--log-level", default="info",
                   choices=["critical", "error", "warning", "info", "debug"],
                   help="uvicorn's log level (default info)")
    p.set_defaults(func=cmd_serve)
