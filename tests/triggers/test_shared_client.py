"""Amplify triggers in one process share one aiobotocore client per connection settings."""

from __future__ import annotations

import asyncio
import datetime

import pytest

from airflow_amplify.triggers._shared_client import SharedAsyncClients
from airflow_amplify.triggers.amplify import AmplifyJobTrigger


@pytest.fixture
def clients(monkeypatch):
    """A fresh registry for AmplifyJobTrigger, so counts start at zero."""
    registry = SharedAsyncClients()
    monkeypatch.setattr(AmplifyJobTrigger, "clients", registry)
    return registry


def make_trigger(app, branch="main", job_id="1", conn="aws_staging"):
    return AmplifyJobTrigger(
        app_id=app["app_id"],
        branch_name=branch,
        job_id=job_id,
        aws_conn_id=conn,
        poll_interval=0.1,
        max_poll_interval=0.3,
    )


def start(world, app, branch="main", **script):
    """Start a job now. Builds run for seconds: the triggers (and, for assume-role, their client) must
    come up while they run, which takes a while on a loaded machine."""
    world.script_next_job(app["app_id"], branch, account_id=app["account_id"], **script)
    amplify = world.client("amplify", account_id=app["account_id"])
    return amplify.start_job(appId=app["app_id"], branchName=branch, jobType="RELEASE")["jobSummary"]["jobId"]


async def consume(trigger):
    """Run a trigger as the triggerer does: to the end of its generator, keeping every event."""
    return [event.payload async for event in trigger.run()]


async def until(condition, timeout=30.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


def test_two_triggers_on_one_connection_share_one_client_closed_after_the_last(
    amplify_world, aws_connections, staging_app, clients
):
    start(amplify_world, staging_app, "main", build_seconds=5.0)
    start(amplify_world, staging_app, "feature/x", build_seconds=7.0)
    first, second = make_trigger(staging_app, "main"), make_trigger(staging_app, "feature/x")
    key = first.client_key()
    assert second.client_key() == key

    async def scenario():
        runs = [asyncio.create_task(consume(t)) for t in (first, second)]
        await until(lambda: clients.users() == {key: 2})
        async with clients.client(key, None) as shared:  # a third user gets the same, open client
            assert clients.users() == {key: 3}
        events = await asyncio.gather(*runs)
        return shared, events

    shared, events = asyncio.run(scenario())
    assert [[e["status"] for e in run] for run in events] == [["success"], ["success"]]
    assert clients.opened == 1 and clients.closed == 1
    assert shared._endpoint.http_session._sessions is None  # really closed


def test_a_cancelled_trigger_releases_the_client(amplify_world, aws_connections, staging_app, clients):
    start(amplify_world, staging_app, "main", build_seconds=30)
    trigger = make_trigger(staging_app)

    async def scenario():
        run = asyncio.create_task(consume(trigger))
        await until(
            lambda: amplify_world.count("GetJob") >= 1 and clients.users() == {trigger.client_key(): 1}
        )
        run.cancel()  # the triggerer shutting down, or the task killed
        with pytest.raises(asyncio.CancelledError):
            await run
        return clients.users()

    assert asyncio.run(scenario()) == {}
    assert clients.opened == 1 and clients.closed == 1


def test_a_trigger_cancelled_while_the_client_opens_leaves_none_open(
    amplify_world, aws_connections, staging_app, clients
):
    start(amplify_world, staging_app, "main", build_seconds=30)
    trigger = make_trigger(staging_app)
    trigger.events = False  # polling: no read of the connection's event setting comes before the client

    async def scenario():
        run = asyncio.create_task(consume(trigger))
        await asyncio.sleep(0)  # the client is being opened (connection read in a thread)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        return clients.users()

    assert asyncio.run(scenario()) == {}
    assert clients.opened == clients.closed == 1  # opened for nobody, then closed


def test_different_connections_get_different_clients(
    amplify_world, aws_connections, staging_app, production_app, clients
):
    start(amplify_world, staging_app, "main", build_seconds=5.0)
    start(amplify_world, production_app, "main", build_seconds=5.0)
    staging = make_trigger(staging_app)
    production = make_trigger(production_app, conn="aws_production")
    other_region = AmplifyJobTrigger(**{**staging.serialize()[1], "region_name": "eu-west-1"})
    assert len({staging.client_key(), production.client_key(), other_region.client_key()}) == 3

    async def scenario():
        runs = [asyncio.create_task(consume(t)) for t in (staging, production)]
        await until(lambda: clients.users() == {staging.client_key(): 1, production.client_key(): 1})
        return await asyncio.gather(*runs)

    events = asyncio.run(scenario())
    assert [run[0]["status"] for run in events] == ["success", "success"]  # each account saw its own job
    assert clients.opened == 2 and clients.closed == 2


def test_assume_role_credentials_are_refreshed_on_the_shared_client(
    amplify_world, aws_connections, production_app, clients
):
    start(amplify_world, production_app, "main", build_seconds=8.0)
    start(amplify_world, production_app, "feature/x", build_seconds=8.0)
    triggers = [make_trigger(production_app, b, conn="aws_production") for b in ("main", "feature/x")]
    key = triggers[0].client_key()

    async def scenario():
        runs = [asyncio.create_task(consume(t)) for t in triggers]
        await until(lambda: clients.users() == {key: 2} and amplify_world.count("GetJob") >= 2)
        assumed = amplify_world.count("AssumeRole")
        async with clients.client(key, None) as shared:
            credentials = shared._request_signer._credentials
            before = (await credentials.get_frozen_credentials()).access_key
            credentials._expiry_time = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)
        events = await asyncio.gather(*runs)
        after = (await credentials.get_frozen_credentials()).access_key
        return events, assumed, before, after

    events, assumed, before, after = asyncio.run(scenario())
    assert [run[0]["status"] for run in events] == ["success", "success"]
    assert amplify_world.count("AssumeRole") == assumed + 1  # refreshed once, for both triggers
    assert after != before
    assert clients.opened == 1


def test_a_client_past_its_age_is_not_handed_to_new_triggers(
    amplify_world, aws_connections, staging_app, monkeypatch
):
    clients = SharedAsyncClients(max_age=0)
    monkeypatch.setattr(AmplifyJobTrigger, "clients", clients)
    start(amplify_world, staging_app, "main", build_seconds=4.0)
    start(amplify_world, staging_app, "feature/x", build_seconds=0.3)

    async def scenario():
        first = asyncio.create_task(consume(make_trigger(staging_app, "main")))
        await until(lambda: clients.opened == 1 and amplify_world.count("GetJob") >= 1)
        second = await consume(make_trigger(staging_app, "feature/x"))  # reads the connection again
        assert not first.done() and clients.opened == 2 and clients.closed == 1
        return [await first, second]

    events = asyncio.run(scenario())
    assert [run[0]["status"] for run in events] == ["success", "success"]
    assert clients.opened == 2 and clients.closed == 2


def test_a_client_that_cannot_open_fails_each_trigger_and_is_not_kept(
    amplify_world, aws_connections, staging_app, clients
):
    bad = {**make_trigger(staging_app).serialize()[1], "botocore_config": {"no_such_option": 1}}
    triggers = [AmplifyJobTrigger(**bad) for _ in range(2)]

    async def scenario():
        return await asyncio.gather(*(consume(t) for t in triggers), return_exceptions=True)

    errors = asyncio.run(scenario())
    assert all(isinstance(e, TypeError) and "no_such_option" in str(e) for e in errors), errors
    assert clients.opened == 0 and clients.closed == 0
