"""Nightly rebuilds of Amplify Hosting sites whose content lives in a headless CMS.

Every night at 03:00 Europe/Berlin (and, on Airflow 3, whenever the ``cms://content/published``
asset is updated by a CMS publish event), each configured site is rebuilt, one mapped task per
site. A site whose branch is already building is attached to, not built twice. One failing site
does not stop the others; the closing ``report`` task says which sites were rebuilt, attached,
skipped or failed. Trigger it by hand with ``sites`` to rebuild only some.

Configure the Variable ``amplify_cms_sites`` (JSON), one entry per site::

    [
      {"name": "blog", "app_id": "d1abcdefgh1234", "branch_name": "main", "aws_conn_id": "aws_cms"},
      {"name": "docs", "webhook_conn_id": "docs_webhook", "aws_conn_id": "aws_cms"}
    ]

An entry with ``webhook_conn_id`` (a connection of type ``amplify_webhook`` holding the incoming
webhook URL) is rebuilt through its webhook, any other through the StartJob API. ``aws_conn_id``
is the AWS connection of the account hosting the app (``aws_default`` when omitted).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import DAG, Param, TriggerRule
from airflow.providers.common.compat.standard.operators import PythonOperator

from airflow_amplify.operators.amplify import AmplifyStartJobOperator, AmplifyWebhookBuildOperator

SITES_VARIABLE = "amplify_cms_sites"
# Retries and polling as a deployment wants them; the demo and the tests shorten them with a cluster
# policy (demo/settings/airflow_local_settings.py), not with knobs here.
RETRY_DELAY = timedelta(seconds=30)
RETRIES = 3
POLL_INTERVAL = 5.0
NIGHTLY = "0 3 * * *"
TIMEZONE = "Europe/Berlin"


def _schedule() -> Any:
    """Nightly, and on Airflow 3 also when the CMS publish asset is updated."""
    from airflow.timetables.trigger import CronTriggerTimetable

    nightly = CronTriggerTimetable(NIGHTLY, timezone=TIMEZONE)
    try:
        from airflow.sdk import Asset
        from airflow.timetables.assets import AssetOrTimeSchedule
    except ImportError:  # Airflow 2: nightly only
        return nightly
    return AssetOrTimeSchedule(timetable=nightly, assets=[Asset("cms://content/published")])


# The Python tasks' callables, at module level and run by plain PythonOperators: a ``@task`` costs
# about twice their parse time (decorator machinery and two more ``__init__`` levels, each of which
# deep-copies the DAG's Params).


def load_sites(params: dict | None = None) -> list[dict[str, Any]]:
    """Read and check the sites (at run time: DAG parsing needs no Variable)."""
    from airflow.providers.common.compat.sdk import Variable

    sites = Variable.get(SITES_VARIABLE, deserialize_json=True)
    if not isinstance(sites, list):
        raise ValueError(
            f"Variable {SITES_VARIABLE} must be a JSON list of sites; got {type(sites).__name__}."
        )
    for i, site in enumerate(sites):
        if not site.get("name"):
            raise ValueError(f"Variable {SITES_VARIABLE}[{i}] has no name: {site!r}")
        if not site.get("webhook_conn_id") and not (site.get("app_id") and site.get("branch_name")):
            raise ValueError(
                f"Site {site['name']!r} needs webhook_conn_id, or app_id and branch_name; got {sorted(site)}."
            )
    wanted = set((params or {}).get("sites") or [])
    unknown = wanted - {s["name"] for s in sites}
    if unknown:
        raise ValueError(
            f"params.sites names unknown sites {sorted(unknown)}; known: {[s['name'] for s in sites]}"
        )
    return [dict(site, selected=not wanted or site["name"] in wanted) for site in sites]


def api_sites(sites: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The selected sites rebuilt through the StartJob API, as ``AmplifyStartJobOperator`` arguments."""
    return [
        {
            "app_id": s["app_id"],
            "branch_name": s["branch_name"],
            "aws_conn_id": s.get("aws_conn_id", "aws_default"),
            "job_reason": f"Nightly CMS rebuild of {s['name']}",
        }
        for s in sites
        if s["selected"] and not s.get("webhook_conn_id")
    ]


