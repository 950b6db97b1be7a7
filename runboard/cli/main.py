"""`runboard`: the command line. Each subcommand lives in its own module, imported lazily."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from runboard.cli.errors import EXIT_USAGE, CliError, require_torch
from worker.schema.broker import TRAIN_QUEUE


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise CliError(f"{self.prog}: {message}", EXIT_USAGE)


def _at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer of at least `minimum`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _port(text: str) -> int:
    port = _at_least(1)(text)
    if port > 65535:
        raise argparse.ArgumentTypeError(f"must be a TCP port from 1 to 65535, got {port}")
    return port


def _presets(text: str) -> str:
    """One preset id, or several comma-separated: each must be a homework point."""
    from worker.schema.presets import UnknownPresetError, get_preset

    ids = [part.strip() for part in text.split(",")]
    try:
        for preset_id in ids:
            get_preset(preset_id)
    except UnknownPresetError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _device(text: str) -> str:
    from worker.schema.runconfig import ConfigError, validate_config

    try:
        validate_config({"device": text})
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(exc.errors[0][1]) from None
    return text


def _queues(text: str) -> str:
    if not all(name.strip() for name in text.split(",")):
        raise argparse.ArgumentTypeError(f"expected comma-separated queue names, got {text!r}")
    return text


def _http_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"expected an http:// or https:// URL, got {text!r}")
    return text


def _user_name(text: str) -> str:
    import re

    from backend.app.contract import USER_NAME

    if not re.fullmatch(USER_NAME, text):
        raise argparse.ArgumentTypeError(
            f"{text!r}: a user name is 1 to 32 of a-z, 0-9, '.', '_', '-', starting a-z or 0-9"
        )
    return text


# What imports torch: refused in one line where it is not installed (`pip install runboard`).
TORCH_COMMANDS = {"train", "worker"}
TORCH_BENCHMARKS = {"trainer", "worker", "story"}
COUNT = _at_least(1)  # steps, rounds, requests, launches, batch size
NON_NEGATIVE = _at_least(0)
POSITIVE = _at_least(1)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="runboard", description="Train and compare CIFAR-100 homework runs.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    presets = commands.add_parser("presets", help="list the homework presets")
    presets.add_argument("--json", action="store_true", help="print full presets as JSON")

    train = commands.add_parser("train", help="train one run here and now")
    train.add_argument(
        "--preset", required=True, type=_presets, help="homework point: 1, 2, 3a, ..., 6, free"
    )
    train.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field (repeatable), e.g. --set lr=0.001 --set widths=64/64/64/128",
    )
    train.add_argument(
        "--dataset", choices=["cifar100", "synthetic", "synthetic-easy"], help="shortcut for --set"
    )
    train.add_argument("--epochs", type=int, help="shortcut for --set epochs=N")
    train.add_argument(
        "--out", help="folder for checkpoints and result.json; an existing run there resumes"
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    serve = commands.add_parser("serve", help="run the API and a local worker")
    serve.add_argument("--host", help="bind address (default RUNBOARD_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=_port, help="port (default RUNBOARD_PORT or 8000)")
    serve.add_argument(
        "--no-worker", action="store_true", help="API only; workers run elsewhere (Redis broker)"
    )
    serve.add_argument(
        "--api-workers",
        type=POSITIVE,
        default=1,
        help="API processes on the one port (default 1; more need PostgreSQL or Redis)",
    )

    worker = commands.add_parser("worker", help="train queued runs, one at a time")
    worker.add_argument(
        "--gpu", type=NON_NEGATIVE, help="pin this worker to one GPU (CUDA_VISIBLE_DEVICES)"
    )
    worker.add_argument(
        "--queues", type=_queues, default=TRAIN_QUEUE, help="comma-separated queues to consume"
    )
    worker.add_argument("--name", help="worker name (default runboard-<gpu|cpu>@<host>)")

    submit = commands.add_parser("submit", help="queue a run through the API")
    submit.add_argument(
        "--preset", required=True, type=_presets, help="homework point: 1, 2, 3a, ..., 6, free"
    )
    submit.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a config field (repeatable)",
    )  # fmt: skip
    submit.add_argument("--name", help="run name (default: from preset and overrides)")
    submit.add_argument("--tag", action="append", default=[], help="tag (repeatable)")
    submit.add_argument(
        "--url", type=_http_url, default=None,
        help="API base URL (default RUNBOARD_API_URL or http://127.0.0.1:8000)",
    )  # fmt: skip
    submit.add_argument("--token", help="API token (default RUNBOARD_API_TOKEN)")
    submit.add_argument(
        "--wait", action="store_true",
        help="follow the run live; exit 0 succeeded, 1 failed, 3 cancelled",
    )  # fmt: skip

    accounts = commands.add_parser("users", help="named users and their API tokens")
    actions = accounts.add_subparsers(dest="action", required=True, parser_class=_Parser)
    add = actions.add_parser("add", help="add a user; prints its first API token once")
    add.add_argument("name", type=_user_name)
    add.add_argument("--admin", action="store_true", help="may delete any run, manage users")
    actions.add_parser("list", help="every user, revoked ones too")
    token = actions.add_parser("token", help="another API token for a user (one per script)")
    token.add_argument("name", type=_user_name)
    revoke = actions.add_parser("revoke", help="revoke a user's tokens and sessions at once")
    revoke.add_argument("name", type=_user_name)
    report = commands.add_parser(
        "report", help="write the report card: Markdown with PNG figures, CSV and HTML"
    )
    report.add_argument("--out", required=True, help="folder for report.md, .csv, .html, figures/")
    report.add_argument(
        "--url", type=_http_url, default=None,
        help="API base URL (default RUNBOARD_API_URL or http://127.0.0.1:8000)",
    )  # fmt: skip

    bench = commands.add_parser("bench", help="measure speed, side by side")
    targets = bench.add_subparsers(dest="target", required=True, parser_class=_Parser)
    trainer = targets.add_parser("trainer", help="training images/s: runboard vs the template")
    trainer.add_argument(
        "--presets", type=_presets, default="2,3a,5b", help="comma-separated preset ids"
    )
    trainer.add_argument("--steps", type=COUNT, default=10, help="timed steps per measurement")
    trainer.add_argument("--warmup", type=NON_NEGATIVE, default=3, help="untimed steps first")
    trainer.add_argument("--rounds", type=COUNT, default=3, help="alternating rounds")
    trainer.add_argument("--device", type=_device, default="auto")
    trainer.add_argument("--batch-size", type=COUNT, help="default: each preset's own")
    trainer.add_argument("--out", help="JSON file for the figures (default var/bench/...)")
    api = targets.add_parser("api", help="API latency (list, metrics, compare) and ingest rate")
    api.add_argument(
        "--database-url", help="an empty database to fill (default: a new SQLite file in var/bench)"
    )
    api.add_argument("--requests", type=COUNT, default=200, help="timed requests per endpoint")
    api.add_argument(
        "--scaleout-url",
        help="an empty PostgreSQL database for the two-process figures (default: none)",
    )
    api.add_argument(
        "--every-step", action="store_true", help="every step's loss stored: 3.9M batch points"
    )
    api.add_argument("--out", help="JSON file for the figures (default var/bench/api-...)")
    live = targets.add_parser("worker", help="tracking overhead, live and launch latency")
    live.add_argument("--rounds", type=COUNT, default=5, help="alternating rounds on/off")
    live.add_argument("--launches", type=COUNT, default=5, help="timed launches")
    live.add_argument("--out", help="JSON file for the figures (default var/bench/worker-...)")
    story = targets.add_parser(
        "story", help="the homework's orderings on the hard synthetic set (MLP < CNN, ...)"
    )
    story.add_argument(
        "--presets", type=_presets, default="1,2,3a,4a,5a,5b",
        help="comma-separated preset ids (3b and 3c take 4x and 16x 3a's time)",
    )  # fmt: skip
    story.add_argument("--epochs", type=COUNT, default=20, help="epochs per point (presets: 20)")
    story.add_argument("--train-subset", type=COUNT, help="train images (default: the set's)")
    story.add_argument("--test-subset", type=COUNT, help="test images (default: the set's)")
    story.add_argument("--device", type=_device, default="auto")
    story.add_argument(
        "--jobs", type=COUNT, default=1, help="points trained at once, in separate processes"
    )
    story.add_argument(
        "--merge", action="append", default=[], metavar="JSON",
        help="add the points of an earlier story run with the same settings (repeatable)",
    )  # fmt: skip
    story.add_argument("--out", help="JSON file for the figures (default var/bench/story-...)")
    soak = targets.add_parser("soak", help="the API's memory under runs and SSE clients")
    soak.add_argument("--minutes", type=float, default=10.0, help="how long the load lasts")
    soak.add_argument("--workers", type=COUNT, default=3, help="fake workers reporting runs")
    soak.add_argument("--clients", type=NON_NEGATIVE, default=12, help="SSE clients coming, going")
    soak.add_argument("--sample-s", type=float, default=2.0, help="seconds between RSS samples")
    soak.add_argument("--warmup", type=float, help="seconds before RSS should be flat")
    soak.add_argument("--seed", type=int, default=0)
    soak.add_argument("--out", help="JSON file for the figures (default var/bench/soak-...)")
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in TORCH_COMMANDS or getattr(args, "target", None) in TORCH_BENCHMARKS:
        require_torch()
    if args.command == "presets":
        from runboard.cli.presets import show_presets

        return show_presets(as_json=args.json)
    if args.command == "train":
        from runboard.cli.train import run_training

        return run_training(args)
    if args.command == "serve":
        from runboard.cli.serve import serve

        return serve(
            host=args.host,
            port=args.port,
            with_worker=not args.no_worker,
            api_workers=args.api_workers,
        )
    if args.command == "worker":
        from runboard.cli.worker import run_worker

        return run_worker(gpu=args.gpu, queues=args.queues, name=args.name)
    if args.command == "submit":
        from runboard.cli.submit import submit_run

        return submit_run(args)
    if args.command == "users":
        from runboard.cli.users import run_users

        return run_users(args)
    if args.command == "report":
        from runboard.cli.report import write_report_card

        return write_report_card(args)
    if args.target == "worker":
        from runboard.bench.worker import run_worker_bench

        return run_worker_bench(args)
    if args.target == "soak":
        from runboard.bench.soak import run_soak_bench

        return run_soak_bench(args)
    if args.target == "story":
        from runboard.bench.story import run_story_bench

        return run_story_bench(args)
    if args.target == "api":
        from runboard.bench.api import run_api_bench

        return run_api_bench(args)
    from runboard.bench.trainer import run_trainer_bench

    return run_trainer_bench(args)


def main(argv: Sequence[str] | None = None) -> int:
    from worker.schema.errors import UserError

    try:
        return run(argv)
    except CliError as exc:
        print(f"runboard: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except UserError as exc:
        print(f"runboard: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
