"""Console links for Amplify Hosting jobs."""

from __future__ import annotations

from airflow.providers.amazon.aws.links.base_aws import BASE_AWS_CONSOLE_LINK, BaseAwsLink


class AmplifyJobLink(BaseAwsLink):
    """The Amplify console page of the job a task started, attached to or waited for."""

    name = "Amplify Job"
    key = "amplify_job"
    format_str = (
        "https://{region_name}." + BASE_AWS_CONSOLE_LINK.removeprefix("https://")
        + "/amplify/apps/{app_id}/branches/{branch_name_quoted}/deployments/{job_id}"
    )  # fmt: skip
