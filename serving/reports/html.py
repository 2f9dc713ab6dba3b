"""Self-contained HTML reports: inline PNG plots (matplotlib, Agg) and plain tables."""

from __future__ import annotations

import base64
import html
import io
import math
import numbers
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the headless backend)
from matplotlib.figure import Figure  # noqa: E402

STYLE = """
body { font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.25em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.muted { color: #777; font-size: 0.9em; } img { max-width: 100%; }
.good { color: #1a7f37; } .bad { color: #c62828; }
.wide { overflow-x: auto; max-width: 100%; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; }
.box { border: 2px solid #1f5fa8; border-radius: 6px; padding: 0.2em 1em; background: #f5f8fc; }
"""


def figure(width: float = 10, height: float = 4, **kwargs: Any) -> tuple[Figure, Any]:
    fig, axes = plt.subplots(figsize=(width, height), layout="constrained", **kwargs)
    return fig, axes


def img(fig: Figure) -> str:
    """The figure as an inline PNG ``<img>``; the figure is closed."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode()
    return f'<img src="data:image/png;base64,{data}">'


def fmt(v: Any) -> str:
    """A table cell as people read it: 12,346 and 0.1235, never 1.235e+04."""
    if isinstance(v, numbers.Integral) and not isinstance(v, bool):
        return f"{int(v):,}"
    if isinstance(v, numbers.Real) and not isinstance(v, bool):
        x = float(v)
        return f"{x:,.0f}" if math.isfinite(x) and abs(x) >= 1e4 else f"{x:.4g}"
    return html.escape(str(v))


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{fmt(c)}</td>" for c in r) + "</tr>" for r in rows)
    # a wide table scrolls inside its box instead of widening the page
    return (f"<div class='wide'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
            "</table></div>")


def kv_table(items: Mapping[str, Any]) -> str:
    return table([(k, v) for k, v in items.items()], ["", "value"])


def page(title: str, sections: Sequence[tuple[str, str]], subtitle: str = "") -> str:
    body = "".join(f"<h2>{html.escape(h)}</h2>\n{content}\n" for h, content in sections)
    sub = f'<p class="muted">{html.escape(subtitle)}</p>' if subtitle else ""
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{sub}"
            f"{body}</body></html>")


def write_html(text: str, path: str | Path) -> Path:
    """Write atomically: a temporary name, then a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
