"""Console link to an Amplify branch backend stack."""

from __future__ import annotations

from urllib.parse import quote

from airflow.providers.amazon.aws.links.base_aws import BASE_AWS_CONSOLE_LINK, BaseAwsLink


class AmplifyStackLink(BaseAwsLink):
    """The stack's page in the CloudFormation console (by stack id once known, else by stack name)."""

    name = "CloudFormation stack"
    key = "amplify_cloudformation_stack"
    format_str = (
        BASE_AWS_CONSOLE_LINK
        + "/cloudformation/home?region={region_name}#/stacks/stackinfo?stackId={stack_id}"
    )

    def format_link(self, **kwargs) -> str:
        if kwargs.get("stack_id"):
            kwargs["stack_id"] = quote(str(kwargs["stack_id"]), safe="")
        return super().format_link(**kwargs)
