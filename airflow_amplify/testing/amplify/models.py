"""State of the Amplify control-plane emulator: apps, branches, webhooks and simulated jobs.

Resources live per account and region. Jobs follow a scripted lifecycle driven by the world's
clock: CREATED, PENDING, PROVISIONING, RUNNING (steps BUILD then DEPLOY), then SUCCEED or FAILED;
StopJob goes through CANCELLING to CANCELLED. Transitions are computed in time order whenever the
state is read, so timestamps are those of the simulated events, not of the polls that saw them.
"""

from __future__ import annotations

import hashlib
import io
import secrets
import threading
import time
import zipfile
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from airflow_amplify.statuses import JOB_TERMINAL_STATUSES, JOB_TYPES
from airflow_amplify.testing.amplify.exceptions import (
    BadRequestException,
    LimitExceededException,
    NotFoundException,
)


class Clock:
    """Wall-clock time that can run faster than real time (``speed``), for long simulated builds."""

    def __init__(self, speed: float = 1.0):
        self._lock = threading.Lock()
        self._base_wall = time.time()
        self._base_mono = time.monotonic()
        self.speed = speed

    def now(self) -> float:
        with self._lock:
            return self._base_wall + (time.monotonic() - self._base_mono) * self.speed

    def reset(self) -> None:
        """Back to real time at real speed (a faster clock runs ahead of the wall clock)."""
        with self._lock:
            self._base_wall = time.time()
            self._base_mono = time.monotonic()
            self.speed = 1.0

    def set_speed(self, speed: float) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed!r}")
        current = self.now()
        with self._lock:
            self._base_wall = current
            self._base_mono = time.monotonic()
            self.speed = speed

    def real_seconds(self, world_seconds: float) -> float:
        """How long ``world_seconds`` of simulated time take in real time."""
        return world_seconds / self.speed


@dataclass
class BuildScript:
    """How one job behaves. Durations are in world seconds.

    :param created_seconds: time spent in CREATED before the job queues (PENDING).
    :param pending_seconds: least time spent in PENDING, even when a build slot is free.
    :param provision_seconds: time in PROVISIONING once the job has a build slot.
    :param build_seconds: duration of the BUILD step.
    :param deploy_seconds: duration of the DEPLOY step.
    :param outcome: SUCCEED or FAILED.
    :param fail_step: the step that fails when ``outcome`` is FAILED (BUILD or DEPLOY).
    :param status_reason: the failing step's statusReason.
    :param cancel_seconds: time spent in CANCELLING after StopJob.
    :param log_lines: number of log lines each step writes.
    """

    created_seconds: float = 0.0
    pending_seconds: float = 0.1
    provision_seconds: float = 0.3
    build_seconds: float = 0.6
    deploy_seconds: float = 0.3
    outcome: str = "SUCCEED"
    fail_step: str = "BUILD"
    status_reason: str = "Build failed: command 'npm run build' exited with code 1"
    cancel_seconds: float = 0.3
    log_lines: int = 80

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> BuildScript:
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown build script fields {unknown}; valid fields: {sorted(known)}")
        script = cls(**data)
        if script.outcome not in ("SUCCEED", "FAILED"):
            raise ValueError(f"outcome must be SUCCEED or FAILED, got {script.outcome!r}")
        if script.fail_step not in ("BUILD", "DEPLOY"):
            raise ValueError(f"fail_step must be BUILD or DEPLOY, got {script.fail_step!r}")
        return script


@dataclass
class Step:
    step_name: str
    start_time: float
    status: str = "RUNNING"
    end_time: float | None = None
    status_reason: str | None = None


