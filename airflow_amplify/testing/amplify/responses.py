"""The Amplify emulator's wire layer: botocore's rest-json protocol, routed by botocore's own model.

Routes, methods and operation names come from the ``amplify`` service model that ships with
botocore, so a real client finds every path where it expects it. Paths are matched on the raw
request URI, so URL-encoded branch names (``feature%2Fx``) stay one path segment.
"""

from __future__ import annotations

import base64
import json
import re
from functools import cached_property
from typing import Any
from urllib.parse import parse_qs, unquote

from airflow_amplify.testing.amplify.exceptions import AmplifyError, BadRequestException, NotFoundException
from airflow_amplify.testing.amplify.models import AmplifyBackend, App, Branch, Job, Webhook

SUPPORTED_OPERATIONS = (
    "CreateApp",
    "GetApp",
    "UpdateApp",
    "ListApps",
    "CreateBranch",
    "GetBranch",
    "UpdateBranch",
    "DeleteBranch",
    "ListBranches",
    "StartJob",
    "GetJob",
    "ListJobs",
    "StopJob",
    "CreateWebhook",
    "GetWebhook",
    "ListWebhooks",
    "DeleteWebhook",
    "CreateDeployment",
    "StartDeployment",
)


class AmplifyRoutes:
    """Maps (method, raw path) to an Amplify operation name and its URI parameters."""

    @cached_property
    def _routes(self) -> list[tuple[str, re.Pattern[str], str]]:
        import botocore.session  # botocore loads its service models only when a value is checked

        model = botocore.session.get_session().get_service_model("amplify")
        routes = []
        for name in model.operation_names:
            http = model.operation_model(name).http
            path = http["requestUri"].split("?")[0]
            pattern = re.sub(r"\{(\w+)\+?\}", r"(?P<\1>[^/]+)", path)
            routes.append((http["method"], re.compile(f"^{pattern}$"), name))
        # Literal segments first: /deployments/start must not match as a branch's job id.
        routes.sort(key=lambda r: r[1].pattern.count("(?P"))
        return routes

    def match(self, method: str, raw_path: str) -> tuple[str, dict[str, str]] | None:
        for route_method, regex, name in self._routes:
            if route_method != method:
                continue
            m = regex.match(raw_path)
            if m:
                return name, {k: unquote(v) for k, v in m.groupdict().items()}
        return None


ROUTES = AmplifyRoutes()


