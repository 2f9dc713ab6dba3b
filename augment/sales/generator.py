"""``SalesWindowGenerator``: synthetic sales windows from a recurrent generator of
weekly demand conditioned on price, promotion and display (see the package docstring).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch import nn

from augment.base import Callback, Generator
from augment.runtime import (
    RandomState,
    autocast,
    grad_scaler,
    make_rngs,
    resolve_device,
    scaled_step,
    torch_seeded,
)
from augment.sales.data import check_sales, lag1_acf, robust_sd, run_end
from augment.sales.networks import SalesNet, init_net
from augment.training import train_epochs
from augment.warmstart import check_same_params, mismatch
from features.errors import (
    DataValidationError,
    check_int,
    check_param,
    check_random_state,
    check_real,
    is_int,
    is_real,
)

_CHUNK = 8192  # windows per forward pass when sampling: bounded memory


class SalesWindowGenerator(Generator):
    """A recurrent generator of synthetic sales windows (``kind = "sales"``).

    Each step models ``y_t = log1p(units_t)`` of one (store, item) series as a Student-t
    whose location and scale come from a GRU that reads the previous ``y`` (its deviation
    from the series level) and the current covariates, known in advance: the log price
    relative to the series' mean log price, the log relative price against the other
    items of the same store and period (as ``features.demand.rel_price``), ``promo`` and
    ``feat`` (0 when absent). The series context starts the recurrent state and enters the
    output head: learned embeddings of ``store_id`` and ``item_id``, the series level (mean
    ``y``) and its mean log price. The location is ``level + head(...)``, so the network
    learns deviations from each series' level.

    - ``model="ar"``: autoregressive, teacher-forced maximum likelihood.
    - ``model="vae"``: the same decoder with a per-window latent ``z`` (prior N(0, I),
      encoder: mean-pooled MLP over the window) fed to every step, trained on the ELBO;
      ``z`` carries window-level shocks that the step noise does not.

    Training windows are all runs of ``window`` consecutive periods (gaps split a series
    into runs; the period is the most common gap between a series' dates, 7 days for
    weekly data). The latest ``validation_fraction`` of the dates is held out: after every
    epoch units are generated for up to ``n_val_windows`` held-out windows given their
    real covariates (two draws, fixed noise) and scored by
    ``-(CRPS + W1(log units) + W1(lag-1 ACF))``; early stopping and the kept weights follow
    this fidelity score, not the loss.

    Sampling draws real windows uniformly among all contiguous runs of ``length``
    periods of the fitted data (optionally restricted to a store and/or item), copies
    their covariates, multiplies each period's price by ``exp(price_jitter * N(0, 1))``
    (a small lognormal jitter, off by default, so that synthetic rows are not tied to the
    exact observed price points; ``rel_price`` moves with it as the other items' prices
    are unchanged) and generates units step by step from the series level: the first
    step sees no previous value (as in training, where every window starts the same
    way). Generated ``y`` is kept within ``[0, max training y + 1]`` and units are
    ``expm1(y)``, rounded when every training unit is an integer.

    Parameters
    ----------
    model : {"vae", "ar"}
    window : int
        Length of the training windows and default sample length, >= 2.
    hidden : int
        GRU and MLP width.
    latent : int
        Size of the per-window latent (``model="vae"`` only).
    epochs : int
        Maximum epochs; an epoch visits training windows starting every ``window // 4``
        periods (random phase).
    batch_size : int
    lr : float
        Adam learning rate.
    df : float or None
        Degrees of freedom of the Student-t (> 2); None learns it.
    validation_fraction : float
        Share of the latest dates held out for the fidelity score, in (0, 0.5].
    n_val_windows : int
        Held-out windows scored after every epoch.
    patience : int
        Epochs without a better validation score before stopping; 0 never stops early.
    price_jitter : float
        Standard deviation of the log price jitter applied when sampling, >= 0.
    device : str
        ``"auto"``, ``"cpu"`` or ``"cuda[:N]"``.
    random_state : int, numpy Generator or None
        Seed of fitting, and default seed of :meth:`sample`.
    show_progress : bool
        Show a tqdm bar over epochs.
    callback : callable, optional
        ``callback(epoch, elapsed_s, metrics)`` after every epoch.

    Examples
    --------
    >>> sales = fetch("dominicks-oj")["sales"]                            # doctest: +SKIP
    >>> gen = SalesWindowGenerator(model="ar", random_state=0).fit(sales) # doctest: +SKIP
    >>> windows = gen.sample(1000, conditions={"item_id": "3"})           # doctest: +SKIP
    """

    kind: ClassVar[str] = "sales"
    warm_start: ClassVar[bool] = True

    def __init__(self, *, model: str = "vae", window: int = 12, hidden: int = 32,
                 latent: int = 4, epochs: int = 40, batch_size: int = 256, lr: float = 3e-3,
                 df: float | None = None, validation_fraction: float = 0.15,
                 n_val_windows: int = 256, patience: int = 8, price_jitter: float = 0.0,
                 device: str = "auto", random_state: RandomState = None,
                 show_progress: bool = False, callback: Callback | None = None) -> None:
        self.model = model
        self.window = window
        self.hidden = hidden
        self.latent = latent
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.df = df
        self.validation_fraction = validation_fraction
        self.n_val_windows = n_val_windows
        self.patience = patience
        self.price_jitter = price_jitter
        self.device = device
        self.random_state = random_state
        self.show_progress = show_progress
        self.callback = callback

    # -- validation ------------------------------------------------------------------------
    def _check_params(self) -> None:
        name = type(self).__name__
        check_param(name, "model", self.model, self.model in ("vae", "ar"), "'vae' or 'ar'")
        for key, low in (("window", 2), ("hidden", 1), ("latent", 1), ("epochs", 1),
                         ("batch_size", 1), ("n_val_windows", 1), ("patience", 0)):
            check_int(name, key, getattr(self, key), low)
        check_real(name, "lr", self.lr, 0, low_open=True)
        check_param(name, "df", self.df, self.df is None or (is_real(self.df) and self.df > 2),
                    "None or a float in the range (2, inf)")
        check_real(name, "validation_fraction", self.validation_fraction, 0, 0.5,
                   low_open=True)
        check_real(name, "price_jitter", self.price_jitter, 0, 1)
        check_random_state(name, self.random_state)
        check_param(name, "callback", self.callback,
                    self.callback is None or callable(self.callback), "None or a callable")

    # -- data ------------------------------------------------------------------------------
    def _prepare(self, frame: pd.DataFrame, source: SalesWindowGenerator | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Validate and sort the sales rows; set the row arrays and series tables used by
        training and sampling. Returns ``y`` and the standardized covariates. A warm
        start's ``source`` gives the store and item codes (its own first, new ones after)
        and the standardisation; the per-series levels are this frame's."""
        df = check_sales(frame, type(self).__name__)
        self.has_feat_ = "feat" in df.columns
        price = df["price"].to_numpy(dtype=np.float64)

        # peers' mean price in the same store and period, as features.demand.rel_price
        grp = df.groupby(["store_id", "date"], sort=False)["price"]
        n_peers = grp.transform("size").to_numpy()
        peer_sum = grp.transform("sum").to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(n_peers > 1, price / ((peer_sum - price) / (n_peers - 1)), 1.0)
        df["rel_price"] = np.where(np.isfinite(rel) & (rel > 0), rel, 1.0)

        df = df.sort_values(["store_id", "item_id", "date"], kind="stable")
        df = df.reset_index(drop=True)
        series, keys = pd.factorize(pd.MultiIndex.from_frame(df[["store_id", "item_id"]]))
        self.stores_ = sorted(df["store_id"].unique().tolist())
        self.items_ = sorted(df["item_id"].unique().tolist())
        self.emb_dims_ = (min(8, len(self.stores_)), min(8, len(self.items_)))
        if source is not None:
            self.stores_ = source.stores_ + sorted(set(self.stores_) - set(source.stores_))
            self.items_ = source.items_ + sorted(set(self.items_) - set(source.items_))
            self.emb_dims_ = source.emb_dims_
        store_of = {s: i for i, s in enumerate(self.stores_)}
        item_of = {s: i for i, s in enumerate(self.items_)}
        self.series_store_ = np.array([store_of[s] for s, _ in keys], dtype=np.int64)
        self.series_item_ = np.array([item_of[i] for _, i in keys], dtype=np.int64)

        date_ns = df["date"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
        same = np.r_[False, series[1:] == series[:-1]]
        gaps = np.diff(date_ns)[same[1:]]
        day = 86_400 * 10**9
        self.freq_days_ = int(pd.Series(gaps // day).mode().min()) if len(gaps) else 7
        self.freq_days_ = max(self.freq_days_, 1)
        step = self.freq_days_ * day
        self.row_series_ = series.astype(np.int64)
        self.row_date_ = date_ns
        self.row_price_ = df["price"].to_numpy(dtype=np.float64)
        self.row_rel_ = df["rel_price"].to_numpy(dtype=np.float64)
        self.row_promo_ = df["promo"].to_numpy(dtype=np.float64)
        self.row_feat_ = (df["feat"].to_numpy(dtype=np.float64) if self.has_feat_
                          else np.zeros(len(df)))
        self.row_run_end_ = run_end(same & np.r_[False, np.diff(date_ns) == step])

        units = df["units"].to_numpy(dtype=np.float64)
        self.integer_units_ = bool(np.all(units == np.round(units)))
        y = np.log1p(units)
        n_series = len(keys)
        count = np.bincount(series, minlength=n_series)
        self.level_ = np.bincount(series, weights=y, minlength=n_series) / count
        log_price = np.log(self.row_price_)
        self.log_price_mean_ = np.bincount(series, weights=log_price,
                                           minlength=n_series) / count
        self.y_max_ = float(y.max())
        self.dev_sd_ = robust_sd(y - self.level_[series])
        self.lpd_sd_ = robust_sd(log_price - self.log_price_mean_[series])
        self.lrel_sd_ = robust_sd(np.log(self.row_rel_))
        self.ctx_stats_ = np.array([self.level_.mean(), robust_sd(self.level_),
                                    self.log_price_mean_.mean(), robust_sd(self.log_price_mean_)])
        if source is not None:  # the space the source's weights were trained in
            for key in ("dev_sd", "lpd_sd", "lrel_sd", "ctx_stats"):
                setattr(self, f"{key}_", getattr(source, f"{key}_"))
        return y, self._covariates(np.arange(len(df)), np.zeros(len(df)))

    def _covariates(self, rows: np.ndarray, jitter: np.ndarray) -> np.ndarray:
        """Standardized covariates (..., 4) of ``rows`` with log price moved by ``jitter``."""
        s = self.row_series_[rows]
        lp = np.log(self.row_price_[rows]) + jitter
        return np.stack([(lp - self.log_price_mean_[s]) / self.lpd_sd_,
                         (np.log(self.row_rel_[rows]) + jitter) / self.lrel_sd_,
                         self.row_promo_[rows], self.row_feat_[rows]],
                        axis=-1).astype(np.float32)

    def _context(self, series: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Store codes, item codes and standardized (level, mean log price) of series."""
        m = self.ctx_stats_
        num = np.stack([(self.level_[series] - m[0]) / m[1],
                        (self.log_price_mean_[series] - m[2]) / m[3]], axis=-1)
        dev = self.device_
        return (torch.from_numpy(self.series_store_[series]).to(dev),
                torch.from_numpy(self.series_item_[series]).to(dev),
                torch.from_numpy(num.astype(np.float32)).to(dev))

    # -- training --------------------------------------------------------------------------
    def _fit(self, frame: pd.DataFrame) -> None:
        self._train(frame, None)

    def _fit_from(self, frame: pd.DataFrame, source: Generator) -> None:
        """Fine-tune from ``source`` (another table's sales generator, e.g. other
        stores): same network shape, same optional ``feat`` column; new stores and items
        start from the mean of the source's embeddings (augment/warmstart.py)."""
        assert isinstance(source, SalesWindowGenerator)
        self._check_params()
        check_same_params(self, source, ("model", "hidden", "df") +
                          (("latent",) if self.model == "vae" else ()))
        if ("feat" in frame.columns) != source.has_feat_:
            raise mismatch("columns", {"feat": "not in the source table" if not
                                       source.has_feat_ else "missing (the source has it)"},
                           "fit on sales with the same columns as the source's")
        self._train(frame, source)

    def _train(self, frame: pd.DataFrame, source: SalesWindowGenerator | None) -> None:
        self._check_params()
        name = type(self).__name__
        y, cov = self._prepare(frame, source)
        self.device_ = resolve_device(self.device)
        rng, gen = make_rngs(self.random_state)
        dates = np.unique(self.row_date_)
        n_val_dates = max(int(round(len(dates) * self.validation_fraction)), self.window)
        if len(dates) - n_val_dates < self.window:
            raise DataValidationError(
                f"{name}.fit got {len(dates)} distinct dates; a window of {self.window} "
                f"periods for training and a held-out tail of {n_val_dates} need at least "
                f"{self.window + n_val_dates}", table="sales", column="date",
                n_rows=len(frame), fix="pass a longer history or a smaller window")
        cutoff = dates[len(dates) - n_val_dates]
        part = self.row_date_ >= cutoff
        n_rows = len(y)
        # a row continues the previous one's run when both are in one run of the fitted
        # data and on the same side of the cutoff
        pos = np.arange(n_rows)
        continues = (pos > 0) & (self.row_run_end_[np.maximum(pos - 1, 0)] > pos)
        continues &= np.r_[False, part[1:] == part[:-1]]
        ends = run_end(continues)
        starts = np.flatnonzero(np.arange(n_rows) + self.window <= ends)
        train_starts = starts[~part[starts]]
        val_starts = starts[part[starts]]
        if len(train_starts) == 0 or len(val_starts) == 0:
            raise DataValidationError(
                f"{name}.fit found {len(train_starts)} training and {len(val_starts)} "
                f"held-out runs of {self.window} consecutive periods (the held-out part is "
                f"the latest {n_val_dates} dates)", table="sales", n_rows=n_rows,
                fix="pass longer series or a smaller window")
        if len(val_starts) > self.n_val_windows:
            val_starts = np.sort(rng.choice(val_starts, self.n_val_windows, replace=False))
        self.n_train_windows_ = int(len(train_starts))

        ys = ((y - self.level_[self.row_series_]) / self.dev_sd_).astype(np.float32)
        ys_t = torch.from_numpy(ys)
        cov_t = torch.from_numpy(cov)
        offsets = np.arange(self.window)
        latent = self.latent if self.model == "vae" else 0
        self.net_ = self._build_net(latent)
        init_net(self.net_, gen)
        if source is not None:
            self._load_from(source)
        self.net_.to(self.device_)
        net = self.net_
        opt = torch.optim.Adam(net.parameters(), lr=self.lr)
        scaler = grad_scaler(self.device_)
        val_seed = int(rng.integers(0, 2**63 - 1))
        stride = max(1, self.window // 4)

        def batches(epoch: int) -> Iterator[np.ndarray]:
            phase = int(rng.integers(0, stride))
            order = train_starts[phase::stride]
            order = order[rng.permutation(len(order))]
            for b0 in range(0, len(order), self.batch_size):
                yield order[b0:b0 + self.batch_size, None] + offsets

        def step(rows: np.ndarray, epoch: int) -> dict[str, float]:
            idx = torch.from_numpy(rows)
            ctx = self._context(self.row_series_[rows[:, 0]])
            with autocast(self.device_):
                nll, kl = net.elbo(ys_t[idx].to(self.device_), cov_t[idx].to(self.device_),
                                   ctx, gen)
                loss = nll + kl
            scaled_step(loss, opt, scaler, net)
            return {"loss": loss.item(), "nll": nll.item(), "kl": kl.item()}

        stopper = train_epochs(
            {"net": net}, epochs=self.epochs, batches=batches, step=step,
            validate=lambda epoch: self._validation_metrics(y, val_starts, val_seed),
            score="val_score", patience=self.patience, history=self.history_,
            callback=self.callback, show_progress=self.show_progress,
            desc=f"{name}[{self.model}]", losses=("loss", "nll", "kl"))
        self.best_epoch_ = stopper.best_epoch
        self.best_score_ = float(stopper.best)

    def _build_net(self, latent: int) -> SalesNet:
        # every weight is drawn again from the fit's generator (or loaded) next
        with torch_seeded(None):
            return SalesNet(len(self.stores_), len(self.items_), self.hidden, latent,
                            None if self.df is None else float(self.df),
                            dims=self.emb_dims_)

    def _load_from(self, source: SalesWindowGenerator) -> None:
        """The source's weights; the embedding rows of stores and items it never saw
        (after its own, see ``_prepare``) are the mean of its rows."""
        theirs = {k: v.detach().cpu() for k, v in source.net_.state_dict().items()}
        for key in ("store_emb.weight", "item_emb.weight"):
            old = theirs[key]
            extra = (len(self.stores_) if key.startswith("store") else len(self.items_)) \
                - len(old)
            theirs[key] = torch.cat([old, old.mean(dim=0, keepdim=True).expand(extra, -1)])
        self.net_.load_state_dict(theirs)

    def _generate(self, rows: np.ndarray, jitter: np.ndarray, rng: np.random.Generator
                  ) -> np.ndarray:
        """Generated ``log1p(units)`` for the covariate windows ``rows`` (n, L)."""
        net = self.net_
        out = np.empty(rows.shape, dtype=np.float64)
        df = float(net.df().detach().cpu())
        for c0 in range(0, len(rows), _CHUNK):
            r = rows[c0:c0 + _CHUNK]
            m, length = r.shape
            series = self.row_series_[r[:, 0]]
            level = self.level_[series]
            z = rng.standard_normal((m, net.latent), dtype=np.float32)
            e = rng.standard_t(df, size=(m, length)).astype(np.float32)
            lo = (0.0 - level) / self.dev_sd_
            hi = (self.y_max_ + 1.0 - level) / self.dev_sd_
            dev = self.device_
            ys = net.rollout(torch.from_numpy(self._covariates(r, jitter[c0:c0 + _CHUNK])).to(dev),
                             self._context(series), torch.from_numpy(z).to(dev),
                             torch.from_numpy(e).to(dev),
                             torch.from_numpy(lo.astype(np.float32)).to(dev),
                             torch.from_numpy(hi.astype(np.float32)).to(dev))
            out[c0:c0 + m] = ys.cpu().numpy().astype(np.float64) * self.dev_sd_ + level[:, None]
        return out

    def _validation_metrics(self, y: np.ndarray, val_starts: np.ndarray, seed: int
                            ) -> dict[str, float]:
        rows = val_starts[:, None] + np.arange(self.window)
        rng = np.random.default_rng(seed)
        zero = np.zeros(rows.shape)
        with torch.no_grad():
            g1, g2 = self._generate(rows, zero, rng), self._generate(rows, zero, rng)
        real = y[rows]
        if not (np.isfinite(g1).all() and np.isfinite(g2).all()):
            return {"val_score": -np.inf, "val_crps": np.inf, "val_w1": np.inf,
                    "val_acf_w1": np.inf}
        crps = float(0.5 * (np.abs(g1 - real).mean() + np.abs(g2 - real).mean())
                     - 0.5 * np.abs(g1 - g2).mean())
        w1 = float(stats.wasserstein_distance(real.ravel(), np.r_[g1.ravel(), g2.ravel()]))
        acf = float(stats.wasserstein_distance(lag1_acf(real), np.r_[lag1_acf(g1),
                                                                      lag1_acf(g2)]))
        return {"val_score": -(crps + w1 + acf), "val_crps": crps, "val_w1": w1,
                "val_acf_w1": acf}

    # -- sampling --------------------------------------------------------------------------
    def _sample(self, n: int, conditions: dict[str, Any],
                random_state: RandomState) -> pd.DataFrame:
        name = type(self).__name__
        unknown = sorted(set(conditions) - {"store_id", "item_id", "length"})
        if unknown:
            raise ValueError(f"Unknown condition key(s) {unknown} for {name}.sample: the keys "
                             "are 'store_id', 'item_id' and 'length'")
        length = conditions.get("length", self.window)
        longest = int((self.row_run_end_ - np.arange(len(self.row_run_end_))).max())
        check_param(f"{name}.sample", "length", length,
                    is_int(length) and 1 <= length <= longest,
                    f"an int in the range [1, {longest}] (the longest run of consecutive "
                    "periods in the fitted data)")
        if n * int(length) > 50_000_000:
            raise ValueError(f"{name}.sample: {n} windows x {length} periods is too many rows "
                             "for one call; sample in several calls")
        length = int(length)
        pos = np.arange(len(self.row_run_end_))
        ok = pos + length <= self.row_run_end_
        series = self.row_series_
        for key, values, codes in (("store_id", self.stores_, self.series_store_),
                                   ("item_id", self.items_, self.series_item_)):
            if key in conditions:
                value = str(conditions[key])
                if value not in values:
                    raise DataValidationError(
                        f"conditions[{key!r}] = {conditions[key]!r} was not in the fitted "
                        f"sales ({len(values)} known, e.g. {', '.join(values[:5])})",
                        table="sales", column=key, fix=f"pick a {key} seen in fit")
                ok &= codes[series] == values.index(value)
        eligible = np.flatnonzero(ok)
        if len(eligible) == 0:
            raise DataValidationError(
                f"no run of {length} consecutive periods in the fitted sales matches "
                f"{ {k: v for k, v in conditions.items() if k != 'length'} }",
                table="sales", fix="ask for a shorter length or another store/item")
        default: RandomState = getattr(self, "random_state", None)
        rng, _ = make_rngs(default if random_state is None else random_state)
        rows = rng.choice(eligible, size=n)[:, None] + np.arange(length)
        jitter = (rng.standard_normal(rows.shape) * float(self.price_jitter)
                  if self.price_jitter else np.zeros(rows.shape))
        self.net_.eval()
        with torch.no_grad():
            y = self._generate(rows, jitter, rng)
        units = np.expm1(y)
        if self.integer_units_:
            units = np.round(units)
        flat = rows.ravel()
        s = self.row_series_[flat]
        out = {
            "store_id": np.asarray(self.stores_, dtype=object)[self.series_store_[s]],
            "item_id": np.asarray(self.items_, dtype=object)[self.series_item_[s]],
            "date": self.row_date_[flat].astype("datetime64[ns]"),
            "units": np.maximum(units.ravel(), 0.0),
            "price": self.row_price_[flat] * np.exp(jitter.ravel()),
            "promo": self.row_promo_[flat],
        }
        if self.has_feat_:
            out["feat"] = self.row_feat_[flat]
        out["rel_price"] = self.row_rel_[flat] * np.exp(jitter.ravel())
        out["window_id"] = np.repeat(np.arange(n), length)
        return pd.DataFrame(out)

    # -- persistence -----------------------------------------------------------------------
    def _modules(self) -> dict[str, nn.Module]:
        return {"net": self.net_}

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {"stores": self.stores_, "items": self.items_, "has_feat": self.has_feat_,
                "freq_days": self.freq_days_, "integer_units": self.integer_units_,
                "y_max": self.y_max_, "dev_sd": self.dev_sd_, "lpd_sd": self.lpd_sd_,
                "lrel_sd": self.lrel_sd_, "latent": self.net_.latent,
                "emb_dims": list(self.emb_dims_),
                "n_train_windows": self.n_train_windows_, "best_epoch": self.best_epoch_,
                "best_score": self.best_score_}
        arrays = {k: getattr(self, f"{k}_") for k in _ARRAYS}
        return meta, arrays

    def _restore(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.stores_ = list(meta["stores"])
        self.items_ = list(meta["items"])
        self.has_feat_ = bool(meta["has_feat"])
        self.freq_days_ = int(meta["freq_days"])
        self.integer_units_ = bool(meta["integer_units"])
        for key in ("y_max", "dev_sd", "lpd_sd", "lrel_sd", "best_score"):
            setattr(self, f"{key}_", float(meta[key]))
        self.n_train_windows_ = int(meta["n_train_windows"])
        self.best_epoch_ = int(meta["best_epoch"])
        for key in _ARRAYS:
            setattr(self, f"{key}_", arrays[key])
        dims = meta.get("emb_dims")  # absent before warm starts: min(8, count)
        self.emb_dims_ = (int(dims[0]), int(dims[1])) if dims else (
            min(8, len(self.stores_)), min(8, len(self.items_)))
        self.device_ = resolve_device(self.device)
        self.net_ = self._build_net(int(meta["latent"])).to(self.device_)
        self.net_.eval()


_ARRAYS = ("series_store", "series_item", "level", "log_price_mean", "ctx_stats", "row_series",
           "row_date", "row_price", "row_rel", "row_promo", "row_feat", "row_run_end")
