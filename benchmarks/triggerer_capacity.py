"""Triggerer capacity: CPU and memory per concurrent job wait, AmplifyJobTrigger against the amazon way.

N builds (100, 500 and 1,000 by default) run at once in the local world, which is served by its
own process so its CPU is not counted. For each N and each side, a fresh child process runs N
job waits in one asyncio event loop the way Airflow's triggerer does (a task per trigger that
iterates the trigger's ``run()`` to its end, collecting events; ``greenback.ensure_portal()``
first where Airflow 3 has it):

- ``amazon``: one ``AwsBaseWaiterTrigger`` subclass per wait, polling this package's
  ``job_complete`` waiter every ``--delay`` seconds, each with its own aiobotocore client (the
  amazon provider's usual way; the baseline);
- ``amplify``: :class:`~airflow_amplify.triggers.amplify.AmplifyJobTrigger` (first delay
  ``--delay``/2, at most ``--delay``), whose instances share one client per connection.

Builds last from ``--min-build`` to ``--max-build`` seconds (spread evenly), so completions come
throughout the wait. Measured in the child: process CPU seconds from just before the triggers are
made to the last event, and resident memory (peak RSS over the RSS after imports and one warm-up
client). Every wait must fire exactly one event (else it is *lost*), at most ``--delay`` + 10 s
after its build ended in the world (else it is *late*). Goal: at 1,000 waits, ``amplify`` uses at
most half the memory per wait of ``amazon``, with no lost or late completion.

    .venv/bin/python benchmarks/triggerer_capacity.py [--n 100 500 1000] [--delay 10]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-"))
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_CONFIG_FILE", os.devnull)
os.environ.setdefault("AWS_SHARED_CREDENTIALS_FILE", os.devnull)

SIDES = ("amazon", "amplify")
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


# --- the child: one side, N waits, one event loop ---------------------------------------------


def amazon_trigger_class():
    """The amazon provider's usual way: an AwsBaseWaiterTrigger over a JSON waiter, a client per wait."""
    from airflow.providers.amazon.aws.triggers.base import AwsBaseWaiterTrigger

    from airflow_amplify.hooks.amplify import AmplifyHook

    class AmplifyJobCompleteTrigger(AwsBaseWaiterTrigger):
        aws_hook_class = AmplifyHook

        def __init__(self, app_id, branch_name, job_id, waiter_delay=15, waiter_max_attempts=480, **kwargs):
            super().__init__(
                serialized_fields={"app_id": app_id, "branch_name": branch_name, "job_id": job_id},
                waiter_name="job_complete",
                waiter_args={"appId": app_id, "branchName": branch_name, "jobId": job_id},
                failure_message="Amplify job failed",
                status_message="Amplify job status",
                status_queries=["job.summary.status"],
                return_key="job_id",
                return_value=job_id,
                waiter_delay=waiter_delay,
                waiter_max_attempts=waiter_max_attempts,
                **kwargs,
            )

        def hook(self):  # amazon < 9.37 has no aws_hook_class
            return AmplifyHook(
                aws_conn_id=self.aws_conn_id,
                region_name=self.region_name,
                verify=self.verify,
                config=self.botocore_config,
            )

    return AmplifyJobCompleteTrigger


async def run_trigger(trigger, record: dict) -> None:
    """As Airflow's TriggerRunner.run_trigger: iterate run() to its end, keep every event."""
    try:
        import greenback

        await greenback.ensure_portal()
    except ImportError:  # Airflow 2 has no greenback portal
        pass
    try:
        async for event in trigger.run():
            record["events"].append((time.time(), event.payload.get("status")))
    except Exception as err:  # the triggerer logs it and fails the task: a lost completion here
        record["error"] = repr(err)
    finally:
        await trigger.cleanup()


async def warm_up(side: str, trigger) -> None:
    """Open and close one client the side's way, so imports and the service model are loaded."""
    if side == "amazon":
        async with await trigger.hook().get_async_conn():
            pass
    else:
        async with trigger._client():
            pass


