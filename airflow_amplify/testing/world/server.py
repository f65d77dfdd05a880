"""The local AWS world: one loopback HTTP endpoint in front of moto and the Amplify emulator.

Requests are told apart the way AWS tells them apart:

- signed requests whose SigV4 credential scope names the ``amplify`` service go to the Amplify
  emulator; every other signed request goes to moto (CloudFormation, STS, S3, SSM, IAM, SNS, ...);
- ``POST /prod/webhooks?id=..&token=..&operation=startbuild`` is the incoming-webhook endpoint;
- ``/_amplify-logs/...`` serves step logs (the jobs' ``logUrl``), ``/_amplify-uploads/...`` takes
  manual-deployment zips (the ``zipUploadUrl``);
- ``/_world/...`` is the control API (scripts, faults, request log, reset).

Accounts are resolved from the access key exactly as moto resolves them, so credentials obtained
by AssumeRole into another account see only that account's apps, stacks and parameters.
"""

from __future__ import annotations

import ast
import io
import json
import re
import socket
import threading
import time
import uuid
from dataclasses import asdict
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape, unescape

from airflow_amplify.testing.amplify.exceptions import AmplifyError, NotFoundException
from airflow_amplify.testing.amplify.models import AmplifyBackend, BuildScript, Clock
from airflow_amplify.testing.amplify.responses import ROUTES, AmplifyResponses, error_response, parse_query
from airflow_amplify.testing.world.cloudformation import StackOverlay
from airflow_amplify.testing.world.events import EventPublisher, WorldTicker
from airflow_amplify.testing.world.faults import FaultInjector, FaultRule, fault_response

DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"

_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
_SECRET_QUERY = re.compile(
    r"(token|X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token)=[^&]*", re.IGNORECASE
)


def redact(path: str) -> str:
    """A request path with every credential-like query value replaced."""
    return _SECRET_QUERY.sub(lambda m: f"{m.group(1)}=REDACTED", path)


