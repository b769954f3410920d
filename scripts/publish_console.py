#!/usr/bin/env python3
"""Publish the merchant console (console/) to a deployed stack's bucket and distribution.

    python scripts/publish_console.py                          # samconfig.toml's default stack
    python scripts/publish_console.py --config-env prod        # that environment's stack and region
    python scripts/publish_console.py --stack orderhub-prod --region us-east-1
    python scripts/publish_console.py --stack orderhub-prod --client-id <id> \\
        --authorize-url https://login.example.com/authorize --token-url https://login.example.com/token \\
        --logout-url https://login.example.com/logout        # your own identity provider (JwtIssuer)

Reads the stack's outputs (ConsoleBucketName, ConsoleDistributionId, ConsoleUrl, ApiUrl and, with
the stack's user pool, MerchantAppClientId and ConsoleAuthUrl), then:

1. uploads every file under console/ (dot files left out) with its Content-Type and
   Cache-Control (index.html: no-cache; the rest: max-age=300), index.html last, so a new page
   never names files not there yet;
2. writes config.json, what the console reads first: the API's URL and the sign-in endpoints
   (the user pool's hosted UI, or the --authorize-url/--token-url/--logout-url/--client-id of
   your own identity provider, which override the outputs);
3. deletes the bucket's objects that are no longer in console/ (the bucket holds the console only);
4. invalidates "/*" on the distribution, so the edge serves the new files at once.

Runs with the operator's AWS credentials; uses boto3 and the standard library only. Exit code 0
on success, 2 when something it needs is missing (the message says what), 1 when AWS refuses.
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import sys
import time
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
CONSOLE_DIR = REPO_ROOT / "console"
SAMCONFIG = REPO_ROOT / "samconfig.toml"

CONFIG_KEY = "config.json"  # written by this script, never uploaded from console/
INDEX_KEY = "index.html"
NO_CACHE_KEYS = (INDEX_KEY, CONFIG_KEY)  # ConsoleDistribution does not cache them either
ASSET_CACHE_CONTROL = "max-age=300"
SCOPE = "openid email profile"

# The stack's outputs the script reads (template.yaml, Outputs)
BUCKET_OUTPUT = "ConsoleBucketName"
DISTRIBUTION_OUTPUT = "ConsoleDistributionId"
URL_OUTPUT = "ConsoleUrl"
API_OUTPUT = "ApiUrl"
CLIENT_OUTPUT = "MerchantAppClientId"  # only with the stack's user pool
AUTH_OUTPUT = "ConsoleAuthUrl"  # only with the stack's user pool
REQUIRED_OUTPUTS = (BUCKET_OUTPUT, DISTRIBUTION_OUTPUT, URL_OUTPUT, API_OUTPUT)
OUTPUTS = (*REQUIRED_OUTPUTS, CLIENT_OUTPUT, AUTH_OUTPUT)

# A module script is refused unless served as JavaScript (and the distribution sends nosniff),
# so the types of the console's own files are fixed here rather than left to the platform.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".webp": "image/webp",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}


class PublishError(Exception):
    """Something the publish needs is missing; the message says what."""


# ------------------------------------------------------------------ pure parts (tests/unit)
def content_type(key: str) -> str:
    """The Content-Type of a console file, by its extension."""
    suffix = Path(key).suffix.lower()
    if suffix in CONTENT_TYPES:
        return CONTENT_TYPES[suffix]
    return mimetypes.guess_type(key)[0] or "application/octet-stream"


def cache_control(key: str) -> str:
    """no-cache for the page and its config (a republish is seen at once), a few minutes for the rest."""
    return "no-cache" if key in NO_CACHE_KEYS else ASSET_CACHE_CONTROL


def console_files(root: Path) -> dict[str, Path]:
    """Object key -> file of every file to upload, in upload order (index.html last). Dot files
    and directories are left out, and so is a config.json at the top (the script writes that)."""
    if not (root / INDEX_KEY).is_file():
        raise PublishError(f"{root} has no {INDEX_KEY}")
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or any(part.startswith(".") for part in rel.parts):
            continue
        key = rel.as_posix()
        if key != CONFIG_KEY:
            files[key] = path
    index = files.pop(INDEX_KEY)
    files[INDEX_KEY] = index
    return files


def stale_keys(existing: Iterable[str], published: Iterable[str]) -> list[str]:
    """The bucket's keys that are not published any more (config.json is always kept)."""
    keep = {*published, CONFIG_KEY}
    return sorted(k for k in existing if k not in keep)


