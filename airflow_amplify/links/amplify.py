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

    @staticmethod
    def job_fields(app_id: str, branch_name: str, job_id: str) -> dict[str, str]:
        """The format fields of a job's page (the branch quoted as one path segment)."""
        return {
            "app_id": app_id,
            "branch_name_quoted": urllib.parse.quote(branch_name, safe=""),
            "job_id": job_id,
        }

    @classmethod
    def job_url(cls, region_name: str, partition: str, app_id: str, branch_name: str, job_id: str) -> str:
        """The console URL of a job, as the task's extra link shows it.

        :param region_name: the job's region.
        :param partition: the AWS partition (``aws``, ``aws-cn``, ``aws-us-gov``).
        :param app_id: the Amplify app id.
        :param branch_name: the branch.
        :param job_id: the job.
        """
        return cls.format_str.format(
            region_name=region_name,
            aws_domain=cls.get_aws_domain(partition),
            **cls.job_fields(app_id, branch_name, job_id),
        )

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
            **cls.job_fields(app_id, branch_name, job_id),
        )
