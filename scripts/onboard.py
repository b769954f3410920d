#!/usr/bin/env python3
"""The operator's tool: create and update merchants, issue and rotate their webhook secrets.

It runs with the operator's AWS credentials against a deployed stack (the table is read from the
stack's `OrdersTableName` output), or against a running local cloud (`--local`, which reads
`.orderhub/local.json`). See docs/onboarding.md.

    python scripts/onboard.py --stack orderhub-prod merchant create acme --name "ACME Store" \\
        --timezone Asia/Tokyo --service-start 2026-12-01T00:00:00+09:00
    python scripts/onboard.py --stack orderhub-prod merchant update acme --name "ACME"
    python scripts/onboard.py --stack orderhub-prod merchant show acme
    python scripts/onboard.py --stack orderhub-prod secret rotate acme generic --overlap-hours 24
    python scripts/onboard.py --stack orderhub-prod secret rotate acme shopify --secret <from Shopify>
    python scripts/onboard.py --local merchant create acme --name "ACME Store"

Prints the result as JSON. A new merchant's secrets and a rotated secret are printed once and
are not shown again (GET routes never show them). Exit code 0 on success, 2 on a refusal (the
JSON error names the field and the rule).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCAL_CONFIG = REPO_ROOT / ".orderhub" / "local.json"


def _connect(args: argparse.Namespace) -> None:
    """Point the orderhub package at the stack's table (the environment a function would have)."""
    if args.local:
        config = json.loads(Path(args.config).read_text())
        os.environ["AWS_ENDPOINT_URL"] = config["aws_endpoint_url"]
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
        os.environ["TABLE_NAME"] = config["table_name"]
    else:
        import boto3

        if args.region:
            os.environ["AWS_DEFAULT_REGION"] = args.region
        stack = boto3.client("cloudformation").describe_stacks(StackName=args.stack)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        os.environ["TABLE_NAME"] = outputs["OrdersTableName"]
    sys.path.insert(0, str(REPO_ROOT / "layers" / "shared"))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="onboard.py", description=__doc__.split("\n\n")[0])
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--stack", help="the deployed stack's name")
    where.add_argument("--local", action="store_true", help="the running local cloud (make run)")
    p.add_argument("--region", help="the stack's region (default: the AWS configuration's)")
    p.add_argument("--config", default=str(LOCAL_CONFIG), help="local.json of the local cloud")
    sub = p.add_subparsers(dest="what", required=True)

    merchant = sub.add_parser("merchant").add_subparsers(dest="action", required=True)
    create = merchant.add_parser("create", help="a new merchant, with a webhook secret per format")
    create.add_argument("merchant_id")
    create.add_argument("--name", required=True)
    create.add_argument("--timezone", default="Asia/Tokyo")
    create.add_argument("--service-start", help="ISO 8601 with offset (orders deleted before it: no relink)")
    create.add_argument(
        "--generic-marketplaces",
        help="comma-separated marketplaces the generic connector's secret speaks for (e.g. rakuten,qoo10; "
        "* for any without its own webhook format); without it the generic secret speaks for none",
    )
    update = merchant.add_parser("update", help="change the display name, time zone or service start")
    update.add_argument("merchant_id")
    update.add_argument("--name")
    update.add_argument("--timezone")
    update.add_argument("--service-start")
    show = merchant.add_parser("show", help="the merchant's profile (no secrets)")
    show.add_argument("merchant_id")

    secret = sub.add_parser("secret").add_subparsers(dest="action", required=True)
    rotate = secret.add_parser("rotate", help="a new webhook secret; the old one verifies for the overlap")
    rotate.add_argument("merchant_id")
    rotate.add_argument("format", help="shopify, generic or wish")
    rotate.add_argument("--secret", help="the secret the marketplace issued (default: a generated one)")
    rotate.add_argument("--overlap-hours", type=int, default=24, help="0 to 168 (default 24)")
    rotate.add_argument(
        "--marketplaces",
        help="generic only: comma-separated marketplaces the new secret speaks for (default: the old one's)",
    )
    return p


def run(args: argparse.Namespace) -> dict:
    from orderhub.merchants import onboarding

    if args.what == "merchant" and args.action == "create":
        return onboarding.create_merchant(
            args.merchant_id,
            args.name,
            timezone=args.timezone,
            service_start=args.service_start,
            generic_marketplaces=_names(args.generic_marketplaces),
        )
    if args.what == "merchant" and args.action == "update":
        return onboarding.update_merchant(
            args.merchant_id, name=args.name, timezone=args.timezone, service_start=args.service_start
        )
    if args.what == "merchant" and args.action == "show":
        return onboarding.show_merchant(args.merchant_id)
    from orderhub.merchants import secrets

    overlap = secrets.overlap_hours(args.overlap_hours)
    return onboarding.rotate_secret(
        args.merchant_id,
        args.format,
        secret=args.secret,
        overlap=overlap,
        marketplaces=_names(args.marketplaces),
    )


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [name.strip() for name in text.split(",") if name.strip()]


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    _connect(args)
    from orderhub.kernel.errors import OrderhubError

    try:
        result = run(args)
    except OrderhubError as exc:
        print(json.dumps(exc.to_body(), ensure_ascii=False, indent=1))
        return 2
    print(json.dumps(result, ensure_ascii=False, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