class RequestLog:
    """Every request the world answered, in order, with secrets redacted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.entries: list[dict[str, Any]] = []

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            entry["seq"] = len(self.entries) + 1
            self.entries.append(entry)

    def clear(self) -> None:
        with self._lock:
            self.entries = []

    def query(self, **filters: str) -> list[dict[str, Any]]:
        with self._lock:
            entries = list(self.entries)
        return [
            e for e in entries if all(v in (None, "") or str(e.get(k)) == str(v) for k, v in filters.items())
        ]


def _response(start_response, status: int, body: bytes | str, headers: dict[str, str] | None = None):
    if isinstance(body, str):
        body = body.encode()
    reason = {200: "OK", 204: "No Content", 400: "Bad Request", 403: "Forbidden", 404: "Not Found"}
    header_list = [("Content-Length", str(len(body)))]
    header_list += list((headers or {"Content-Type": "application/json"}).items())
    header_list.append(("x-amzn-RequestId", str(uuid.uuid4())))
    start_response(f"{status} {reason.get(status, 'Error')}", header_list)
    return [body]


def _json(start_response, status: int, data: Any):
    return _response(
        start_response, status, json.dumps(data, default=str), {"Content-Type": "application/json"}
    )


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _moto_operation(environ: dict[str, Any], body: bytes) -> str | None:
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.rsplit(".", 1)[-1]
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if "Action" in query:
        return query["Action"][0]
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded") and body:
        form = parse_qs(body.decode("utf-8", "replace"))
        if "Action" in form:
            return form["Action"][0]
    return None


def _fix_template_summary_metadata(body: bytes) -> bytes:
    """Real CloudFormation returns GetTemplateSummary ``Metadata`` as JSON; moto 5.2 sends a Python repr."""
    match = re.search(rb"<Metadata>(.*?)</Metadata>", body, re.DOTALL)
    if not match:
        return body

    text = unescape(match.group(1).decode())
    try:
        json.loads(text)
        return body
    except ValueError:
        pass
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return body
    fixed = escape(json.dumps(value, separators=(",", ":"))).encode()
    return body[: match.start(1)] + fixed + body[match.end(1) :]


class WorldApp:
    """The WSGI application behind the world's single endpoint."""

    def __init__(self, base_url: str = "http://127.0.0.1"):
        from moto.moto_server.werkzeug_app import (  # moto is heavy: loaded when the world starts
            DomainDispatcherApplication,
            create_backend_app,
        )

        self.clock = Clock()
        self.amplify = AmplifyBackend(self.clock, base_url)
        self.amplify_responses = AmplifyResponses(self.amplify)
        self.faults = FaultInjector()
        self.requests = RequestLog()
        self.stacks = StackOverlay(now=self.clock.now)
        self.events = EventPublisher(self.faults)
        self.ticker = WorldTicker(self.amplify, self.stacks, self.events)
        self.moto = DomainDispatcherApplication(create_backend_app)

    @property
    def base_url(self) -> str:
        return self.amplify.base_url

    @base_url.setter
    def base_url(self, value: str) -> None:
        self.amplify.base_url = value

    def reset(self) -> None:
        """Forget everything: Amplify state, moto state, fault rules, the request log, the clock's speed."""
        from moto.moto_api._internal.models import (
            moto_api_backend,  # moto is heavy: loaded when the world starts
        )

        moto_api_backend.reset()
        self.amplify.reset()
        self.faults.clear()
        self.requests.clear()
        self.stacks.reset()
        self.events.reset()
        self.ticker.reset()
        self.clock.reset()
        from airflow_amplify.testing.world import cfn_resources  # moto's CloudFormation only when used

        cfn_resources.clear_skipped()

    # --- WSGI -------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_world/"):
            return self._control(environ, start_response)

        raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI") or path
        raw_path = raw_uri.split("?", 1)[0]
        method = environ["REQUEST_METHOD"]
        body = _read_body(environ)
        entry: dict[str, Any] = {
            "time": time.time(),
            "method": method,
            "path": redact(raw_uri),
            "account_id": None,
            "region": None,
            "client": " ".join(environ.get("HTTP_USER_AGENT", "").split()[:1]),
        }
        scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        route = None
        if scope:
            from moto.iam.models import get_account_id_from  # moto is heavy: loaded when the world starts

            access_key, region, service = scope.groups()
            entry.update(service=service, region=region, account_id=get_account_id_from(access_key))
            if service == "amplify":
                route = ROUTES.match(method, raw_path)
                entry["operation"] = route[0] if route else None
                if route:
                    entry.update({_snake(k): v for k, v in route[1].items()})
            else:
                entry["operation"] = _moto_operation(environ, body)
        elif raw_path == "/prod/webhooks":
            query = parse_qs(environ.get("QUERY_STRING", ""))
            entry.update(service="amplify-webhooks", operation=(query.get("operation") or [None])[0])
            entry["webhook_id"] = (query.get("id") or [None])[0]
        elif raw_path.startswith("/_amplify-logs/"):
            entry.update(service="amplify-logs", operation="GetStepLog")
        elif raw_path.startswith("/_amplify-uploads/"):
            entry.update(service="amplify-uploads", operation="PutDeploymentZip")
        else:
            entry.update(service="s3", operation=None)  # unsigned requests: presigned S3 URLs, moto-api

        status_box: list[int] = []

        def recording_start_response(status: str, headers, exc_info=None):
            status_box.append(int(status.split()[0]))
            # One Server header, as AWS sends: moto adds its own to the WSGI server's, and a strict HTTP
            # parser (aiohttp's, in asyncio debug mode) rejects the answer for the duplicate.
            headers = [(k, v) for k, v in headers if k.lower() != "server"]
            return start_response(status, headers, exc_info)

        rule = self.faults.pick(entry["service"], entry.get("operation"))
        try:
            if rule is not None:
                entry["fault"] = rule.kind
                if rule.kind == "delay":
                    time.sleep(rule.delay_seconds)
                elif rule.kind == "drop":
                    return self._drop(environ, start_response)
                elif rule.kind in ("429", "500", "503", "403"):
                    status, headers, payload = fault_response(rule.kind, entry["service"])
                    return _response(recording_start_response, status, payload, headers)
            result = self._route(environ, recording_start_response, entry, route, raw_path, body)
            self.ticker.wake()
            if rule is not None and rule.kind == "drop_after":
                return self._drop(environ, start_response)
            return result
        finally:
            entry["status"] = status_box[0] if status_box else None
            self.requests.add(entry)

    @staticmethod
    def _drop(environ: dict[str, Any], start_response):
        sock = environ.get("werkzeug.socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        start_response("500 Dropped", [("Content-Length", "0")])
        return [b""]

    def _route(self, environ, start_response, entry, route, raw_path, body):
        service = entry["service"]
        if service == "amplify":
            if route is None:
                err = NotFoundException(f"No Amplify operation at {environ['REQUEST_METHOD']} {raw_path}.")
                status, headers, payload = error_response(err)
                return _response(start_response, status, payload, headers)
            name, params = route
            try:
                status, data = self.amplify_responses.dispatch(
                    name,
                    params,
                    parse_query(environ.get("QUERY_STRING", "")),
                    body,
                    entry["account_id"],
                    entry["region"],
                )
            except AmplifyError as err:
                status, headers, payload = error_response(err)
                return _response(start_response, status, payload, headers)
            return _json(start_response, status, data)
        if service == "amplify-webhooks":
            return self._webhook(environ, start_response, entry)
        if service == "amplify-logs":
            key = raw_path.rsplit("/", 1)[-1].removesuffix(".log")
            try:
                job, step = self.amplify.find_step_by_log_key(key)
            except NotFoundException:
                return _response(
                    start_response,
                    404,
                    "<Error><Code>NoSuchKey</Code></Error>",
                    {"Content-Type": "application/xml"},
                )
            return _response(
                start_response, 200, self.amplify.step_log(job, step), {"Content-Type": "text/plain"}
            )
        if service == "amplify-uploads":
            if environ["REQUEST_METHOD"] != "PUT":
                return _response(start_response, 405, "", {"Content-Type": "text/plain"})
            try:
                self.amplify.receive_upload(raw_path.rsplit("/", 1)[-1].removesuffix(".zip"), body)
            except NotFoundException:
                return _response(
                    start_response,
                    404,
                    "<Error><Code>NoSuchUpload</Code></Error>",
                    {"Content-Type": "application/xml"},
                )
            return _response(start_response, 200, "", {"Content-Type": "text/plain"})
        if service == "cloudformation":
            _install_cloudformation(self)
        if entry.get("operation") == "GetTemplateSummary":
            return self._moto_rewritten(environ, start_response, _fix_template_summary_metadata)
        if service == "cloudformation" and entry.get("operation") in (
            "DescribeStacks",
            "DescribeStackEvents",
        ):
            operation, account_id, region = entry["operation"], entry["account_id"], entry["region"]
            return self._moto_rewritten(
                environ,
                start_response,
                lambda answer: self.stacks.rewrite(operation, account_id, region, body, answer),
            )
        return self.moto(environ, start_response)

    def _moto_rewritten(self, environ, start_response, rewrite):
        captured: dict[str, Any] = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers

        body = rewrite(b"".join(self.moto(environ, capture)))
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], [*headers, ("Content-Length", str(len(body)))])
        return [body]

    def _webhook(self, environ, start_response, entry):
        query = parse_qs(environ.get("QUERY_STRING", ""))
        if environ["REQUEST_METHOD"] != "POST":
            return _json(start_response, 403, {"message": "Missing Authentication Token"})
        if (query.get("operation") or [None])[0] != "startbuild":
            return _json(
                start_response, 400, {"message": "Unsupported operation; expected operation=startbuild"}
            )
        try:
            job, merged = self.amplify.trigger_webhook(
                (query.get("id") or [""])[0], (query.get("token") or [""])[0]
            )
        except PermissionError:
            return _json(start_response, 403, {"message": "Forbidden"})
        except AmplifyError as err:
            return _json(start_response, 400, {"message": err.message})
        entry.update(app_id=job.app_id, branch_name=job.branch_name, job_id=job.job_id, merged=merged)
        request_id = str(uuid.uuid4())
        return _json(
            start_response,
            200,
            {
                "SendMessageResponse": {
                    "ResponseMetadata": {"RequestId": request_id},
                    "SendMessageResult": {"MessageId": str(uuid.uuid4())},
                }
            },
        )

    # --- control API ------------------------------------------------------------------------

    def _control(self, environ, start_response):
        method = environ["REQUEST_METHOD"]
        path = environ["PATH_INFO"].removeprefix("/_world")
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        body = _read_body(environ)
        try:
            data = json.loads(body) if body else {}
            result = self._control_dispatch(method, path, query, data)
        except (ValueError, TypeError, KeyError) as err:
            return _json(start_response, 400, {"error": str(err)})
        if result is None:
            return _json(start_response, 404, {"error": f"no control endpoint {method} {path}"})
        return _json(start_response, 200, result)

    def _control_dispatch(self, method: str, path: str, query: dict[str, str], data: dict[str, Any]):
        amplify = self.amplify
        if (method, path) == ("GET", "/notices.json"):  # AMPLIFY_BACKEND_NOTICES_ENDPOINT: no notices
            return {"notices": []}
        if (method, path) == ("GET", "/health"):
            return {"status": "ok", "url": self.base_url}
        if (method, path) == ("POST", "/reset"):
            self.reset()
            return {"reset": True}
        if (method, path) == ("GET", "/requests"):
            return {"requests": self.requests.query(**query)}
        if (method, path) == ("DELETE", "/requests"):
            self.requests.clear()
            return {"cleared": True}
        if (method, path) == ("POST", "/faults"):
            return {"rule": self.faults.add(FaultRule(**data)).to_dict()}
        if (method, path) == ("GET", "/faults"):
            return {"rules": [r.to_dict() for r in self.faults.rules]}
        if (method, path) == ("DELETE", "/faults"):
            self.faults.clear()
            return {"cleared": True}
        if (method, path) == ("POST", "/scripts"):
            script = BuildScript.from_dict(data.get("script"))
            amplify.script_next_job(
                data.get("account_id", DEFAULT_ACCOUNT_ID),
                data.get("region", DEFAULT_REGION),
                data["app_id"],
                data["branch_name"],
                script,
            )
            return {"script": asdict(script)}
        if (method, path) == ("GET", "/settings"):
            return self._settings()
        if (method, path) == ("PUT", "/settings"):
            with amplify.lock:
                amplify.advance()
                if "concurrency_limit" in data:
                    amplify.concurrency_limit = int(data["concurrency_limit"])
                if "default_script" in data:
                    amplify.default_script = BuildScript.from_dict(data["default_script"])
                if "webhook_lag_seconds" in data:
                    amplify.webhook_lag_seconds = float(data["webhook_lag_seconds"])
                if "time_speed" in data:
                    self.clock.set_speed(float(data["time_speed"]))
                amplify.advance()
            return self._settings()
        if (method, path) == ("POST", "/stacks"):
            return {
                "stack": self.stacks.script(
                    data.get("account_id", DEFAULT_ACCOUNT_ID),
                    data.get("region", DEFAULT_REGION),
                    data["stack_name"],
                    data,
                )
            }
        if (method, path) == ("GET", "/events"):
            self.events.wait_idle()
            return {**self.events.counts, "events": self.events.recent()}
        if (method, path) == ("GET", "/jobs"):
            jobs = [amplify.job_view(j) for j in amplify.all_jobs()]
            return {"jobs": [j for j in jobs if all(str(j.get(k)) == v for k, v in query.items())]}
        return None

    def _settings(self) -> dict[str, Any]:
        return {
            "concurrency_limit": self.amplify.concurrency_limit,
            "default_script": asdict(self.amplify.default_script),
            "webhook_lag_seconds": self.amplify.webhook_lag_seconds,
            "time_speed": self.clock.speed,
        }


