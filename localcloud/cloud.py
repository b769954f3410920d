"""LocalCloud: the whole SAM application on this machine, no AWS account, no Docker.

moto's server runs in-process on a free loopback port and stands in for DynamoDB, SQS,
EventBridge, SNS and Step Functions; the template's handlers run in-process behind a local
HTTP API, SQS and DynamoDB stream pollers, and schedules.

    with LocalCloud(root=repo, state_dir=tmp) as cloud:
        requests.get(cloud.api_url + "/health")
"""

from __future__ import annotations

import collections
import hmac
import itertools
import json
import logging
import os
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from localcloud import iam, internals, limits, state, tokens
from localcloud import pollers as pollers_mod
from localcloud.console import ConsoleServer
from localcloud.fake_marketplace import FakeMarketplace
from localcloud.filters import parse_filters
from localcloud.functions import Functions
from localcloud.intrinsics import REGION, queue_arn
from localcloud.logs import KeptLogs, KeptMetrics
from localcloud.resources import Provisioned, provision, teardown
from localcloud.schedules import Scheduler, schedules_of
from localcloud.seed import MERCHANTS as SEEDED_MERCHANTS
from localcloud.seed import seed, write_config
from localcloud.server.http import ApiGateway, Authorizer, HttpServer, Router, build_cors, build_routes
from localcloud.stepfunctions import (
    create_state_machines,
    enable_executor,
    install_lambda_bridge,
    uninstall_lambda_bridge,
)
from localcloud.template import EventSource, FunctionDef, Template

log = logging.getLogger("localcloud")

CLIENT_SERVICES = ("dynamodb", "dynamodbstreams", "sqs", "events", "sns", "stepfunctions", "s3", "kms")
_SERVED_ELSEWHERE = ("HttpApi", "SQS", "DynamoDB", "Schedule", "ScheduleV2")
_instances = itertools.count(1)
_running_lock = threading.Lock()
_running: list[LocalCloud] = []  # started and not stopped; the last one is live, the others paused
NOTIFICATIONS_KEPT = 1000  # the most recent SNS notifications LocalCloud.notifications() returns
KEEP_DRAIN_SECONDS = 5  # keep=True: how long a stop waits for the queues before keeping the tables
# The Host names the /_local/* routes answer (the server listens on 127.0.0.1 only; a page that
# rebinds its own name to 127.0.0.1 still sends its name, and is refused).
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")
# The functions' allowlist of origins they may call whatever the address (orderhub.kernel.config):
# the local cloud names its fake marketplace there.
OUTBOUND_ALLOWED_ORIGINS = "OUTBOUND_ALLOWED_ORIGINS"


class LocalCloudError(RuntimeError):
    pass


