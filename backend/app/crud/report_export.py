"""The report card as files: Markdown with PNG figures, CSV, and one self-contained HTML page.

Used by the API (GET /api/report.md, /api/report.html, /api/report.csv: figures inline as
data URIs, so each download is one file) and by `runboard report --out DIR` (figures as PNG
files beside report.md). Figures are drawn by matplotlib's Agg canvas on a Figure object,
never through pyplot, so no global backend or state is touched and threads do not clash.
"""

from __future__ import annotations

import base64
import csv
import functools
import html
import io
from collections.abc import Callable
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from backend.app.core.stats import Summary
from backend.app.crud.report_models import ReportCard, ReportRow

VERDICTS = {"within": "within ± 3 pp", "above": "above", "below": "below", "not_run": "not run"}
CSS = (
    "body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#222}"
    "table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #ccc;padding:4px 8px;"
    "text-align:left;vertical-align:top}td.num{text-align:right}.figs{display:flex;"
    "flex-wrap:wrap;gap:12px}figure{margin:0}figcaption{font-size:12px;color:#555}"
)


def pct(summary: Summary) -> str:
    """'31.2 ± 0.8 % (n=3)', '31.2 %' for one run, '–' for none (fractions in)."""
    if summary.mean is None:
        return "–"
    text = f"{100 * summary.mean:.1f}"
    if summary.std is not None:
        text += f" ± {100 * summary.std:.1f}"
    return f"{text} %" + (f" (n={summary.n})" if summary.n > 1 else "")


def plain(summary: Summary, digits: int = 3) -> str:
    if summary.mean is None:
        return "–"
    text = f"{summary.mean:.{digits}f}"
    return text + (f" ± {summary.std:.{digits}f}" if summary.std is not None else "")


def signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+.1f}"


def effect_text(row: ReportRow) -> str:
    """'+7.1 pp [5.9, 8.3] vs 3a': what a student writes."""
    e = row.effect
    if e is None or e.difference_pp is None:
        return "–" if e is None else f"vs {e.against}: not run"
    text = f"{e.difference_pp:+.1f} pp"
    if e.ci_low_pp is not None and e.ci_high_pp is not None:
        text += f" [{e.ci_low_pp:+.1f}, {e.ci_high_pp:+.1f}]"
    return f"{text} vs {e.against}"


def time_text(row: ReportRow) -> str:
    t = row.time_to_report
    if t.threshold is None:
        return "–"
    if not t.reached:
        return f"not reached ({100 * t.threshold:.0f} %)"
    return f"{plain(t.seconds, 0)} s, epoch {plain(t.epochs, 1)} ({t.reached} reached)"


def representative_text(row: ReportRow) -> str:
    r = row.representative
    if r is None:
        return "not run"
    label = f"{r.kind} #{r.id} {r.name}"
    if r.dataset != "cifar100":
        label += f" [{r.dataset}]"
    return label + (" (pinned)" if r.pinned else "")


def cells(row: ReportRow) -> list[str]:
    ref = row.reference
    return [
        row.point,
        row.title,
        "–" if ref.final_accuracy_pct is None else f"{ref.final_accuracy_pct:g} %",
        "–" if ref.final_train_loss is None else f"{ref.final_train_loss:g}",
        "–" if ref.training_seconds is None else f"{ref.training_seconds:.0f} s",
        representative_text(row),
        pct(row.final_test_acc),
        pct(row.best_test_acc),
        plain(row.final_train_loss),
        signed(row.difference_pp),
        VERDICTS.get(row.verdict or "", "no report figure"),
        time_text(row),
        plain(row.images_per_second, 0),
        effect_text(row),
    ]


HEAD = [
    "point", "title", "report acc", "report loss", "report time", "represented by", "final acc",
    "best acc", "final train loss", "vs report (pp)", "verdict", "time to report acc",
    "images/s", "effect",
]  # fmt: skip


