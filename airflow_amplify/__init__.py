"""Apache Airflow provider for AWS Amplify.

This module is imported by every Airflow process that discovers providers, so it must stay
free of heavy imports: only the version and :func:`get_provider_info`.
"""

from __future__ import annotations

__version__ = "0.1.0"

PACKAGE_NAME = "airflow-provider-amplify"

# The connection form of the ``amplify_webhook`` type: Airflow 3.2+ reads it from the provider info
# (``ui-field-behaviour``), older Airflow from ``AmplifyWebhookHook.get_ui_field_behaviour()``.
WEBHOOK_CONNECTION_FORM = {
    "hidden-fields": ["host", "schema", "login", "port", "extra"],
    "relabeling": {"password": "Webhook URL"},
    "placeholders": {
        "password": "https://webhooks.amplify.<region>.amazonaws.com/prod/webhooks?id=...&token=..."
    },
}


def get_provider_info() -> dict:
    """Describe this provider to Airflow's provider manager (entry point ``apache_airflow_provider``)."""
    return {
        "package-name": PACKAGE_NAME,
        "name": "AWS Amplify",
        "description": "Deploy AWS Amplify Gen 2 backends and Amplify Hosting frontends from Airflow.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "AWS Amplify",
                "external-doc-url": "https://docs.aws.amazon.com/amplify/",
                "tags": ["aws"],
            }
        ],
        "hooks": [
            {
                "integration-name": "AWS Amplify",
                "python-modules": [
                    "airflow_amplify.hooks.amplify",
                    "airflow_amplify.hooks.ampx",
                    "airflow_amplify.hooks.cloudformation",
                    "airflow_amplify.hooks.deployment",
                    "airflow_amplify.hooks.events",
                    "airflow_amplify.hooks.outputs",
                    "airflow_amplify.hooks.secrets",
                    "airflow_amplify.hooks.source",
                ],
            }
        ],
        "operators": [
            {
                "integration-name": "AWS Amplify",
                "python-modules": [
                    "airflow_amplify.operators.amplify",
                    "airflow_amplify.operators.app",
                    "airflow_amplify.operators.ampx",
                    "airflow_amplify.operators.branch",
                    "airflow_amplify.operators.deployment",
                    "airflow_amplify.operators.events",
                    "airflow_amplify.operators.preview",
                    "airflow_amplify.operators.secrets",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "AWS Amplify",
                "python-modules": [
                    "airflow_amplify.sensors.amplify",
                    "airflow_amplify.sensors.cloudformation",
                ],
            }
        ],
        "triggers": [
            {
                "integration-name": "AWS Amplify",
                "python-modules": [
                    "airflow_amplify.triggers.amplify",
                    "airflow_amplify.triggers.cloudformation",
                ],
            }
        ],
        "connection-types": [
            {
                "connection-type": "amplify_webhook",
                "hook-class-name": "airflow_amplify.hooks.amplify.AmplifyWebhookHook",
                "hook-name": "Amplify incoming webhook",
                "ui-field-behaviour": WEBHOOK_CONNECTION_FORM,
            }
        ],
        "extra-links": [
            "airflow_amplify.links.amplify.AmplifyJobLink",
            "airflow_amplify.links.cloudformation.AmplifyStackLink",
        ],
    }
