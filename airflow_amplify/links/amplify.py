"""Console links for Amplify Hosting jobs."""

from __future__ import annotations

import urllib.parse
from typing import Any

from airflow.providers.amazon.aws.links.base_aws import BASE_AWS_CONSOLE_LINK, BaseAwsLink


class AmplifyJobLink(BaseAwsLink):
    """The Amplify console page of the job a task started, attached to or waited for."""

    name = "Amplify Job"
    key = "amplify_job"
    format_str = (
        "https://{region_name}." + BASE_AWS_CONSOLE_LINK.removeprefix("https://")
        + "/amplify/apps/{app_id}/branches/{branch_name_quoted}/deployments/{job_id}"
    )  # fmt: skip

    @classmethod
    def persist_job(
        cls, context: Any, operator: Any, hook: Any, app_id: str, branch_name: str, job_id: str
    ) -> None:
        """Store the link to ``job_id`` for this task (region and partition from the task's hook)."""
        cls.persist(
            context=context,
            operator=operator,
            region_name=hook.conn_region_name,
            aws_partition=hook.conn_partition,
            app_id=app_id,
            branch_name_quoted=urllib.parse.quote(branch_name, safe=""),
            job_id=job_id,
        )