def figure_png(row: ReportRow) -> bytes:
    """This point's test accuracy per epoch (%) beside the report's, dashed."""
    mine = tuple(None if v is None else 100 * v for v in row.curve.test_acc)
    return _figure(row.point, row.title, mine, tuple(row.reference.accuracy_pct or ()))


@functools.lru_cache(maxsize=256)  # a figure is drawn again only when its curve changed
def _figure(
    point: str, title: str, mine: tuple[float | None, ...], reference: tuple[float | None, ...]
) -> bytes:
    figure = Figure(figsize=(4.0, 2.6), dpi=80)
    FigureCanvasAgg(figure)
    # Fixed margins: tight_layout would measure every label first, which costs more than
    # drawing the figure.
    figure.subplots_adjust(left=0.14, right=0.97, top=0.88, bottom=0.17)
    axes = figure.add_subplot()
    nan = float("nan")
    if mine:
        values = [nan if v is None else v for v in mine]
        axes.plot(range(1, len(values) + 1), values, color="#0072B2", label="here")
    if reference:
        values = [nan if v is None else v for v in reference]
        axes.plot(range(1, len(values) + 1), values, "--", color="#7F7F7F", label="report")
    axes.set_title(f"{point}: {title}", fontsize=9)
    axes.set_xlabel("epoch", fontsize=8)
    axes.set_ylabel("test accuracy (%)", fontsize=8)
    axes.tick_params(labelsize=7)
    if mine or reference:
        axes.legend(fontsize=7)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def markdown(card: ReportCard, figure_ref: Callable[[ReportRow], str]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["# Homework 3: the report card", "",
             f"Verdict: within ± {card.within_pp:g} percentage points of the report, above, "
             "below or not run. Effects: test accuracy against the point each one changes, "
             "with Welch's 95% interval for groups of replicates.", "",
             "| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]  # fmt: skip
    lines += ["| " + " | ".join(cell(c) for c in cells(row)) + " |" for row in card.rows]
    lines += ["", "## Curves against the report (dashed)", ""]
    lines += [f"![point {row.point}]({figure_ref(row)})" for row in card.rows]
    return "\n".join(lines) + "\n"


def html_page(card: ReportCard, figures_png: dict[str, bytes] | None = None) -> str:
    """One file that opens offline: inline CSS, figures as data URIs, every text escaped.
    `figures_png`: point -> PNG already drawn (else drawn here)."""
    esc = html.escape
    pngs = figures_png or {row.point: figure_png(row) for row in card.rows}
    head = "".join(f"<th>{esc(h)}</th>" for h in HEAD)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells(row)) + "</tr>" for row in card.rows
    )
    figures = "".join(
        f'<figure><img alt="point {esc(row.point)}" src="{data_uri(pngs[row.point])}">'
        f"<figcaption>{esc(row.point)}: {esc(row.title)}</figcaption></figure>"
        for row in card.rows
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Homework 3: the report card</title><style>{CSS}</style></head><body>"
        f"<h1>Homework 3: the report card</h1><table><thead><tr>{head}</tr></thead>"
        f'<tbody>{body}</tbody></table><div class="figs">{figures}</div></body></html>\n'
    )


def csv_text(card: ReportCard) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEAD)
    for row in card.rows:
        writer.writerow(cells(row))
    return buffer.getvalue()


def write_report(card: ReportCard, out: Path) -> list[Path]:
    """report.md with figures/point-*.png, report.csv and report.html under `out`."""
    figures = out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    written = []
    pngs = {row.point: figure_png(row) for row in card.rows}
    for point, png in pngs.items():
        path = figures / f"point-{point}.png"
        path.write_bytes(png)
        written.append(path)
    files = {
        "report.md": markdown(card, lambda row: f"figures/point-{row.point}.png"),
        "report.csv": csv_text(card),
        "report.html": html_page(card, pngs),
    }
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
        written.append(out / name)
    return written
