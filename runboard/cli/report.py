"""`runboard report --out DIR`: the API's report card as report.md (with PNG figures drawn
by matplotlib under figures/), report.csv and one self-contained report.html.

The card comes from GET /api/report through worker.client; the files are rendered by the
same code that serves /api/report.md and /api/report.html (backend.app.crud.report_export),
so the command line and the dashboard's downloads say the same thing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from runboard.cli.errors import CliError
from worker.client import ApiClient, ApiError
from worker.config import worker_settings


def write_report_card(args: argparse.Namespace) -> int:
    settings = worker_settings()
    url = (args.url or settings.api_url).rstrip("/")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CliError(f"--out: {out} exists and is not a folder")
    with ApiClient(url, settings.api_token) as api:
        try:
            data = api.report_card()
        except ApiError as exc:
            hint = "; is `runboard serve` running?" if exc.status_code is None else ""
            raise CliError(f"{exc}{hint}") from None
    # Only now: matplotlib and the backend take seconds to import, an error above none.
    import pydantic

    from backend.app.crud.report_export import write_report
    from backend.app.crud.report_models import ReportCard

    try:
        card = ReportCard.model_validate(data)
    except pydantic.ValidationError:
        raise CliError(f"{url} answered a report card of another shape") from None
    try:
        written = write_report(card, out)
    except OSError as exc:
        raise CliError(f"--out: cannot write under {out}: {exc.strerror or exc}") from None
    for path in written:
        print(path)
    print(f"wrote the report card of {len(card.rows)} points to {out}", file=sys.stderr)
    return 0