def child(args: argparse.Namespace) -> int:
    # Log lines are still formatted and written, as in a triggerer, but to /dev/null; the
    # original stdout carries only the READY handshake.
    ready = os.fdopen(os.dup(1), "w")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    from airflow_amplify.triggers.amplify import AmplifyJobTrigger

    amazon = amazon_trigger_class()

    def make(app_id: str, branch: str, job_id: str):
        if args.side == "amazon":
            return amazon(
                app_id=app_id,
                branch_name=branch,
                job_id=job_id,
                waiter_delay=args.delay,
                aws_conn_id="aws_bench",
            )
        return AmplifyJobTrigger(
            app_id=app_id,
            branch_name=branch,
            job_id=job_id,
            aws_conn_id="aws_bench",
            poll_interval=args.delay / 2,
            max_poll_interval=args.delay,
        )

    async def main() -> dict:
        await warm_up(args.side, make("d0000000000000", "b00", "0"))
        gc.collect()
        base_rss = rss()
        print("READY", file=ready, flush=True)
        jobs = json.loads(await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline))
        peak = [base_rss]
        done = asyncio.Event()

        async def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], rss())
                await asyncio.sleep(0.25)

        cpu0 = time.process_time()
        sampler = asyncio.create_task(sample())
        records = {f"{a}/{b}": {"events": []} for a, b, _ in jobs}
        tasks = [asyncio.create_task(run_trigger(make(a, b, j), records[f"{a}/{b}"])) for a, b, j in jobs]
        await asyncio.gather(*tasks)
        cpu = time.process_time() - cpu0
        done.set()
        await sampler
        peak_rss = max(peak[0], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
        return {"cpu": cpu, "base_rss": base_rss, "peak_rss": peak_rss, "records": records}

    result = asyncio.run(main())
    with open(args.result, "w") as f:
        json.dump(result, f)
    return 0


# --- the parent: the world, the jobs, the table -----------------------------------------------


def start_world() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_amplify.testing", "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    return proc, proc.stdout.readline().strip()


def measure(world, apps: list[dict], side: str, n: int, args: argparse.Namespace) -> dict:
    """One side, N waits, in a fresh child process."""
    branches = [(app["app_id"], branch) for app in apps for branch in app["branches"]][:n]
    span = args.max_build - args.min_build
    with tempfile.NamedTemporaryFile(suffix=".json") as result:
        cmd = [sys.executable, __file__, "--child", side, "--n", str(n)]
        cmd += ["--delay", str(args.delay), "--result", result.name]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "READY"
        amplify = world.client("amplify")
        jobs = []
        for i, (app_id, branch) in enumerate(branches):
            world.script_next_job(
                app_id,
                branch,
                pending_seconds=0,
                provision_seconds=1,
                build_seconds=args.min_build + span * i / max(1, n - 1),
                deploy_seconds=1,
            )
            job = amplify.start_job(appId=app_id, branchName=branch, jobType="RELEASE")
            jobs.append((app_id, branch, job["jobSummary"]["jobId"]))
        proc.stdin.write(json.dumps(jobs) + "\n")
        proc.stdin.flush()
        if proc.wait() != 0:
            raise RuntimeError(f"{side} child failed")
        with open(result.name) as f:
            data = json.load(f)
    ends = {(j["app_id"], j["branch_name"], j["job_id"]): j["end_time"] for j in world.jobs()}
    lost = late = 0
    worst = 0.0
    for app_id, branch, job_id in jobs:
        events = data["records"][f"{app_id}/{branch}"]["events"]
        if len(events) != 1 or events[0][1] != "success":
            lost += 1
            continue
        latency = events[0][0] - ends[(app_id, branch, job_id)]
        worst = max(worst, latency)
        late += latency > args.delay + 10
    world.clear_requests()
    return {
        "cpu": data["cpu"] / n,
        "mb": (data["peak_rss"] - data["base_rss"]) / n / 2**20,
        "lost": lost,
        "late": late,
        "worst": worst,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="*", default=[100, 500, 1000], help="concurrent waits")
    parser.add_argument(
        "--delay", type=float, default=10.0, help="longest poll interval, seconds (default 10)"
    )
    parser.add_argument("--min-build", type=float, default=15.0, help="shortest build, seconds (default 15)")
    parser.add_argument("--max-build", type=float, default=35.0, help="longest build, seconds (default 35)")
    parser.add_argument("--child", choices=SIDES, dest="side", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()

    from airflow_amplify.testing import WorldClient

    if args.side:
        return child(args)

    proc, url = start_world()
    try:
        world = WorldClient(url)
        os.environ["AIRFLOW_CONN_AWS_BENCH"] = json.dumps(world.aws_connection())
        world.settings(concurrency_limit=max(args.n) + 10)
        per_app = 50  # Amplify's branches-per-app limit
        apps = [
            world.seed_app(f"bench{a}", [f"b{i:02d}" for i in range(per_app)])
            for a in range(-(-max(args.n) // per_app))
        ]
        rows = []
        for n in args.n:
            for side in SIDES:
                rows.append((n, side, measure(world, apps, side, n, args)))
                print(f"  measured {side} x {n}", file=sys.stderr, flush=True)
    finally:
        proc.terminate()
        proc.wait()

    print(
        f"Triggerer capacity: one event loop per side and N, polls at most every {args.delay:g} s, "
        f"builds {args.min_build:g}-{args.max_build:g} s; late = event > {args.delay + 10:g} s after the build"
    )
    print(
        f"{'N':>5}  {'side':<8} {'CPU s/wait':>10} {'MB/wait':>8} {'lost':>5} {'late':>5} "
        f"{'worst s':>8} {'CPU ratio':>9} {'MB ratio':>9}  goal"
    )
    for n, side, r in rows:
        base = next(x for m, s, x in rows if m == n and s == "amazon")
        cpu_ratio, mb_ratio = r["cpu"] / base["cpu"], r["mb"] / base["mb"]
        goal = ""
        if side == "amplify" and n == 1000:
            ok = mb_ratio <= 0.5 and r["lost"] == 0 and r["late"] == 0
            goal = "met" if ok else "missed"
        print(
            f"{n:>5}  {side:<8} {r['cpu']:>10.4f} {r['mb']:>8.3f} {r['lost']:>5} {r['late']:>5} "
            f"{r['worst']:>8.1f} {cpu_ratio:>8.2f}x {mb_ratio:>8.2f}x  {goal}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