def build_config(
    outputs: Mapping[str, str],
    *,
    authorize_url: str | None = None,
    token_url: str | None = None,
    logout_url: str | None = None,
    client_id: str | None = None,
    scope: str | None = None,
) -> dict[str, Any]:
    """config.json from the stack's outputs; each given argument overrides what the outputs say
    (an operator's own identity provider, where the stack has no user pool)."""
    api_url = (outputs.get(API_OUTPUT) or "").rstrip("/")
    if not api_url:
        raise PublishError(f"the stack has no {API_OUTPUT} output")
    auth_url = (outputs.get(AUTH_OUTPUT) or "").rstrip("/")
    auth = {
        "authorize_url": authorize_url or (auth_url and f"{auth_url}/oauth2/authorize"),
        "token_url": token_url or (auth_url and f"{auth_url}/oauth2/token"),
        "logout_url": logout_url or (auth_url and f"{auth_url}/logout"),
        "client_id": client_id or outputs.get(CLIENT_OUTPUT) or "",
        "scope": scope or SCOPE,
    }
    missing = [name for name, value in auth.items() if not value]
    if missing:
        flags = ", ".join("--" + name.replace("_", "-") for name in missing)
        raise PublishError(
            f"the stack has no user pool ({AUTH_OUTPUT}, {CLIENT_OUTPUT}): "
            f"give your identity provider's {flags}"
        )
    return {"api_url": api_url, "auth": auth}


def samconfig_defaults(path: Path, env: str) -> tuple[str | None, str | None]:
    """(stack_name, region) of a samconfig.toml environment; None for what it does not say."""
    if not path.is_file():
        return None, None
    config = tomllib.loads(path.read_text(encoding="utf-8")).get(env) or {}

    def param(command: str, name: str) -> str | None:
        return ((config.get(command) or {}).get("parameters") or {}).get(name)

    stack = param("deploy", "stack_name") or param("global", "stack_name")
    region = param("deploy", "region") or param("global", "region")
    return stack, region


# ------------------------------------------------------------------ AWS
def stack_outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    missing = [name for name in REQUIRED_OUTPUTS if not outputs.get(name)]
    if missing:
        raise PublishError(f"stack {stack} has no {', '.join(missing)} output (deploy template.yaml first)")
    return outputs


def bucket_keys(s3: Any, bucket: str) -> list[str]:
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys.extend(obj["Key"] for obj in page.get("Contents", []))
    return keys


def publish(
    s3: Any, cloudfront: Any, outputs: Mapping[str, str], files: Mapping[str, Path], config: dict, out=print
) -> dict[str, Any]:
    """Upload, write config.json, delete what is stale, invalidate; returns what was done."""
    bucket, distribution = outputs[BUCKET_OUTPUT], outputs[DISTRIBUTION_OUTPUT]
    uploads = [(key, path.read_bytes()) for key, path in files.items()]
    # config.json before index.html: the new page reads the new config
    uploads.insert(len(uploads) - 1, (CONFIG_KEY, (json.dumps(config, indent=2) + "\n").encode()))
    for key, body in uploads:
        s3.put_object(
            Bucket=bucket, Key=key, Body=body, ContentType=content_type(key), CacheControl=cache_control(key)
        )
        out(f"uploaded s3://{bucket}/{key} ({len(body)} bytes, {content_type(key)})")
    stale = stale_keys(bucket_keys(s3, bucket), files)
    for start in range(0, len(stale), 1000):  # DeleteObjects takes 1000 keys at most
        batch = stale[start : start + 1000]
        answer = s3.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
        )
        if answer.get("Errors"):
            raise PublishError(f"could not delete {answer['Errors'][:3]}")
    for key in stale:
        out(f"deleted s3://{bucket}/{key}")
    invalidation = cloudfront.create_invalidation(
        DistributionId=distribution,
        InvalidationBatch={
            "Paths": {"Quantity": 1, "Items": ["/*"]},
            "CallerReference": f"publish-console-{time.time_ns()}",
        },
    )["Invalidation"]
    out(f"invalidation {invalidation['Id']} of /* on {distribution} ({invalidation['Status']})")
    return {"uploaded": [k for k, _ in uploads], "deleted": stale, "invalidation": invalidation["Id"]}


# ------------------------------------------------------------------ command line
def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--config-env", default="default", help="the samconfig.toml environment naming the stack and region"
    )
    parser.add_argument("--stack", help="the stack's name (default: samconfig.toml's stack_name)")
    parser.add_argument("--region", help="default: samconfig.toml's region, else your AWS configuration's")
    parser.add_argument("--console-dir", type=Path, default=CONSOLE_DIR, help="default: console/")
    own = parser.add_argument_group("your own identity provider (override the stack's user pool)")
    own.add_argument("--authorize-url")
    own.add_argument("--token-url")
    own.add_argument("--logout-url")
    own.add_argument("--client-id")
    own.add_argument("--scope", help=f"default: {SCOPE}")
    args = parser.parse_args(argv)
    stack, region = samconfig_defaults(SAMCONFIG, args.config_env)
    args.stack = args.stack or stack
    args.region = args.region or region
    if not args.stack:
        parser.error(f"--stack is needed (samconfig.toml's [{args.config_env}] names no stack_name)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    session = boto3.session.Session(region_name=args.region)
    try:
        files = console_files(args.console_dir)
        outputs = stack_outputs(session.client("cloudformation"), args.stack)
        config = build_config(
            outputs,
            authorize_url=args.authorize_url,
            token_url=args.token_url,
            logout_url=args.logout_url,
            client_id=args.client_id,
            scope=args.scope,
        )
        publish(session.client("s3"), session.client("cloudfront"), outputs, files, config)
    except PublishError as exc:
        print(f"publish_console: {exc}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as exc:
        print(f"publish_console: {exc}", file=sys.stderr)
        return 1
    print(f"the console: {outputs[URL_OUTPUT]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