class LocalCloud:
    def __init__(
        self,
        template_path: str | Path = "template.yaml",
        port: int = 0,
        root: str | Path | None = None,
        state_dir: str | Path | None = None,
        *,
        retry_seconds: int | None = None,
        parameter_overrides: dict[str, Any] | None = None,
        keep: bool = False,
        fresh: bool = False,
        console_port: int | None = None,
    ):
        """`keep`: keep the tables, KMS keys, signing key and admin token in `state_dir` across
        restarts (`make run`; localcloud/state.py); `fresh` with it: start without the kept data
        (it is replaced at stop)."""
        self.root = Path(root or Path.cwd()).resolve()
        self.template_path = (self.root / template_path).resolve()
        self.port = port
        # The console's own origin (localcloud/console.py): the port after the API's, or any free one
        self.console_port = console_port if console_port is not None else (port + 1 if port else 0)
        self.console: ConsoleServer | None = None
        self.state_dir = Path(state_dir).resolve() if state_dir else self.root / ".orderhub"
        if retry_seconds is None:
            retry_seconds = int(float(os.environ.get("ORDERHUB_LOCAL_RETRY_SECONDS", "1")))
        self.retry_seconds = retry_seconds
        self.parameter_overrides = parameter_overrides or {}
        self.keep = keep
        self.fresh = fresh
        self.namespace = f"_localcloud{next(_instances)}"

        self.template: Template | None = None
        self.functions: Functions | None = None
        self.enforcer: iam.Enforcer | None = None  # IAM: the functions' calls against their roles
        self.provisioned = Provisioned()
        self.state_machines: dict[str, str] = {}
        self.authorizers: dict[str, Authorizer] = {}
        self.config: dict[str, Any] = {}
        self.environment: dict[str, str] = {}  # what the functions see (besides the AWS_* variables)
        self.config_path: Path | None = None
        self.moto_endpoint = ""
        self.identity = tokens.IdentityProvider()  # signs the local tokens; its JWKS checks them
        self.admin_token = ""  # the /_local/* routes' credential, in local.json (0600) only
        self._keeper: state.Keeper | None = None  # keep=True: what a restart keeps
        self._clients: dict[str, Any] = {}
        self._moto: Any = None
        self._unroute: Callable[[], None] | None = None
        self._http: HttpServer | None = None
        self._pollers = pollers_mod.Pollers()
        self._scheduler: Scheduler | None = None
        self._saved_env: dict[str, str | None] = {}
        self._added_paths: list[str] = []
        self._started = False
        self._outer: LocalCloud | None = None
        self.fake_marketplace: FakeMarketplace | None = None  # marketplace APIs (fake_marketplace.py)
        self._notifications: collections.deque[dict] = collections.deque(maxlen=NOTIFICATIONS_KEPT)
        self._notifications_lock = threading.Lock()
        self._notification_taps: list[tuple[str, str]] = []  # (subscription ARN, internal queue URL)
        self._kept_logs: KeptLogs | None = None  # the functions' log lines (logs())
        self.kept_metrics = KeptMetrics()  # the functions' metrics (metrics())

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> LocalCloud:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        if self._http is None:
            raise LocalCloudError("not started")
        return self._http.url

    def start(self) -> LocalCloud:
        """Start everything; returns once the API answers. A LocalCloud started while another
        runs in this process pauses that one until it stops (moto's state, os.environ and the
        handlers' modules are per process, so only one can be live at a time)."""
        with _running_lock:
            if self in _running:
                raise LocalCloudError("already started")
            self._outer = _running[-1] if _running else None
            if self._outer is not None:
                log.info("pausing the local cloud at %s while this one runs", self._outer.api_url)
                self._outer._pause()
            _running.append(self)
        started = time.monotonic()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self._started = True
        log.info("local cloud ready in %.1fs", time.monotonic() - started)
        return self

    @property
    def endpoint_url(self) -> str:
        """moto's endpoint (boto3 clients for tests and tools: endpoint_url=cloud.endpoint_url)."""
        return self.moto_endpoint

    def physical_name(self, logical_id: str) -> str:
        """The local name of a template resource (table, queue, bus...)."""
        if self.template is None:
            raise LocalCloudError("not started")
        return self.template.resolver.physical_name(logical_id)

    def _start(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request lines
        self._pollers = pollers_mod.Pollers()
        template = self.template = Template(self.template_path, self.parameter_overrides)
        self._start_moto()
        self._set_env(
            {
                "AWS_ENDPOINT_URL": self.moto_endpoint,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                "AWS_SESSION_TOKEN": None,
                "AWS_PROFILE": None,
                "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": None,
            }
        )
        import boto3

        self._clients = {
            s: boto3.client(s, endpoint_url=self.moto_endpoint, region_name=REGION) for s in CLIENT_SERVICES
        }
        self.provisioned = provision(template, self._clients, exclusive=self._outer is not None)
        self.admin_token = state.new_admin_token()
        if self.keep and self._outer is not None:
            log.warning("another local cloud runs in this process: this one keeps nothing")
        elif self.keep:  # before the functions' environment: the kept KMS keys' ids are in it
            self.identity, self.admin_token = state.identity(self.state_dir)
            self._keeper = state.Keeper(self.state_dir, restore=not self.fresh)
            self._keeper.restore_keys(template, self.provisioned)

        defs = template.functions()  # after provisioning: events see real queue URLs and stream ARNs
        env = template.environment()
        env["ORDERHUB_LOCAL"] = "1"
        env.setdefault("POWERTOOLS_TRACE_DISABLED", os.environ.get("POWERTOOLS_TRACE_DISABLED", "true"))
        self.environment = dict(env)
        self._kept_logs = KeptLogs(env.get("POWERTOOLS_SERVICE_NAME") or "service_undefined")
        self._kept_logs.install()
        hidden = {k: None for k in (self._outer.environment if self._outer else {}) if k not in env}
        self._set_env({**hidden, **env})  # a paused outer cloud's variables must not leak in
        for layer in template.layer_dirs():
            if str(layer) not in sys.path:
                sys.path.insert(0, str(layer))
                self._added_paths.append(str(layer))
        _reset_layer_caches()
        self.kept_metrics.install()  # once the layer is importable

        self.enforcer = iam.Enforcer(iam.roles(template), {lid: fn.name for lid, fn in defs.items()})
        iam.install()
        limits.install()
        self.functions = Functions(defs, namespace=self.namespace, enforcer=self.enforcer)
        install_lambda_bridge(self.functions)
        self.state_machines = create_state_machines(template, self._clients["stepfunctions"])

        console_dir = self.root / "console"
        if console_dir.is_dir() and "ConsoleDistribution" in template.resources():
            # The console's origin stands in for the distribution: the API's CORS names it.
            self.console = ConsoleServer(console_dir, port=self.console_port)
            template.resolver.set_attribute(
                "ConsoleDistribution", "DomainName", f"127.0.0.1:{self.console.port}"
            )
        routes, self.authorizers = build_routes(template)
        gateway = ApiGateway(
            Router(routes), self.identity.jwks, self.invoke, self._admin, cors=build_cors(template)
        )
        self._http = HttpServer(gateway, port=self.port)

        self.fake_marketplace = FakeMarketplace().start()  # before seeding: profiles carry its URL
        # The functions may call the fake (http, on 127.0.0.1) only because its exact origin is
        # named here; deployed, the variable is not set (docs/sync-flows.md, "Outbound URLs").
        self.environment[OUTBOUND_ALLOWED_ORIGINS] = self.fake_marketplace.url
        self._set_env({OUTBOUND_ALLOWED_ORIGINS: self.fake_marketplace.url})
        _reset_layer_caches()
        if self._keeper is not None:  # before seeding: the demo merchants keep their secrets
            self._keeper.restore_tables(self.provisioned, self.fake_marketplace.url)
        issuer, audience = self._merchant_issuer_audience()
        warehouse = self.authorizers.get("WarehouseAuthorizer")
        self.config = seed(
            template,
            self.identity.issue,
            self._http.url,
            default_issuer=issuer,
            default_audience=audience,
            warehouse_audience=next(iter(warehouse.audiences), None) if warehouse else None,
            fake_marketplace_url=self.fake_marketplace.url,
        )
        # Tools in another terminal (aws CLI, scripts/redrive.py, scripts/onboard.py) reach
        # moto's services here.
        self.config["aws_endpoint_url"] = self.moto_endpoint
        # The public keys the local JWT authorizers check tokens with (the issuer's jwks_uri).
        self.config["jwks_url"] = f"{self._http.url}/_local/.well-known/jwks.json"
        if env.get("TABLE_NAME"):
            self.config["table_name"] = env["TABLE_NAME"]  # scripts/onboard.py --local
        # The credential of the /_local/* routes (but the JWKS): whoever can read this file.
        self.config["admin_token"] = self.admin_token
        if self.console is not None:
            self.console.configure(
                self._http.url,
                audience,
                [{"merchant_id": m, "name": name} for m, name in SEEDED_MERCHANTS],
                self._console_token,
            )
            self.config["console_url"] = self.console.url
        self.config_path = write_config(self.state_dir, self.config)

        self._build_pollers(defs)
        self._build_notifications()
        self._scheduler = Scheduler(
            schedules_of(defs),
            self.invoke,
            retries=lambda lid: int(self._invoke_config(defs[lid]).get("MaximumRetryAttempts", 2)),
            on_failure=self._async_failure,
        )
        self._http.start()
        if self.console is not None:
            self.console.start()
        self._pollers.start()
        self._scheduler.start()

    def _start_moto(self) -> None:
        from localcloud.moto_server import InProcessRoute, KeepAliveMotoServer

        internals.assert_supported()  # moto or Powertools changed under us: fail here, loudly
        internals.patch_moto()
        app = local_requests_only(
            serialize_data_requests(internals.dispatch_without_flask(internals.moto_wsgi_app()))
        )
        self._moto = KeepAliveMotoServer(app)
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        self.moto_endpoint = f"http://{host}:{port}"
        # this process's clients (the functions', the pollers') call the same app without a socket
        self._unroute = internals.on_default_session(
            "before-send", InProcessRoute(app, self.moto_endpoint), unique_id=f"localcloud-moto-{port}"
        )
        if self._outer is None:
            self._moto_api("reset")  # moto's backends are per process: start from nothing
        self._saved_env.setdefault("MOTO_PORT", os.environ.get("MOTO_PORT"))
        enable_executor(self.moto_endpoint, port)

    def _moto_api(self, action: str, payload: dict | None = None) -> None:
        data = json.dumps(payload).encode() if payload is not None else b""
        req = urllib.request.Request(f"{self.moto_endpoint}/moto-api/{action}", data=data, method="POST")
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()

    def stop(self) -> None:
        """Stop schedules, pollers, the HTTP server and moto; restore the process environment.
        With `keep`, what the queues still hold is first given a few seconds to land, and the
        tables and keys are then kept in the state directory."""
        keeper = self._keeper if self._started else None
        self._keeper = None
        fake_url = self.fake_marketplace.url if keeper and self.fake_marketplace is not None else None
        if keeper is not None:
            try:
                self.drain(timeout=KEEP_DRAIN_SECONDS)
            except TimeoutError:
                log.warning("queues not empty after %ss: their messages are not kept", KEEP_DRAIN_SECONDS)
        if self._scheduler is not None:
            self._scheduler.stop()
        self._pollers.stop()
        if self._kept_logs is not None:
            self._kept_logs.uninstall()
        self.kept_metrics.uninstall()
        if self._http is not None:
            self._http.stop()
        if self.console is not None:
            self.console.stop()
            self.console = None
        if self.fake_marketplace is not None:
            self.fake_marketplace.stop()
        if self.functions is not None:
            uninstall_lambda_bridge(self.functions)
        if keeper is not None:
            try:
                keeper.save(self.provisioned, self._clients["dynamodb"], fake_url)
            except Exception:
                log.exception("keeping the data in %s failed", self.state_dir)
        if self._moto is not None:
            try:
                if self._outer is None:
                    self._moto_api("config", {"stepfunctions": {"execute_state_machine": False}})
                    self._moto_api("reset")
                else:  # the paused outer cloud shares moto's backends: remove only what we made
                    self._remove_notification_taps()
                    teardown(self.provisioned, self.state_machines, self._clients)
            except Exception as exc:
                log.warning("cleaning up moto failed: %s", exc)
            if self._unroute is not None:
                self._unroute()
                self._unroute = None
            self._moto.stop()
            self._moto = None
        for key, value in reversed(list(self._saved_env.items())):
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()
        for path in self._added_paths:
            if path in sys.path:
                sys.path.remove(path)
        self._added_paths.clear()
        if self.functions is not None:
            self.functions.unload()
        _reset_layer_caches()
        with _running_lock:
            if self in _running:
                _running.remove(self)
            outer, self._outer = self._outer, None
            if outer is not None and outer in _running:
                outer._resume()
        if self._started:
            log.info("local cloud stopped")
        self._started = False

    def _pause(self) -> None:
        if self._http is not None:
            self._http.gateway.paused = True
        if self._scheduler is not None:
            self._scheduler.paused = True
        self._pollers.pause()

    def _resume(self) -> None:
        _reset_layer_caches()
        self._pollers.resume()
        if self._scheduler is not None:
            self._scheduler.paused = False
        if self._http is not None:
            self._http.gateway.paused = False
        log.info("local cloud at %s resumed", self.api_url)

    def _set_env(self, values: dict[str, str | None]) -> None:
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    # ------------------------------------------------------------------ event sources
    def _build_pollers(self, defs: dict[str, FunctionDef]) -> None:
        for fn in defs.values():
            for event in fn.events:
                if event.properties.get("Enabled") is False:
                    log.info("%s.%s is disabled", fn.logical_id, event.name)
                elif event.type == "SQS":
                    self._pollers.sqs.append(self._sqs_poller(fn, event))
                elif event.type == "DynamoDB":
                    self._pollers.streams.append(self._stream_poller(fn, event))
                elif event.type not in _SERVED_ELSEWHERE:
                    log.warning(
                        "%s.%s: event type %s is not run locally", fn.logical_id, event.name, event.type
                    )

    def _sqs_poller(self, fn: FunctionDef, event: EventSource) -> pollers_mod.SqsPoller:
        props = event.properties
        arn = props["Queue"]
        url = self.provisioned.queue_urls_by_arn.get(arn)
        if url is None:
            raise LocalCloudError(f"{fn.logical_id}.{event.name}: queue {arn} is not in the template")
        return pollers_mod.SqsPoller(
            sqs=self._clients["sqs"],
            function_id=fn.logical_id,
            event_name=event.name,
            queue_url=url,
            queue_arn=arn,
            batch_size=int(props.get("BatchSize", 10)),
            report_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
            patterns=parse_filters(props.get("FilterCriteria")),
            retry_seconds=self.retry_seconds,
            invoke=self.invoke,
            stop=self._pollers.stop_event,
            pause=self._pollers.pause_event,
        )

    def _stream_poller(self, fn: FunctionDef, event: EventSource) -> pollers_mod.StreamPoller:
        props = event.properties
        on_failure = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        on_failure_url = self.provisioned.queue_urls_by_arn.get(on_failure) if on_failure else None
        if on_failure and on_failure_url is None:
            log.warning(
                "%s.%s: on-failure destination %s is not a template queue",
                fn.logical_id,
                event.name,
                on_failure,
            )
        return pollers_mod.StreamPoller(
            streams=self._clients["dynamodbstreams"],
            sqs=self._clients["sqs"],
            function_id=fn.logical_id,
            function_arn=fn.arn,
            event_name=event.name,
            stream_arn=props["Stream"],
            batch_size=int(props.get("BatchSize", 100)),
            starting_position=props.get("StartingPosition", "TRIM_HORIZON"),
            max_retries=int(props.get("MaximumRetryAttempts", -1)),
            bisect=bool(props.get("BisectBatchOnFunctionError", False)),
            report_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
            patterns=parse_filters(props.get("FilterCriteria")),
            on_failure_url=on_failure_url,
            retry_seconds=self.retry_seconds,
            invoke=self.invoke,
            stop=self._pollers.stop_event,
            pause=self._pollers.pause_event,
            window=float(props.get("MaximumBatchingWindowInSeconds", 0)),
            draining=self._pollers.draining,
        )

    # ------------------------------------------------------------------ SNS notifications
    def _build_notifications(self) -> None:
        """Tap every template topic: an internal SQS queue subscribed to it, read by a poller that
        prints each notification and keeps it for notifications()."""
        sqs, sns = self._clients["sqs"], self._clients["sns"]
        for lid, topic_arn in self.provisioned.topics.items():
            name = f"{self.namespace}-notify-{lid}"[:80]
            url = sqs.create_queue(QueueName=name)["QueueUrl"]
            sub = sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn(name))
            self._notification_taps.append((sub["SubscriptionArn"], url))
            self._pollers.notifications.append(
                pollers_mod.NotificationPoller(
                    sqs=sqs,
                    topic_id=lid,
                    topic_arn=topic_arn,
                    queue_url=url,
                    sink=self._on_notification,
                    stop=self._pollers.stop_event,
                    pause=self._pollers.pause_event,
                )
            )

    def _remove_notification_taps(self) -> None:
        for subscription_arn, url in self._notification_taps:
            self._clients["sns"].unsubscribe(SubscriptionArn=subscription_arn)
            self._clients["sqs"].delete_queue(QueueUrl=url)
        self._notification_taps.clear()

    def _on_notification(self, notification: dict) -> None:
        with self._notifications_lock:
            self._notifications.append(notification)
        attrs = " ".join(f"{k}={v}" for k, v in sorted(notification["message_attributes"].items()))
        line = f"[notification] {notification['topic']} {notification['subject'] or '(no subject)'}"
        print(line + (f"  ({attrs})" if attrs else "") + "\n  " + notification["message"], flush=True)

    def notifications(self, topic: str | None = None) -> list[dict]:
        """SNS notifications published to the template's topics so far, oldest first (the last
        1000): {"topic" (logical id), "topic_arn", "message_id", "timestamp", "subject",
        "message" (as published), "message_attributes" ({name: value})}. drain() first to
        include what was just published."""
        with self._notifications_lock:
            kept = list(self._notifications)
        return [n for n in kept if topic is None or n["topic"] == topic]

    def metrics(self, name: str, **dimensions: str) -> float:
        """The sum of metric `name` the functions wrote since the start (kernel/metrics.py), over
        the rows whose dimensions include `dimensions` (kept_metrics.snapshot() has every row)."""
        rows = self.kept_metrics.snapshot()
        return sum(
            r["value"]
            for r in rows
            if r["name"] == name and all(r["dimensions"].get(k) == v for k, v in dimensions.items())
        )

    def logs(self, correlation_id: str | None = None) -> list[dict]:
        """The functions' log lines so far (the last 20,000), oldest first, as Powertools printed
        them (JSON); with `correlation_id`, the lines that carry it (localcloud/logs.py). drain()
        first to include what queued work is still to log."""
        return self._kept_logs.lines(correlation_id) if self._kept_logs is not None else []

    def clear_notifications(self) -> None:
        with self._notifications_lock:
            self._notifications.clear()

    def _default_authorizer(self) -> Authorizer | None:
        assert self.template is not None
        for lid in self.template.resources("AWS::Serverless::HttpApi"):
            auth = self.template.properties(lid).get("Auth") or {}
            name = auth.get("DefaultAuthorizer")
            if name in self.authorizers:
                return self.authorizers[name]
        return next(iter(self.authorizers.values()), None)

    # ------------------------------------------------------------------ API for tests and tools
    def invoke(self, logical_id: str, event: Any) -> Any:
        """Run a function's handler in-process with this event (a JSON copy) and return its result."""
        if self.functions is None:
            raise LocalCloudError("not started")
        return self.functions.invoke(logical_id, event)

    def fire(self, logical_id: str) -> Any:
        """Run a function's schedule now and return the handler's result."""
        if self._scheduler is None:
            raise LocalCloudError("not started")
        return self._scheduler.fire(logical_id)

    def run_schedule(self, logical_id: str) -> bool:
        """Run a function's schedule now as EventBridge would (an asynchronous invocation: retried,
        then handed to the function's on-failure destination); True when a run succeeded."""
        if self._scheduler is None:
            raise LocalCloudError("not started")
        schedule = next((s for s in self._scheduler.schedules if s.function_id == logical_id), None)
        if schedule is None:
            raise KeyError(logical_id)
        return self._scheduler.run_scheduled(schedule)

    def table_items(self, logical_id: str = "OrdersTable") -> list[dict]:
        """Every item of a template table, as a Scan would return them, read from moto in this
        process between two DynamoDB requests (tests' "nothing changed" snapshots)."""
        with _SERIALIZED_TARGETS["DynamoDB_20120810"]:
            return internals.table_items(self.provisioned.tables[logical_id])

    def drain(self, timeout: float = 10) -> None:
        """Wait until the event-source queues are empty and the stream pollers are caught up;
        TimeoutError if that does not happen within timeout seconds."""
        self._pollers.drain(timeout)

    def issue_token(self, claims: dict[str, Any]) -> str:
        """Sign any claims as the local identity provider (tests use it for expired or
        wrong-audience tokens)."""
        return self.identity.issue(claims)

    def client(self, service: str) -> Any:
        """A boto3 client on the local moto."""
        import boto3

        return self._clients.get(service) or boto3.client(
            service, endpoint_url=self.moto_endpoint, region_name=REGION
        )

    def _admin(
        self, method: str, path: str, query: dict[str, str], headers: list[tuple[str, str]]
    ) -> tuple[int, Any] | None:
        """The /_local/* routes. Each answers a request named to this machine only (Host and, from
        a browser, Origin: 127.0.0.1, localhost or [::1]; a foreign page or a DNS-rebound name is
        refused), and each but the JWKS (public keys, as the issuer's jwks_uri) needs the admin
        token of local.json: `Authorization: Bearer <admin_token>` (docs/local-cloud.md)."""
        parts = path.strip("/").split("/")  # ["_local", ...]
        held = {name.lower(): value for name, value in headers}
        if not _local_name(held.get("host", "")) or ("origin" in held and not _local_origin(held["origin"])):
            return 403, _admin_error(
                "forbidden", "the local routes answer requests to 127.0.0.1 or localhost only", "Host"
            )
        if not (method == "GET" and parts[1:] == [".well-known", "jwks.json"]):
            given = held.get("authorization", "")
            given = given[7:].strip() if given[:7].lower() == "bearer " else ""
            if not (self.admin_token and hmac.compare_digest(given.encode(), self.admin_token.encode())):
                return 401, _admin_error(
                    "unauthorized",
                    "this local route needs the admin token: Authorization: Bearer "
                    "<admin_token of local.json>",
                )
        if method == "POST" and len(parts) == 3 and parts[1] == "schedules":
            try:
                return 200, self.fire(parts[2])
            except KeyError:
                return 404, {"error": {"code": "not_found", "message": f"{parts[2]} has no schedule"}}
            except Exception as exc:
                return 500, {"error": {"code": "function_error", "message": f"{type(exc).__name__}: {exc}"}}
        if method == "POST" and parts[1:] == ["drain"]:
            try:
                self.drain(float(query.get("timeout", 10)))
            except TimeoutError as exc:
                return 504, {"drained": False, "message": str(exc)}
            return 200, {"drained": True}
        if method == "GET" and parts[1:] == ["config"]:
            return 200, self.config
        if method == "GET" and parts[1:] == ["metrics"]:
            return 200, {"metrics": self.kept_metrics.snapshot()}
        if method == "GET" and parts[1:] == ["logs"]:
            return 200, {"lines": self.logs(query.get("correlation_id") or None)}
        if method == "GET" and parts[1:] == [".well-known", "jwks.json"]:
            return 200, self.identity.jwks()
        if method == "POST" and len(parts) == 4 and parts[1:3] == ["tokens", "merchant"]:
            return 200, {"merchant_id": parts[3], "token": self.merchant_token(parts[3])}
        return None

    def _invoke_config(self, fn: FunctionDef) -> dict:
        """The function's EventInvokeConfig (asynchronous retries and destinations), resolved."""
        assert self.template is not None
        return self.template.resolve(fn.properties.get("EventInvokeConfig") or {})

    def _async_failure(self, schedule: Any, event: Any, exc: Exception, attempts: int) -> None:
        """An asynchronous invocation that failed its retries goes to the function's on-failure
        destination (an SQS queue), as the record Lambda sends; without one it is only logged."""
        assert self.functions is not None
        fn = self.functions.get(schedule.function_id)
        on_failure = (self._invoke_config(fn).get("DestinationConfig") or {}).get("OnFailure") or {}
        destination = on_failure.get("Destination")
        url = self.provisioned.queue_urls_by_arn.get(str(destination)) if destination else None
        if url is None:
            log.error("%s failed %d times; it has no on-failure queue", schedule.function_id, attempts)
            return
        record = {
            "version": "1.0",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"{fn.arn}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": attempts,
            },
            "requestPayload": event,
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "responsePayload": {"errorMessage": str(exc), "errorType": type(exc).__name__},
        }
        self._clients["sqs"].send_message(QueueUrl=url, MessageBody=json.dumps(record, default=str))
        log.error("%s failed %d times; recorded in its on-failure queue", schedule.function_id, attempts)

    def merchant_token(self, merchant_id: str) -> str:
        """A merchant token for `merchant_id`, as the identity provider would issue it (the local
        cloud stands in for it: `POST /_local/tokens/merchant/{merchant_id}`)."""
        from localcloud.seed import merchant_claims

        if self.template is None:
            raise LocalCloudError("not started")
        return self.identity.issue(merchant_claims(merchant_id, *self._merchant_issuer_audience()))

    def _console_token(self, merchant_id: str, seconds: int) -> str:
        """The ID token the local sign-in gives a merchant (as the user pool would, for `seconds`)."""
        from localcloud.seed import merchant_claims

        claims = merchant_claims(merchant_id, *self._merchant_issuer_audience())
        claims["exp"] = claims["iat"] + seconds
        claims.setdefault("email", f"{merchant_id}@example.com")
        return self.identity.issue(claims)

    def _merchant_issuer_audience(self) -> tuple[str, str]:
        """The issuer and audience the template's default authorizer checks (placeholders when
        the template has none)."""
        default = self._default_authorizer()
        issuer = default.issuer if default else "https://auth.example.com/"
        audience = default.audiences[0] if default and default.audiences else "orderhub-merchant"
        return issuer, audience

    def banner(self) -> str:
        assert self.template is not None and self._http is not None
        lines = ["", f"orderhub local cloud  {self.api_url}"]
        if self.console is not None:
            lines.append(f"merchant console     {self.console.url}  (sign in as a seeded merchant)")
        lines += ["", "Routes:"]
        for route in self._http.gateway.router.routes:
            auth = route.authorizer.name if route.authorizer else "open"
            lines.append(f"  {route.method:6} {route.path:45} -> {route.function_id} [{auth}]")
        lines.append("")
        if self._pollers.sqs or self._pollers.streams:
            lines.append("Event sources:")
            for p in self._pollers.sqs:
                lines.append(f"  SQS {p.queue_name} -> {p.function_id}")
            for p in self._pollers.streams:
                lines.append(f"  stream {p.table} -> {p.function_id}")
        if self._scheduler and self._scheduler.schedules:
            lines.append("Schedules (fire now: python -m localcloud fire <Function>):")
            for s in self._scheduler.schedules:
                lines.append(f"  {s.expression} -> {s.function_id}")
        for lid in self.state_machines:
            lines.append(f"State machine: {lid}")
        if self._pollers.notifications:
            topics = ", ".join(p.topic_id for p in self._pollers.notifications)
            lines.append(
                f"SNS topics (notifications printed here as [notification] <Topic> <subject>): {topics}"
            )
        lines.append("")
        lines.append("Merchants: " + ", ".join(m["merchant_id"] for m in self.config.get("merchants", [])))
        lines.append(f"Tokens and webhook secrets: {self.config_path}")
        if self.fake_marketplace is not None:
            lines.append(
                f"Fake marketplace APIs: {self.fake_marketplace.url}/<marketplace>  (control: /_control/...)"
            )
        lines.append("")
        return "\n".join(lines)


