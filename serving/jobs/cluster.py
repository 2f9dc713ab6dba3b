"""``--cluster``: where the scale-out jobs run (see docs/architecture.md).

One machine is the default; ``--cluster`` moves batch scoring, demand training and
generator sampling onto Dask (``dask.distributed``):

- ``local``: a :class:`~distributed.LocalCluster` on this machine, one worker process per
  core;
- ``local:N``: the same with ``N`` worker processes;
- ``tcp://HOST:PORT``: an existing scheduler. Its workers must import the same genlift and
  see the same paths as this machine (a shared filesystem): they read the model and
  generator folders and write the output parts themselves.

Local workers are processes with one thread each, started with ``spawn``: a worker forked
from a process that has run OpenMP code (LightGBM, BLAS, torch) can hang.

Examples
--------
>>> with connect("local:2") as client:  # doctest: +SKIP
...     score_recommend(store, "model", "recs", client=client)
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from features.errors import DataValidationError

if TYPE_CHECKING:
    from distributed import Client

logger = logging.getLogger(__name__)

INSTALL_FIX = "pip install 'genlift[scale]'"
FORMS = "'local' (one worker per core), 'local:N' (N workers) or 'tcp://HOST:PORT'"
DEFAULT_TIMEOUT_S = 10.0
_TCP = re.compile(r"^tcp://(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.\-]+):(?P<port>\d+)$")


class ClusterError(DataValidationError):
    """A ``--cluster`` spec that is malformed, or a scheduler that does not answer."""


@dataclass(frozen=True)
class ClusterSpec:
    """A parsed ``--cluster`` value: a local cluster of ``workers`` processes, or the
    scheduler at ``address``."""

    spec: str
    workers: int | None = None
    address: str | None = None

    @property
    def is_local(self) -> bool:
        return self.address is None


def local_cores() -> int:
    """Cores this process may run on (the affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS / Windows
        return max(1, os.cpu_count() or 1)


def parse_cluster(spec: str) -> ClusterSpec:
    """Parse a ``--cluster`` value; a :class:`ClusterError` names what is wrong.

    Examples
    --------
    >>> parse_cluster("local:2").workers
    2
    >>> parse_cluster("tcp://10.0.0.5:8786").address
    'tcp://10.0.0.5:8786'
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ClusterError(f"--cluster {spec!r} is empty", fix=f"give {FORMS}")
    text = spec.strip()
    if text == "local":
        return ClusterSpec(text, workers=local_cores())
    if text.startswith("local:"):
        raw = text[len("local:"):]
        if not raw.isdigit() or int(raw) < 1:
            raise ClusterError(f"--cluster {spec!r}: the worker count {raw!r} is not an int "
                               ">= 1", fix="write e.g. --cluster local:2")
        return ClusterSpec(text, workers=int(raw))
    if "://" in text:
        if not text.startswith("tcp://"):
            scheme = text.split("://", 1)[0]
            raise ClusterError(f"--cluster {spec!r}: the scheme {scheme!r} is not supported",
                               fix=f"give {FORMS}")
        match = _TCP.match(text)
        if match is None or not 1 <= int(match["port"]) <= 65535:
            raise ClusterError(f"--cluster {spec!r} is not a scheduler address of the form "
                               "tcp://HOST:PORT with a port in 1..65535",
                               fix="write e.g. --cluster tcp://10.0.0.5:8786")
        return ClusterSpec(text, address=text)
    if re.match(r"^[A-Za-z0-9_.\-]+:\d+$", text):
        raise ClusterError(f"--cluster {spec!r} has no scheme",
                           fix=f"write --cluster tcp://{text}")
    raise ClusterError(f"--cluster {spec!r} is not a cluster spec", fix=f"give {FORMS}")


def require_scale() -> None:
    """Raise a :class:`ClusterError` with the install command when Dask is missing."""
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as exc:
        raise ClusterError(f"--cluster needs dask.distributed, which is not installed "
                           f"({exc})", fix=INSTALL_FIX) from exc


@contextlib.contextmanager
def connect(spec: str | ClusterSpec, *, timeout: float = DEFAULT_TIMEOUT_S,
            silence_logs: int = logging.ERROR) -> Iterator[Client]:
    """A :class:`distributed.Client` for ``spec``, closed (with its local cluster) on exit.

    Parameters
    ----------
    spec : str or ClusterSpec
        A ``--cluster`` value, see :func:`parse_cluster`.
    timeout : float
        Seconds to wait for a ``tcp://`` scheduler (and then for its first worker)
        before giving up with a :class:`ClusterError` that names the address.
    silence_logs : int
        Log level below which the local cluster's scheduler and workers stay quiet.
    """
    parsed = parse_cluster(spec) if isinstance(spec, str) else spec
    require_scale()
    import dask
    from distributed import Client, LocalCluster

    if parsed.address is not None:
        try:
            client = Client(parsed.address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(
                f"could not connect to the Dask scheduler at {parsed.address} within "
                f"{timeout:g} s ({type(exc).__name__})",
                fix="start it (`dask scheduler`) or check the address and the firewall") \
                from exc
        try:
            try:  # a scheduler without workers would hold every task forever
                client.wait_for_workers(1, timeout=timeout)
            except TimeoutError as exc:
                raise ClusterError(
                    f"the Dask scheduler at {parsed.address} has no workers (waited "
                    f"{timeout:g} s)", fix="start workers: `dask worker "
                    f"{parsed.address}`") from exc
            logger.info("connected to %s (%d workers)", parsed.address,
                        len(client.nthreads()))
            yield client
        finally:
            client.close()
        return
    # spawn, not fork: see the module docstring. The setting stays on while the cluster
    # lives, so a nanny that restarts a dead worker spawns it too. The scheduler and the
    # nannies log in this process (through its root handlers too): quiet until the
    # cluster is closed, not only while it starts.
    quiet = logging.getLogger("distributed")
    level = quiet.level
    quiet.setLevel(max(silence_logs, level))
    with contextlib.ExitStack() as stack:
        stack.callback(quiet.setLevel, level)
        stack.enter_context(dask.config.set(
            {"distributed.worker.multiprocessing-method": "spawn"}))
        # No dashboard; the scheduler's HTTP server (health and metrics routes) still
        # starts, on a free local port rather than 8787, so two clusters never clash.
        cluster = LocalCluster(n_workers=parsed.workers, threads_per_worker=1,
                               processes=True, dashboard_address=None,
                               scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                               silence_logs=silence_logs)
        stack.callback(cluster.close)
        client = Client(cluster, set_as_default=False)
        stack.callback(client.close)
        client.run(_stdout_to_stderr)
        logger.info("local Dask cluster: %d workers", parsed.workers)
        yield client


def _stdout_to_stderr() -> None:
    """Run on each local worker: its file descriptor 1 goes to its stderr.

    Local workers inherit this process's stdout, and native code in them prints there
    (LightGBM's network set-up logs ``[LightGBM] [Info] Listening...`` whatever its
    ``verbose``); ``--json`` needs stdout for its one JSON document. (A worker that its
    nanny restarts starts without this: at worst, log lines on stdout.)
    """
    sys.stdout.flush()
    os.dup2(2, 1)


@contextlib.contextmanager
def maybe_connect(spec: str | None, *, timeout: float = DEFAULT_TIMEOUT_S
                  ) -> Iterator[Client | None]:
    """:func:`connect` for a ``--cluster`` value, or ``None`` (one machine) without one."""
    if spec is None:
        yield None
        return
    with connect(spec, timeout=timeout) as client:
        yield client


def n_workers(client: Client) -> int:
    """Workers the scheduler knows now (at least 1)."""
    return max(1, len(client.nthreads()))