def webhook_sites(sites: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The selected sites rebuilt through their webhook, as ``AmplifyWebhookBuildOperator`` arguments."""
    return [
        {
            "webhook_conn_id": s["webhook_conn_id"],
            "aws_conn_id": s.get("aws_conn_id", "aws_default"),
            "allow_custom_webhook_host": bool(s.get("allow_custom_webhook_host", False)),
        }
        for s in sites
        if s["selected"] and s.get("webhook_conn_id")
    ]


def report(sites: list[dict[str, Any]], ti: Any) -> dict[str, list[str]]:
    """Say which sites were rebuilt, attached to a running build, skipped or failed."""
    outcome: dict[str, list[str]] = {"rebuilt": [], "attached": [], "skipped": [], "failed": []}
    indexes = {"rebuild_via_api": 0, "rebuild_via_webhook": 0}
    for site in sites:
        if not site["selected"]:
            outcome["skipped"].append(site["name"])
            continue
        task_id = "rebuild_via_webhook" if site.get("webhook_conn_id") else "rebuild_via_api"
        result = ti.xcom_pull(task_ids=task_id, map_indexes=indexes[task_id])
        indexes[task_id] += 1
        if not result or result.get("status") != "SUCCEED":
            outcome["failed"].append(site["name"])
        elif result.get("action") in ("attached", "merged"):
            outcome["attached"].append(f"{site['name']} (job {result['job_id']})")
        else:
            outcome["rebuilt"].append(f"{site['name']} (job {result['job_id']})")
    for kind, names in outcome.items():
        print(f"{kind:>9}: {', '.join(names) or '-'}")
    return outcome


with DAG(
    dag_id="amplify_nightly_cms_rebuild",
    description="Rebuild Amplify Hosting sites nightly and on CMS publish events",
    doc_md=__doc__,
    schedule=_schedule(),
    start_date=pendulum.datetime(2026, 1, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=1,
    tags=["amplify", "example", "cms"],
    params={
        "sites": Param(
            [],
            type="array",
            items={"type": "string"},
            description="Names of the sites to rebuild; empty for every site in the amplify_cms_sites Variable",
        ),
    },
    default_args={
        "retries": RETRIES,
        "retry_delay": RETRY_DELAY,
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
    },
) as dag:
    sites = PythonOperator(task_id="load_sites", python_callable=load_sites).output
    api = PythonOperator(task_id="api_sites", python_callable=api_sites, op_kwargs={"sites": sites}).output
    webhook = PythonOperator(
        task_id="webhook_sites", python_callable=webhook_sites, op_kwargs={"sites": sites}
    ).output
    by_api = AmplifyStartJobOperator.partial(
        task_id="rebuild_via_api",
        job_type="RELEASE",
        if_busy="attach",
        deferrable=True,
        waiter_delay=POLL_INTERVAL,
        waiter_max_delay=max(POLL_INTERVAL, 30.0),
        map_index_template="{{ task.app_id }}/{{ task.branch_name }}",
    ).expand_kwargs(api)
    by_webhook = AmplifyWebhookBuildOperator.partial(
        task_id="rebuild_via_webhook",
        if_busy="attach",
        deferrable=True,
        waiter_delay=POLL_INTERVAL,
        waiter_max_delay=max(POLL_INTERVAL, 30.0),
        map_index_template="{{ task.webhook_conn_id }}",
    ).expand_kwargs(webhook)

    # multiple_outputs: each key of the returned dict is also an XCom of its own.
    summary = PythonOperator(
        task_id="report",
        python_callable=report,
        op_kwargs={"sites": sites},
        trigger_rule=TriggerRule.ALL_DONE,
        multiple_outputs=True,
    )
    [by_api, by_webhook] >> summary