def _admin_error(code: str, message: str, field: str = "Authorization") -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field}}


def _local_name(host: str) -> bool:
    """Whether a Host header (or an origin's host) names this machine, with or without a port."""
    host = host.strip().lower()
    name = host[: host.find("]") + 1] if host.startswith("[") else host.partition(":")[0]  # [::1]:3000
    port = host[len(name) :]
    return name in LOCAL_HOSTS and (port == "" or (port[:1] == ":" and port[1:].isdigit()))


def _local_origin(origin: str) -> bool:
    scheme, _, rest = origin.strip().partition("://")
    return scheme.lower() in ("http", "https") and _local_name(rest)


# moto's DynamoDB backend is not safe under concurrent requests (a transaction can interleave
# with another write and lose an update, or a read can see a half-applied transaction), so
# DynamoDB and DynamoDB Streams requests are served one at a time, as the real service's
# atomicity promises. Other services stay concurrent: SQS long polls must not block senders,
# and Lambda invokes from Step Functions call back into DynamoDB.
_SERIALIZED_TARGETS = {
    "DynamoDB_20120810": threading.Lock(),
    "DynamoDBStreams_20120810": threading.Lock(),
}


def serialize_data_requests(app):
    def wsgi(environ, start_response):
        target = environ.get("HTTP_X_AMZ_TARGET", "").split(".", 1)[0]
        lock = _SERIALIZED_TARGETS.get(target)
        if lock is None:
            return app(environ, start_response)
        with lock:
            return list(app(environ, start_response))  # the whole body, before the lock is let go

    return wsgi


def local_requests_only(app):
    """moto's app answers requests named to this machine only. Its server allows every origin
    (CORS), and it asks no credential: a page on any site could otherwise read the tables or
    have KMS decrypt the sealed secrets, from its own origin or through a name it rebinds to
    127.0.0.1. A request whose Host is not this machine, or that carries a foreign Origin, is
    refused (403); botocore's requests (the functions', the tools') carry neither."""

    def wsgi(environ, start_response):
        host = environ.get("HTTP_HOST", "")
        origin = environ.get("HTTP_ORIGIN")
        named_here = _local_name(host) or host.partition(":")[0].lower().endswith(".localhost")
        if not named_here or (origin is not None and not _local_origin(origin)):
            body = json.dumps({"message": "the local cloud answers requests to 127.0.0.1 only"}).encode()
            start_response(
                "403 Forbidden", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            )
            return [body]
        return app(environ, start_response)

    return wsgi


def _reset_layer_caches() -> None:
    """The shared layer caches clients, settings, profiles and mappings per process (see
    orderhub/kernel/caches.py); each app starts fresh. Not imported yet: nothing is cached."""
    caches = sys.modules.get("orderhub.kernel.caches")
    if caches is not None:
        caches.reset()