@dataclass
class Job:
    account_id: str
    region: str
    app_id: str
    branch_name: str
    job_id: str
    job_type: str
    created_at: float
    script: BuildScript
    seq: int
    commit_id: str = "HEAD"
    commit_message: str = ""
    commit_time: float = 0.0
    job_reason: str | None = None
    source_url: str | None = None
    source_url_type: str | None = None
    status: str = "CREATED"
    status_since: float = 0.0
    end_time: float | None = None
    awaiting_start: bool = False  # MANUAL deployments stay CREATED until StartDeployment
    cancel_requested_in: str | None = None
    steps: list[Step] = field(default_factory=list)
    merged_triggers: int = 0
    queue_ready: bool = False  # PENDING for at least the script's pending_seconds
    uploaded_files: list[str] | None = None  # a manual deployment's zip: the names in it

    @property
    def arn(self) -> str:
        return (
            f"arn:aws:amplify:{self.region}:{self.account_id}:apps/{self.app_id}"
            f"/branches/{self.branch_name}/jobs/{self.job_id}"
        )

    def holds_slot(self) -> bool:
        """Whether this job occupies a build slot (of its branch and of its account's limit)."""
        if self.status == "CANCELLING":
            return self.cancel_requested_in in ("PROVISIONING", "RUNNING")
        return self.status in ("PROVISIONING", "RUNNING")

    def next_event_time(self) -> float | None:
        """World time of this job's next scripted transition, None when it waits or is finished."""
        s = self.script
        if self.status == "CREATED":
            return None if self.awaiting_start else self.status_since + s.created_seconds
        if self.status == "PENDING":
            return None if self.queue_ready else self.status_since + s.pending_seconds
        if self.status == "PROVISIONING":
            return self.status_since + s.provision_seconds
        if self.status == "RUNNING":
            step = self.steps[-1]
            return step.start_time + (s.build_seconds if step.step_name == "BUILD" else s.deploy_seconds)
        if self.status == "CANCELLING":
            return self.status_since + s.cancel_seconds
        return None


@dataclass
class Webhook:
    account_id: str
    region: str
    app_id: str
    webhook_id: str
    branch_name: str
    description: str
    token: str
    create_time: float
    update_time: float

    @property
    def arn(self) -> str:
        return (
            f"arn:aws:amplify:{self.region}:{self.account_id}:apps/{self.app_id}/webhooks/{self.webhook_id}"
        )


@dataclass
class Branch:
    app_id: str
    account_id: str
    region: str
    branch_name: str
    create_time: float
    update_time: float
    description: str = ""
    stage: str = "NONE"
    framework: str = ""
    display_name: str = ""
    enable_notification: bool = False
    enable_auto_build: bool = True
    enable_basic_auth: bool = False
    enable_pull_request_preview: bool = False
    environment_variables: dict[str, str] = field(default_factory=dict)
    backend_stack_arn: str | None = None
    compute_role_arn: str | None = None
    enable_skew_protection: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    jobs: list[Job] = field(default_factory=list)
    next_job_number: int = 1

    @property
    def arn(self) -> str:
        return (
            f"arn:aws:amplify:{self.region}:{self.account_id}:apps/{self.app_id}/branches/{self.branch_name}"
        )


@dataclass
class App:
    account_id: str
    region: str
    app_id: str
    name: str
    create_time: float
    update_time: float
    description: str = ""
    repository: str = ""
    platform: str = "WEB"
    enable_branch_auto_build: bool = False
    environment_variables: dict[str, str] = field(default_factory=dict)
    compute_role_arn: str | None = None
    build_compute_type: str = "STANDARD_8GB"  # Amplify's default build instance
    cache_config_type: str = "AMPLIFY_MANAGED_NO_COOKIES"  # Amplify's default cache configuration
    branches: dict[str, Branch] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return f"arn:aws:amplify:{self.region}:{self.account_id}:apps/{self.app_id}"


@dataclass
class Upload:
    job_id: str
    data: bytes | None = None


