"""Command line: `python -m localcloud` runs the local cloud; `fire` and `drain` talk to a running one.

    python -m localcloud                      # serve on 127.0.0.1:$ORDERHUB_PORT (3000)
    python -m localcloud --fresh              # the same, without the data the last run kept
    python -m localcloud fire HoldSweepFunction
    python -m localcloud drain --timeout 30

Environment: ORDERHUB_PORT, ORDERHUB_CONSOLE_PORT (the merchant console; default the API's port
+ 1), ORDERHUB_TEMPLATE (default: template.yaml at the repository
root), ORDERHUB_STATE_DIR (default: .orderhub at the repository root, where local.json goes),
ORDERHUB_LOCAL_RETRY_SECONDS (how soon failed SQS messages and stream batches are retried),
ORDERHUB_LOCAL_LOG (log level, INFO), ORDERHUB_LOCAL_KEEP (1: keep the data across restarts in
the state directory; 0: keep nothing, every start is empty).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _state_dir() -> Path:
    return Path(os.environ.get("ORDERHUB_STATE_DIR") or REPO_ROOT / ".orderhub").resolve()


def _setup_logging(verbose: bool) -> None:
    level = logging.DEBUG if verbose else os.environ.get("ORDERHUB_LOCAL_LOG", "INFO").upper()
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    for noisy in ("werkzeug", "botocore", "boto3", "urllib3", "aws_xray_sdk"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run(args: argparse.Namespace) -> int:
    from localcloud.cloud import LocalCloud

    _setup_logging(args.verbose)
    template = Path(
        args.template or os.environ.get("ORDERHUB_TEMPLATE") or REPO_ROOT / "template.yaml"
    ).resolve()
    port = args.port if args.port is not None else int(os.environ.get("ORDERHUB_PORT") or 3000)
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        logging.getLogger("localcloud").info("%s received, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)  # the terminal closed: stop cleanly, keeping the data

    keep = os.environ.get("ORDERHUB_LOCAL_KEEP", "1").strip().lower() not in ("0", "false", "no")
    console_port = os.environ.get("ORDERHUB_CONSOLE_PORT")
    cloud = LocalCloud(
        template_path=template,
        port=port,
        root=REPO_ROOT,
        state_dir=_state_dir(),
        keep=keep,
        fresh=args.fresh,
        console_port=int(console_port) if console_port else None,
    )
    try:
        cloud.start()
    except Exception as exc:
        logging.getLogger("localcloud").error("could not start: %s", exc, exc_info=args.verbose)
        return 1
    print(cloud.banner(), flush=True)
    try:
        ticks = 0
        while not stop.wait(0.5):
            ticks += 1
            if ticks % 20 == 0 and (line := cloud.kept_metrics.summary()):  # every 10 s, when it changed
                sys.stdout.write(line + "\n")  # one write: a function's line can't land inside it
                sys.stdout.flush()
    finally:
        cloud.stop()
    return 0


def _post(path: str, timeout: float) -> tuple[int, object]:
    config_path = _state_dir() / "local.json"
    try:
        config = json.loads(config_path.read_text())
        api_url, admin_token = config["api_url"], config["admin_token"]
    except (OSError, ValueError, KeyError) as exc:
        raise SystemExit(
            f"cannot read {config_path} ({exc}); is the local cloud running (make run)?"
        ) from None
    headers = {"Authorization": f"Bearer {admin_token}"}  # the /_local/* routes' credential
    req = urllib.request.Request(api_url + path, data=b"", method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")
    except urllib.error.URLError as exc:
        raise SystemExit(
            f"cannot reach {api_url} ({exc.reason}); is the local cloud running (make run)?"
        ) from None


def fire(args: argparse.Namespace) -> int:
    status, body = _post(f"/_local/schedules/{args.function}", timeout=330)
    print(json.dumps(body, indent=2))
    return 0 if status == 200 else 1


def drain(args: argparse.Namespace) -> int:
    status, body = _post(f"/_local/drain?timeout={args.timeout}", timeout=args.timeout + 10)
    print(json.dumps(body))
    return 0 if status == 200 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcloud", description="Run orderhub locally.")
    parser.add_argument("--port", type=int, help="API port (default $ORDERHUB_PORT or 3000)")
    parser.add_argument("--template", help="SAM template (default $ORDERHUB_TEMPLATE or template.yaml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="start without the data the last run kept (it is replaced when this run stops)",
    )
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the local cloud (the default)")
    p_fire = sub.add_parser("fire", help="run a function's schedule now on the running local cloud")
    p_fire.add_argument("function", help="the function's logical id, e.g. HoldSweepFunction")
    p_drain = sub.add_parser("drain", help="wait until queues and streams are processed")
    p_drain.add_argument("--timeout", type=float, default=30)
    args = parser.parse_args(argv)
    if args.command == "fire":
        return fire(args)
    if args.command == "drain":
        return drain(args)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