def _epoch(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def app_to_wire(app: App) -> dict[str, Any]:
    return {
        "appId": app.app_id,
        "appArn": app.arn,
        "name": app.name,
        "description": app.description,
        "repository": app.repository,
        "platform": app.platform,
        "createTime": _epoch(app.create_time),
        "updateTime": _epoch(app.update_time),
        "environmentVariables": app.environment_variables,
        "defaultDomain": f"{app.app_id}.amplifyapp.com",
        "enableBranchAutoBuild": app.enable_branch_auto_build,
        "enableBasicAuth": False,
        "tags": {},
        "jobConfig": {"buildComputeType": app.build_compute_type},
        "cacheConfig": {"type": app.cache_config_type},
        **({"computeRoleArn": app.compute_role_arn} if app.compute_role_arn else {}),
    }


def branch_to_wire(branch: Branch, now: float) -> dict[str, Any]:
    visible = [j for j in branch.jobs if j.created_at <= now]
    return _drop_none(
        {
            "branchArn": branch.arn,
            "branchName": branch.branch_name,
            "description": branch.description,
            "stage": branch.stage,
            "displayName": branch.display_name or re.sub(r"[^A-Za-z0-9-]", "-", branch.branch_name),
            "enableNotification": branch.enable_notification,
            "createTime": _epoch(branch.create_time),
            "updateTime": _epoch(branch.update_time),
            "environmentVariables": branch.environment_variables,
            "enableAutoBuild": branch.enable_auto_build,
            "customDomains": [],
            "framework": branch.framework,
            "activeJobId": visible[-1].job_id if visible else "",
            "totalNumberOfJobs": str(len(visible)),
            "enableBasicAuth": branch.enable_basic_auth,
            "ttl": "5",
            "enablePullRequestPreview": branch.enable_pull_request_preview,
            "backend": {"stackArn": branch.backend_stack_arn} if branch.backend_stack_arn else None,
            "computeRoleArn": branch.compute_role_arn or None,
            "enableSkewProtection": branch.enable_skew_protection,
            "tags": branch.tags or None,
        }
    )


def job_summary_to_wire(job: Job) -> dict[str, Any]:
    return _drop_none(
        {
            "jobArn": job.arn,
            "jobId": job.job_id,
            "commitId": job.commit_id,
            "commitMessage": job.commit_message,
            "commitTime": _epoch(job.commit_time),
            "startTime": _epoch(job.created_at),
            "status": job.status,
            "endTime": _epoch(job.end_time),
            "jobType": job.job_type,
            "sourceUrl": job.source_url,
            "sourceUrlType": job.source_url_type,
        }
    )


def webhook_to_wire(backend: AmplifyBackend, webhook: Webhook) -> dict[str, Any]:
    return {
        "webhookArn": webhook.arn,
        "webhookId": webhook.webhook_id,
        "webhookUrl": backend.webhook_url(webhook),
        "appId": webhook.app_id,
        "branchName": webhook.branch_name,
        "description": webhook.description,
        "createTime": _epoch(webhook.create_time),
        "updateTime": _epoch(webhook.update_time),
    }


def _paginate(items: list[Any], query: dict[str, list[str]], limit: int = 50) -> tuple[list[Any], str | None]:
    max_results = int(query.get("maxResults", [limit])[0] or limit)
    if not 0 <= max_results <= limit:
        raise BadRequestException(f"maxResults must be between 0 and {limit}.")
    max_results = max_results or limit
    token = query.get("nextToken", [None])[0]
    try:
        start = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
    except ValueError as err:
        raise BadRequestException("Invalid nextToken.") from err
    page = items[start : start + max_results]
    more = start + max_results < len(items)
    return page, base64.urlsafe_b64encode(str(start + max_results).encode()).decode() if more else None


class AmplifyResponses:
    """Dispatches one Amplify API request to the backend and serializes the answer."""

    def __init__(self, backend: AmplifyBackend):
        self.backend = backend

    def _now(self) -> float:
        return self.backend.clock.now()

    def dispatch(
        self,
        operation: str,
        params: dict[str, str],
        query: dict[str, list[str]],
        body: bytes,
        account_id: str,
        region: str,
    ) -> tuple[int, dict[str, Any]]:
        if operation not in SUPPORTED_OPERATIONS:
            raise BadRequestException(f"{operation} is not implemented by the local Amplify emulator.")
        try:
            payload = json.loads(body) if body else {}
        except ValueError as err:
            raise BadRequestException("The request body is not valid JSON.") from err
        handler = getattr(self, "_" + re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower())
        with self.backend.lock:
            return 200, handler(account_id, region, params, query, payload)

    # Each handler: (account_id, region, uri params, query, body) -> response dict.

    def _create_app(self, acct, region, params, query, body):
        if not body.get("name"):
            raise BadRequestException("name is required.")
        return {"app": app_to_wire(self.backend.create_app(acct, region, **body))}

    def _get_app(self, acct, region, params, query, body):
        return {"app": app_to_wire(self.backend.get_app(acct, region, params["appId"]))}

    def _update_app(self, acct, region, params, query, body):
        return {"app": app_to_wire(self.backend.update_app(acct, region, params["appId"], **body))}

    def _list_apps(self, acct, region, params, query, body):
        page, token = _paginate(self.backend.list_apps(acct, region), query, limit=100)
        return _drop_none({"apps": [app_to_wire(a) for a in page], "nextToken": token})

    def _create_branch(self, acct, region, params, query, body):
        name = body.pop("branchName", None)
        if not name:
            raise BadRequestException("branchName is required.")
        return {
            "branch": branch_to_wire(
                self.backend.create_branch(acct, region, params["appId"], name, **body), self._now()
            )
        }

    def _get_branch(self, acct, region, params, query, body):
        return {
            "branch": branch_to_wire(
                self.backend.get_branch(acct, region, params["appId"], params["branchName"]), self._now()
            )
        }

    def _update_branch(self, acct, region, params, query, body):
        branch = self.backend.update_branch(acct, region, params["appId"], params["branchName"], **body)
        return {"branch": branch_to_wire(branch, self._now())}

    def _delete_branch(self, acct, region, params, query, body):
        branch = self.backend.delete_branch(acct, region, params["appId"], params["branchName"])
        return {"branch": branch_to_wire(branch, self._now())}

    def _list_branches(self, acct, region, params, query, body):
        app = self.backend.get_app(acct, region, params["appId"])
        branches = sorted(app.branches.values(), key=lambda b: b.create_time)
        page, token = _paginate(branches, query)
        return _drop_none({"branches": [branch_to_wire(b, self._now()) for b in page], "nextToken": token})

    def _start_job(self, acct, region, params, query, body):
        job = self.backend.start_job(acct, region, params["appId"], params["branchName"], body)
        return {"jobSummary": job_summary_to_wire(job)}

    def _get_job(self, acct, region, params, query, body):
        job = self.backend.get_job(acct, region, params["appId"], params["branchName"], params["jobId"])
        steps = []
        for step in job.steps:
            key = self.backend.log_key(job, step)
            steps.append(
                _drop_none(
                    {
                        "stepName": step.step_name,
                        "startTime": _epoch(step.start_time),
                        "status": step.status,
                        "endTime": _epoch(step.end_time),
                        "statusReason": step.status_reason,
                        "logUrl": f"{self.backend.base_url}/_amplify-logs/{key}.log?X-Amz-Expires=3600",
                    }
                )
            )
        return {"job": {"summary": job_summary_to_wire(job), "steps": steps}}

    def _list_jobs(self, acct, region, params, query, body):
        jobs = self.backend.list_jobs(acct, region, params["appId"], params["branchName"])
        page, token = _paginate(jobs, query)
        return _drop_none({"jobSummaries": [job_summary_to_wire(j) for j in page], "nextToken": token})

    def _stop_job(self, acct, region, params, query, body):
        job = self.backend.stop_job(acct, region, params["appId"], params["branchName"], params["jobId"])
        return {"jobSummary": job_summary_to_wire(job)}

    def _create_webhook(self, acct, region, params, query, body):
        if not body.get("branchName"):
            raise BadRequestException("branchName is required.")
        webhook = self.backend.create_webhook(
            acct, region, params["appId"], body["branchName"], body.get("description", "")
        )
        return {"webhook": webhook_to_wire(self.backend, webhook)}

    def _get_webhook(self, acct, region, params, query, body):
        return {
            "webhook": webhook_to_wire(
                self.backend, self.backend.get_webhook(acct, region, params["webhookId"])
            )
        }

    def _list_webhooks(self, acct, region, params, query, body):
        page, token = _paginate(self.backend.list_webhooks(acct, region, params["appId"]), query)
        return _drop_none({"webhooks": [webhook_to_wire(self.backend, w) for w in page], "nextToken": token})

    def _delete_webhook(self, acct, region, params, query, body):
        webhook = self.backend.delete_webhook(acct, region, params["webhookId"])
        return {"webhook": webhook_to_wire(self.backend, webhook)}

    def _create_deployment(self, acct, region, params, query, body):
        job = self.backend.create_deployment(acct, region, params["appId"], params["branchName"])
        file_urls = {
            name: self.backend.upload_url(job) + f"&file={name}" for name in (body.get("fileMap") or {})
        }
        return {
            "jobId": job.job_id,
            "fileUploadUrls": file_urls,
            "zipUploadUrl": self.backend.upload_url(job),
        }

    def _start_deployment(self, acct, region, params, query, body):
        job = self.backend.start_deployment(acct, region, params["appId"], params["branchName"], body)
        return {"jobSummary": job_summary_to_wire(job)}


def error_response(err: AmplifyError) -> tuple[int, dict[str, str], bytes]:
    """An Amplify error as the service sends it: status, ``x-amzn-ErrorType`` and a JSON message."""
    headers = {"x-amzn-ErrorType": f"{err.error_type}:", "Content-Type": "application/json"}
    return err.status, headers, json.dumps({"message": err.message}).encode()


def parse_query(query_string: str) -> dict[str, list[str]]:
    return parse_qs(query_string, keep_blank_values=True)


__all__ = ["ROUTES", "AmplifyResponses", "NotFoundException", "error_response", "parse_query"]