class AmplifyBackend:
    """All Amplify state of the world, for every account and region, behind one lock."""

    def __init__(self, clock: Clock, base_url: str = "http://127.0.0.1"):
        self.clock = clock
        self.base_url = base_url
        self.lock = threading.RLock()
        self.concurrency_limit = 5
        self.default_script = BuildScript()
        self.webhook_lag_seconds = 0.0
        #: Called as ``listener(job, status, at)`` on every job status change, under the lock.
        self.listeners: list[Any] = []
        self.reset()

    # --- housekeeping -----------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            self.apps: dict[tuple[str, str], dict[str, App]] = {}
            self.webhooks: dict[str, Webhook] = {}
            self.scripts: dict[tuple[str, str, str, str], list[BuildScript]] = {}
            self.uploads: dict[str, Upload] = {}
            self._seq = 0
            self.concurrency_limit = 5
            self.default_script = BuildScript()
            self.webhook_lag_seconds = 0.0

    def _apps(self, account_id: str, region: str) -> dict[str, App]:
        return self.apps.setdefault((account_id, region), {})

    def all_jobs(self) -> list[Job]:
        with self.lock:
            self.advance()
            return [
                job
                for apps in self.apps.values()
                for app in apps.values()
                for branch in app.branches.values()
                for job in branch.jobs
            ]

    def script_next_job(
        self, account_id: str, region: str, app_id: str, branch_name: str, script: BuildScript
    ):
        """Queue a script for the next job created on a branch (FIFO; later jobs use the default)."""
        with self.lock:
            self.scripts.setdefault((account_id, region, app_id, branch_name), []).append(script)

    # --- apps -------------------------------------------------------------------------------

    def create_app(self, account_id: str, region: str, name: str, **kwargs: Any) -> App:
        with self.lock:
            now = self.clock.now()
            app_id = "d" + secrets.token_hex(7)[:13]
            app = App(
                account_id=account_id,
                region=region,
                app_id=app_id,
                name=name,
                create_time=now,
                update_time=now,
                description=kwargs.get("description") or "",
                repository=kwargs.get("repository") or "",
                platform=kwargs.get("platform") or "WEB",
                enable_branch_auto_build=bool(kwargs.get("enableBranchAutoBuild", False)),
                environment_variables=dict(kwargs.get("environmentVariables") or {}),
            )
            self._apps(account_id, region)[app_id] = app
            return app

    def get_app(self, account_id: str, region: str, app_id: str) -> App:
        app = self._apps(account_id, region).get(app_id)
        if app is None:
            raise NotFoundException(f"App {app_id} not found.")
        return app

    def update_app(self, account_id: str, region: str, app_id: str, **kw: Any) -> App:
        """UpdateApp: the fields this emulator models; the others are accepted and ignored."""
        with self.lock:
            app = self.get_app(account_id, region, app_id)
            for wire, attr in (
                ("description", "description"),
                ("platform", "platform"),
                ("enableBranchAutoBuild", "enable_branch_auto_build"),
                ("environmentVariables", "environment_variables"),
                ("computeRoleArn", "compute_role_arn"),
            ):
                if wire in kw and kw[wire] is not None:
                    setattr(app, attr, kw[wire])
            if kw.get("jobConfig"):
                app.build_compute_type = kw["jobConfig"]["buildComputeType"]
            if kw.get("cacheConfig"):
                app.cache_config_type = kw["cacheConfig"]["type"]
            app.update_time = self.clock.now()
            return app

    def list_apps(self, account_id: str, region: str) -> list[App]:
        return sorted(self._apps(account_id, region).values(), key=lambda a: a.create_time)

    # --- branches ---------------------------------------------------------------------------

    def create_branch(self, account_id: str, region: str, app_id: str, branch_name: str, **kw: Any) -> Branch:
        with self.lock:
            app = self.get_app(account_id, region, app_id)
            if branch_name in app.branches:
                raise BadRequestException(f"Branch {branch_name} already exists.")
            if len(app.branches) >= 50:
                raise LimitExceededException(
                    "The maximum number of branches (50) for this app has been reached."
                )
            now = self.clock.now()
            branch = Branch(
                app_id=app_id,
                account_id=account_id,
                region=region,
                branch_name=branch_name,
                create_time=now,
                update_time=now,
            )
            self._apply_branch_fields(branch, kw)
            app.branches[branch_name] = branch
            return branch

    @staticmethod
    def _apply_branch_fields(branch: Branch, kw: dict[str, Any]) -> None:
        mapping = {
            "description": "description",
            "stage": "stage",
            "framework": "framework",
            "displayName": "display_name",
            "enableNotification": "enable_notification",
            "enableAutoBuild": "enable_auto_build",
            "enableBasicAuth": "enable_basic_auth",
            "enablePullRequestPreview": "enable_pull_request_preview",
            "environmentVariables": "environment_variables",
            "computeRoleArn": "compute_role_arn",
            "enableSkewProtection": "enable_skew_protection",
            "tags": "tags",
        }
        for wire, attr in mapping.items():
            if wire in kw and kw[wire] is not None:
                setattr(branch, attr, kw[wire])
        if kw.get("backend"):
            branch.backend_stack_arn = kw["backend"].get("stackArn")

    def get_branch(self, account_id: str, region: str, app_id: str, branch_name: str) -> Branch:
        app = self.get_app(account_id, region, app_id)
        branch = app.branches.get(branch_name)
        if branch is None:
            raise NotFoundException(f"Branch {branch_name} not found for app {app_id}.")
        return branch

    def update_branch(self, account_id: str, region: str, app_id: str, branch_name: str, **kw: Any) -> Branch:
        with self.lock:
            branch = self.get_branch(account_id, region, app_id, branch_name)
            self._apply_branch_fields(branch, kw)
            branch.update_time = self.clock.now()
            return branch

    def delete_branch(self, account_id: str, region: str, app_id: str, branch_name: str) -> Branch:
        """DeleteBranch: the branch, its jobs and its webhooks go (its backend stack stays: that is
        CloudFormation's, deleted with DeleteStack)."""
        with self.lock:
            self.advance()
            branch = self.get_branch(account_id, region, app_id, branch_name)
            del self.get_app(account_id, region, app_id).branches[branch_name]
            for webhook_id, webhook in list(self.webhooks.items()):
                if (webhook.account_id, webhook.region, webhook.app_id, webhook.branch_name) == (
                    account_id,
                    region,
                    app_id,
                    branch_name,
                ):
                    del self.webhooks[webhook_id]
            return branch

    # --- webhooks ---------------------------------------------------------------------------

    def create_webhook(self, account_id: str, region: str, app_id: str, branch_name: str, description: str):
        with self.lock:
            self.get_branch(account_id, region, app_id, branch_name)
            now = self.clock.now()
            webhook = Webhook(
                account_id=account_id,
                region=region,
                app_id=app_id,
                webhook_id=secrets.token_hex(16),
                branch_name=branch_name,
                description=description or "",
                token=secrets.token_urlsafe(48),
                create_time=now,
                update_time=now,
            )
            self.webhooks[webhook.webhook_id] = webhook
            return webhook

    def webhook_url(self, webhook: Webhook) -> str:
        return f"{self.base_url}/prod/webhooks?id={webhook.webhook_id}&token={webhook.token}"

    def get_webhook(self, account_id: str, region: str, webhook_id: str) -> Webhook:
        webhook = self.webhooks.get(webhook_id)
        if webhook is None or (webhook.account_id, webhook.region) != (account_id, region):
            raise NotFoundException(f"Webhook {webhook_id} not found.")
        return webhook

    def list_webhooks(self, account_id: str, region: str, app_id: str) -> list[Webhook]:
        self.get_app(account_id, region, app_id)
        hooks = [
            w
            for w in self.webhooks.values()
            if (w.account_id, w.region, w.app_id) == (account_id, region, app_id)
        ]
        return sorted(hooks, key=lambda w: w.create_time)

    def delete_webhook(self, account_id: str, region: str, webhook_id: str) -> Webhook:
        with self.lock:
            webhook = self.get_webhook(account_id, region, webhook_id)
            del self.webhooks[webhook_id]
            return webhook

    def trigger_webhook(self, webhook_id: str, token: str) -> tuple[Job, bool]:
        """Start a build from an incoming webhook. Returns the job and whether it merged into a pending one."""
        with self.lock:
            webhook = self.webhooks.get(webhook_id)
            if webhook is None or not secrets.compare_digest(webhook.token, token):
                raise PermissionError("Forbidden")
            self.advance()
            branch = self.get_branch(webhook.account_id, webhook.region, webhook.app_id, webhook.branch_name)
            pending = [j for j in branch.jobs if j.status == "PENDING"]
            if pending:
                pending[-1].merged_triggers += 1
                return pending[-1], True
            job = self._new_job(
                branch,
                "WEB_HOOK",
                commit_id="HEAD",
                commit_message="Webhook triggered build",
                delay=self.webhook_lag_seconds,
            )
            return job, False

    # --- jobs -------------------------------------------------------------------------------

    def _new_job(
        self,
        branch: Branch,
        job_type: str,
        *,
        commit_id: str | None = None,
        commit_message: str | None = None,
        commit_time: float | None = None,
        job_reason: str | None = None,
        source_url: str | None = None,
        source_url_type: str | None = None,
        awaiting_start: bool = False,
        delay: float = 0.0,
    ) -> Job:
        now = self.clock.now() + delay
        queue = self.scripts.get((branch.account_id, branch.region, branch.app_id, branch.branch_name))
        script = queue.pop(0) if queue else self.default_script
        job_id = str(branch.next_job_number)
        branch.next_job_number += 1
        self._seq += 1
        if commit_id is None:
            commit_id = hashlib.sha1(f"{branch.arn}:{job_id}".encode()).hexdigest()
        job = Job(
            account_id=branch.account_id,
            region=branch.region,
            app_id=branch.app_id,
            branch_name=branch.branch_name,
            job_id=job_id,
            job_type=job_type,
            created_at=now,
            status_since=now,
            script=script,
            seq=self._seq,
            commit_id=commit_id,
            commit_message=commit_message if commit_message is not None else f"Release {job_id}",
            commit_time=commit_time if commit_time is not None else now,
            job_reason=job_reason,
            source_url=source_url,
            source_url_type=source_url_type,
            awaiting_start=awaiting_start,
        )
        branch.jobs.append(job)
        self.advance()
        return job

    def start_job(
        self, account_id: str, region: str, app_id: str, branch_name: str, body: dict[str, Any]
    ) -> Job:
        with self.lock:
            app = self.get_app(account_id, region, app_id)
            branch = self.get_branch(account_id, region, app_id, branch_name)
            job_type = body.get("jobType")
            if job_type not in JOB_TYPES:
                raise BadRequestException(
                    f"Invalid jobType {job_type!r}; expected one of {', '.join(JOB_TYPES)}."
                )
            commit_id = body.get("commitId")
            commit_message = body.get("commitMessage")
            if job_type == "RETRY":
                if not body.get("jobId"):
                    raise BadRequestException("jobId is required for jobType RETRY.")
                previous = self._find_job(branch, body["jobId"])
                commit_id = commit_id or previous.commit_id
                commit_message = commit_message if commit_message is not None else previous.commit_message
            elif job_type in ("RELEASE", "WEB_HOOK") and not app.repository:
                raise BadRequestException(
                    f"App {app_id} is not connected to a repository; "
                    "use CreateDeployment and StartDeployment for manual deployments."
                )
            elif job_type == "MANUAL":
                raise BadRequestException("Use CreateDeployment and StartDeployment to start MANUAL jobs.")
            return self._new_job(
                branch,
                job_type,
                commit_id=commit_id,
                commit_message=commit_message,
                commit_time=body.get("commitTime"),
                job_reason=body.get("jobReason"),
            )

    def _find_job(self, branch: Branch, job_id: str) -> Job:
        for job in branch.jobs:
            if job.job_id == job_id and job.created_at <= self.clock.now():
                return job
        raise NotFoundException(f"Job {job_id} not found for branch {branch.branch_name}.")

    def get_job(self, account_id: str, region: str, app_id: str, branch_name: str, job_id: str) -> Job:
        with self.lock:
            self.advance()
            return self._find_job(self.get_branch(account_id, region, app_id, branch_name), job_id)

    def list_jobs(self, account_id: str, region: str, app_id: str, branch_name: str) -> list[Job]:
        """Jobs of a branch, newest first."""
        with self.lock:
            self.advance()
            branch = self.get_branch(account_id, region, app_id, branch_name)
            now = self.clock.now()
            return sorted((j for j in branch.jobs if j.created_at <= now), key=lambda j: -int(j.job_id))

    def stop_job(self, account_id: str, region: str, app_id: str, branch_name: str, job_id: str) -> Job:
        with self.lock:
            self.advance()
            job = self._find_job(self.get_branch(account_id, region, app_id, branch_name), job_id)
            if job.status in JOB_TERMINAL_STATUSES:
                raise BadRequestException(f"Job {job_id} is already {job.status} and cannot be stopped.")
            if job.status != "CANCELLING":
                job.cancel_requested_in = job.status
                self._set_status(job, "CANCELLING", self.clock.now())
            return job

    # --- manual deployments -----------------------------------------------------------------

    def create_deployment(self, account_id: str, region: str, app_id: str, branch_name: str) -> Job:
        with self.lock:
            app = self.get_app(account_id, region, app_id)
            if app.repository:
                raise BadRequestException(
                    f"App {app_id} is connected to a repository; manual deployments need an app without one."
                )
            branch = self.get_branch(account_id, region, app_id, branch_name)
            job = self._new_job(branch, "MANUAL", commit_id="", commit_message="", awaiting_start=True)
            self.uploads[self._upload_key(job)] = Upload(job_id=job.job_id)
            return job

    @staticmethod
    def _upload_key(job: Job) -> str:
        return hashlib.sha256(job.arn.encode()).hexdigest()[:32]

    def upload_url(self, job: Job) -> str:
        return f"{self.base_url}/_amplify-uploads/{self._upload_key(job)}.zip?X-Amz-Signature={secrets.token_hex(8)}"

    def receive_upload(self, key: str, data: bytes) -> None:
        with self.lock:
            upload = self.uploads.get(key)
            if upload is None:
                raise NotFoundException("NoSuchUpload")
            upload.data = data

    def start_deployment(
        self, account_id: str, region: str, app_id: str, branch_name: str, body: dict[str, Any]
    ):
        with self.lock:
            branch = self.get_branch(account_id, region, app_id, branch_name)
            if body.get("jobId"):
                job = self._find_job(branch, body["jobId"])
                upload = self.uploads.get(self._upload_key(job))
                if job.job_type != "MANUAL" or not job.awaiting_start:
                    raise BadRequestException(f"Job {job.job_id} is not a deployment waiting to be started.")
                if upload is None or upload.data is None:
                    raise BadRequestException(f"No file was uploaded for deployment job {job.job_id}.")
                self._inspect_upload(job, upload.data)
                job.awaiting_start = False
                job.status_since = self.clock.now()
                self.advance()
                return job
            if body.get("sourceUrl"):
                source_type = body.get("sourceUrlType") or "ZIP"
                if source_type not in ("ZIP", "BUCKET_PREFIX"):
                    raise BadRequestException(
                        f"Invalid sourceUrlType {source_type!r}; expected ZIP or BUCKET_PREFIX."
                    )
                self.get_app(account_id, region, app_id)
                return self._new_job(
                    branch,
                    "MANUAL",
                    commit_id="",
                    commit_message="",
                    source_url=body["sourceUrl"],
                    source_url_type=source_type,
                )
            raise BadRequestException("Either jobId or sourceUrl is required.")

    @staticmethod
    def _inspect_upload(job: Job, data: bytes) -> None:
        """Record the names in an uploaded zip; a file that is no zip makes the job fail at DEPLOY."""
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                job.uploaded_files = sorted(archive.namelist())
        except zipfile.BadZipFile:
            job.uploaded_files = []
            job.script = replace(
                job.script,
                outcome="FAILED",
                fail_step="DEPLOY",
                status_reason="The uploaded deployment file is not a valid .zip archive.",
            )

    # --- the lifecycle ----------------------------------------------------------------------

    def _set_status(self, job: Job, status: str, at: float) -> None:
        job.status = status
        job.status_since = at
        if status in JOB_TERMINAL_STATUSES:
            job.end_time = at
        for listener in self.listeners:
            listener(job, status, at)

    def _running_count(self, account_id: str, region: str) -> int:
        return sum(
            1
            for app in self._apps(account_id, region).values()
            for branch in app.branches.values()
            for job in branch.jobs
            if job.holds_slot()
        )

    def _start_pending(self, at: float) -> None:
        """Give free build slots to PENDING jobs, oldest first."""
        pending = sorted(
            (
                (job, branch)
                for apps in self.apps.values()
                for app in apps.values()
                for branch in app.branches.values()
                for job in branch.jobs
                if job.status == "PENDING"
            ),
            key=lambda pair: pair[0].seq,
        )
        for job, branch in pending:
            if not job.queue_ready:
                continue
            if any(other.holds_slot() for other in branch.jobs):
                continue
            if self._running_count(job.account_id, job.region) >= self.concurrency_limit:
                continue
            self._set_status(job, "PROVISIONING", at)

    def _fire(self, job: Job, at: float) -> None:
        s = job.script
        if job.status == "CREATED":
            self._set_status(job, "PENDING", at)
            job.queue_ready = s.pending_seconds <= 0
        elif job.status == "PENDING":
            job.queue_ready = True
        elif job.status == "PROVISIONING":
            self._set_status(job, "RUNNING", at)
            job.steps.append(Step("BUILD", at))
        elif job.status == "RUNNING":
            step = job.steps[-1]
            step.end_time = at
            if s.outcome == "FAILED" and s.fail_step == step.step_name:
                step.status = "FAILED"
                step.status_reason = s.status_reason
                self._set_status(job, "FAILED", at)
            else:
                step.status = "SUCCEED"
                if step.step_name == "BUILD":
                    job.steps.append(Step("DEPLOY", at))
                else:
                    self._set_status(job, "SUCCEED", at)
        elif job.status == "CANCELLING":
            for step in job.steps:
                if step.status == "RUNNING":
                    step.status = "CANCELLED"
                    step.end_time = at
            self._set_status(job, "CANCELLED", at)

    def advance(self) -> None:
        """Apply every scripted transition due by now, in time order."""
        with self.lock:
            now = self.clock.now()
            while True:
                due = [
                    (t, job.seq, job)
                    for apps in self.apps.values()
                    for app in apps.values()
                    for branch in app.branches.values()
                    for job in branch.jobs
                    if (t := job.next_event_time()) is not None and t <= now
                ]
                self._start_pending(now if not due else min(due)[0])
                if not due:
                    return
                at, _, job = min(due, key=lambda d: (d[0], d[1]))
                self._fire(job, at)
                self._start_pending(at)

    # --- step logs --------------------------------------------------------------------------

    def step_log(self, job: Job, step: Step) -> str:
        """The text a step's logUrl serves: a build log with the failure reason at its end."""
        started = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(step.start_time))
        lines = [
            f"{started}.000Z [INFO]: # Build environment configured for {job.app_id}/{job.branch_name}",
            f"{started}.000Z [INFO]: # Starting step {step.step_name} of job {job.job_id} ({job.job_type})",
        ]
        for i in range(1, job.script.log_lines + 1):
            lines.append(f"{started}.{i % 1000:03d}Z [INFO]: {step.step_name.lower()} output line {i}")
        if step.status == "FAILED":
            lines.append(f"{started}.999Z [ERROR]: !!! {step.status_reason}")
            lines.append(f"{started}.999Z [ERROR]: !!! Step {step.step_name} failed")
        elif step.status == "SUCCEED":
            lines.append(f"{started}.999Z [INFO]: # Completed step {step.step_name}")
        elif step.status == "CANCELLED":
            lines.append(f"{started}.999Z [WARNING]: # Step {step.step_name} was cancelled")
        return "\n".join(lines) + "\n"

    def log_key(self, job: Job, step: Step) -> str:
        return hashlib.sha256(f"{job.arn}/{step.step_name}".encode()).hexdigest()[:40]

    def find_step_by_log_key(self, key: str) -> tuple[Job, Step]:
        with self.lock:
            self.advance()
            for job in self.all_jobs():
                for step in job.steps:
                    if self.log_key(job, step) == key:
                        return job, step
        raise NotFoundException("NoSuchKey")

    # --- views for the control API ----------------------------------------------------------

    def job_view(self, job: Job) -> dict[str, Any]:
        data = {
            k: v
            for k, v in asdict(job).items()
            if k not in ("script", "steps", "seq", "status_since", "cancel_requested_in")
        }
        data["steps"] = [asdict(s) for s in job.steps]
        return data