def _install_cloudformation(world: WorldApp) -> None:
    """On the first CloudFormation call: moto learns what real Gen 2 stacks need (see cfn_resources)."""
    from airflow_amplify.testing.world import cfn_resources, custom_resources  # on first use: they patch moto

    cfn_resources.install()
    custom_resources.bind(world)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class WorldServer:
    """Runs :class:`WorldApp` on a loopback port in a background thread.

    :param host: address to bind; loopback by default.
    :param port: port to bind; 0 picks a free one.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        from werkzeug.serving import WSGIRequestHandler, make_server  # loaded when the world starts

        class QuietHandler(WSGIRequestHandler):
            def log(self, *args, **kwargs):  # the request log is kept by the world itself
                pass

        self.app = WorldApp()
        self._server = make_server(host, port, self.app, threaded=True, request_handler=QuietHandler)
        self._server.daemon_threads = True
        self.host = host
        self.port = self._server.server_port
        self.url = f"http://{host}:{self.port}"
        self.app.base_url = self.url
        self._thread: threading.Thread | None = None

    def start(self) -> WorldServer:
        self.app.events.start()
        self.app.ticker.start()
        self._thread = threading.Thread(target=self._server.serve_forever, name="amplify-world", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.app.ticker.stop()
        self.app.events.stop()

    def __enter__(self) -> WorldServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["DEFAULT_ACCOUNT_ID", "DEFAULT_REGION", "RequestLog", "WorldApp", "WorldServer", "redact"]
