"""Job wait: API calls and detection latency of AmplifyJobTrigger against fixed 5-second polling.

Emulated builds of 1, 5 and 20 minutes run in the local world with every time divided by
``--scale`` (builds, poll intervals, caps), so a 20-minute build takes a minute here. The three
waiters watch identical builds on separate branches at the same time:

- ``fixed``: GetJob every 5 s (the usual hand-written loop; the baseline);
- ``trigger``: AmplifyJobTrigger with the operators' defaults (5 s first delay, 30 s cap) and the
  branch's usual duration known, as it is once a branch has built before;
- ``trigger, no history``: the same without a usual duration (a branch's first build).

Latency is measured from the build's end (the world's event time) to the waiter's answer and is
printed in unscaled seconds. Goal: at most a quarter of the baseline's calls, and a latency of at
most 10% of the build or 30 s, whichever is smaller.

    .venv/bin/python benchmarks/job_wait.py [--scale 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import threading
import time

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-"))
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_CONFIG_FILE", os.devnull)
os.environ.setdefault("AWS_SHARED_CREDENTIALS_FILE", os.devnull)


def measure(world, app: dict, branches: list[str], minutes: float, k: float) -> list[tuple]:
    """One build duration: identical builds on each branch, waited for side by side."""
    from airflow_amplify.triggers.amplify import AmplifyJobTrigger

    amplify = world.client("amplify")
    build = minutes * 60 / k
    for branch in branches:  # a short provisioning, then BUILD and DEPLOY
        world.script_next_job(
            app["app_id"],
            branch,
            pending_seconds=0,
            provision_seconds=10 / k,
            build_seconds=build * 0.8,
            deploy_seconds=build * 0.2,
        )
    jobs = {
        b: amplify.start_job(appId=app["app_id"], branchName=b, jobType="RELEASE")["jobSummary"]["jobId"]
        for b in branches
    }
    world.clear_requests()
    answered: dict[str, float] = {}

    def fixed_polling() -> None:
        client = world.client("amplify")
        while True:
            job = client.get_job(appId=app["app_id"], branchName="fixed", jobId=jobs["fixed"])["job"]
            if job["summary"]["status"] in ("SUCCEED", "FAILED", "CANCELLED"):
                answered["fixed"] = time.time()
                return
            time.sleep(5 / k)

    async def trigger_wait(branch: str, expected: float | None) -> None:
        trigger = AmplifyJobTrigger(
            app_id=app["app_id"],
            branch_name=branch,
            job_id=jobs[branch],
            aws_conn_id="aws_bench",
            poll_interval=5 / k,
            max_poll_interval=30 / k,
            expected_duration=expected,
        )
        async for _ in trigger.run():
            answered[branch] = time.time()
            return

    async def triggers() -> None:
        await asyncio.gather(trigger_wait("trigger", build), trigger_wait("trigger-no-history", None))

    baseline = threading.Thread(target=fixed_polling)
    baseline.start()
    asyncio.run(triggers())
    baseline.join()
    ends = {
        j["branch_name"]: j["end_time"]
        for j in world.jobs(app_id=app["app_id"])
        if j["job_id"] == jobs[j["branch_name"]]
    }
    return [(minutes, b, world.count("GetJob", branch_name=b), (answered[b] - ends[b]) * k) for b in branches]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scale", type=float, default=20.0, help="divide every duration by this (default 20)"
    )
    parser.add_argument("--minutes", type=float, nargs="*", default=[1, 5, 20], help="build durations")
    args = parser.parse_args()
    k = args.scale

    from airflow_amplify.testing import WorldClient, WorldServer

    rows: list[tuple] = []
    with WorldServer() as server:
        world = WorldClient(server.url)
        os.environ["AIRFLOW_CONN_AWS_BENCH"] = json.dumps(world.aws_connection())
        branches = ["fixed", "trigger", "trigger-no-history"]
        app = world.seed_app("bench", branches)
        for minutes in args.minutes:
            rows += measure(world, app, branches, minutes, k)
    print(f"Job wait, every duration divided by {k:g} (latencies shown unscaled)")
    print(f"{'build':>6}  {'waiter':<20} {'GetJob calls':>12} {'vs fixed':>9} {'latency s':>10} {'goal':>22}")
    for minutes, branch, calls, latency in rows:
        fixed_calls = next(c for m, b, c, _ in rows if m == minutes and b == "fixed")
        goal_latency = min(0.1 * minutes * 60, 30)
        ok = (
            ""
            if branch == "fixed"
            else (
                "met"
                if calls <= fixed_calls / 4 and latency <= goal_latency
                else f"missed (<= {fixed_calls / 4:.0f}, {goal_latency:.0f} s)"
            )
        )
        print(
            f"{minutes:>4g} m  {branch:<20} {calls:>12} {calls / fixed_calls:>8.2f}x {latency:>10.1f} {ok:>22}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
