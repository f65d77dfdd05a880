"""Event-driven waits: API calls, detection latency, capacity and lost events, against polling.

Three measurements, each printed as one table of side-by-side ratios (``--part a b c``, default all):

a. **Calls and latency per build length.** Builds of 1, 5 and 20 minutes (every duration divided
   by ``--scale``, as in ``benchmarks/job_wait.py``) waited for side by side on separate branches:
   ``fixed`` (GetJob every 5 s, the baseline), ``trigger`` / ``trigger, no history`` (today's
   polling AmplifyJobTrigger with and without the branch's usual duration), and ``events`` /
   ``events, no history`` (the same trigger with status events from this world's EventBridge and
   a safety poll of 300 s, scaled). A triggerer already running is assumed: its Amplify client
   open and its queue's consumer reading (the first wait of a process pays for both once).
   Polling latencies are scaled back up like the builds; event
   latencies are shown as measured, because nothing on the event path (EventBridge, SQS long
   poll, one GetJob) is a scaled delay. Goal: events at most 0.05x the fixed loop's GetJob calls
   and at most 2 s latency at every length.
b. **Capacity.** ``--n`` builds (default 1,000, 15-35 s, each held CREATED until all are started, then
   leaving it over 20 s)
   waited for in one child process and event loop, as the triggerer runs them, with events and with today's polling (10 s cap): Amplify and
   SQS calls per wait, CPU and peak memory per wait, lost (no or a wrong event) and late (more than
   10 s after the build) completions, and the event loop's longest block (the worst lateness of a
   10 ms ticker task). The world runs in its own process so its CPU is not counted.
c. **Lost events.** ``--lost-n`` builds waited for with events while 10% of the world's events are
   dropped, beside a run with none dropped, safety poll ``--safety`` s: every wait must complete,
   within the safety interval of its build's end.

    .venv/bin/python benchmarks/event_wait.py [--part a b c] [--scale 20] [--n 1000]
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
import threading
import time

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-"))
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_CONFIG_FILE", os.devnull)
os.environ.setdefault("AWS_SHARED_CREDENTIALS_FILE", os.devnull)

PAGE = os.sysconf("SC_PAGE_SIZE")
#: Where the tables go: the original stdout (the triggers' own log lines are sent to /dev/null).
REPORT = sys.stdout


def say(*parts: object) -> None:
    print(*parts, file=REPORT, flush=True)


TERMINAL = ("SUCCEED", "FAILED", "CANCELLED")


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def start_world() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_amplify.testing", "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    return proc, proc.stdout.readline().strip()


def set_up_events(world, name: str = "bench") -> str:
    """The setup operator's hook against the world; returns this triggerer's queue URL."""
    import logging

    from airflow_amplify.hooks.events import AmplifyEventsHook

    hook = AmplifyEventsHook(aws_conn_id="aws_bench")
    result = hook.ensure_delivery(
        "bench-rule", {name: f"bench-events-{name}"}, 86400, logging.getLogger("bench")
    )
    return result["queues"][name]


def quiet_logs() -> None:
    import logging

    logging.disable(logging.CRITICAL)


# --- a: calls and latency per build length --------------------------------------------------------


def measure_a(world, app: dict, waiters: list[str], minutes: float, k: float, events: dict) -> list[tuple]:
    """(a) for one build length: identical builds on each waiter's branch, waited for side by side."""
    from airflow_amplify.triggers import _events
    from airflow_amplify.triggers.amplify import AmplifyJobTrigger

    rows = []
    build = minutes * 60 / k
    amplify = world.client("amplify")
    for branch in waiters:
        world.script_next_job(
            app["app_id"], branch, created_seconds=0, pending_seconds=0, provision_seconds=10 / k,
            build_seconds=build * 0.8, deploy_seconds=build * 0.2,
        )  # fmt: skip
    jobs: dict[str, str] = {}
    answered: dict[str, float] = {}

    def start_jobs() -> None:
        for b in waiters:
            jobs[b] = amplify.start_job(appId=app["app_id"], branchName=b, jobType="RELEASE")["jobSummary"][
                "jobId"
            ]
        world.clear_requests()

    def fixed_polling() -> None:
        client = world.client("amplify")
        while True:
            job = client.get_job(appId=app["app_id"], branchName="fixed", jobId=jobs["fixed"])["job"]
            if job["summary"]["status"] in TERMINAL:
                answered["fixed"] = time.time()
                return
            time.sleep(5 / k)

    def trigger(branch: str, expected: float | None, with_events: bool) -> AmplifyJobTrigger:
        return AmplifyJobTrigger(
            app_id=app["app_id"], branch_name=branch, job_id=jobs.get(branch, "0"), aws_conn_id="aws_bench",
            poll_interval=5 / k, max_poll_interval=30 / k, expected_duration=expected,
            events=events if with_events else False,
        )  # fmt: skip

    async def wait(branch: str, expected: float | None, with_events: bool) -> None:
        async for _ in trigger(branch, expected, with_events).run():
            answered[branch] = time.time()
            return

    async def scenario() -> None:
        # A triggerer that is already running: its Amplify client open, its queue's consumer reading.
        warm = trigger("events", None, True)
        config = _events.events_config(events)
        consumer = _events.consumer_for(
            config, warm.client_key(), _events.sqs_opener("aws_bench", None, None, None)
        )
        async with warm._client(), consumer.watch(("warm-up",)):
            while consumer.stats["receives"] < 1:
                await asyncio.sleep(0.05)
            await asyncio.get_running_loop().run_in_executor(None, start_jobs)
            baseline = threading.Thread(target=fixed_polling)
            baseline.start()
            await asyncio.gather(
                wait("trigger", build, False),
                wait("trigger-no-history", None, False),
                wait("events", build, True),
                wait("events-no-history", None, True),
            )
            await asyncio.get_running_loop().run_in_executor(None, baseline.join)

    asyncio.run(scenario())
    ends = {
        j["branch_name"]: j["end_time"]
        for j in world.jobs(app_id=app["app_id"])
        if j["job_id"] == jobs[j["branch_name"]]
    }
    receives = world.count("ReceiveMessage")
    for b in waiters:
        latency = answered[b] - ends[b]
        rows.append(
            (
                minutes,
                b,
                world.count("GetJob", branch_name=b),
                latency if b.startswith("events") else latency * k,
                receives if b.startswith("events") else 0,
            )
        )
    return rows


def part_a(world, args) -> None:
    k = args.scale
    events = {"queue_url": set_up_events(world, "a"), "safety_poll_interval": max(1.0, 300 / k)}
    waiters = ["fixed", "trigger", "trigger-no-history", "events", "events-no-history"]
    app = world.seed_app("bench-a", waiters)
    rows = []
    for minutes in args.minutes:
        rows += measure_a(world, app, waiters, minutes, k, events)
        print(f"  measured {minutes:g}-minute builds", file=sys.stderr, flush=True)

    say(f"\n(a) Calls and detection latency per wait; durations divided by {k:g}; safety poll 300 s (scaled)")
    say(
        f"{'build':>6}  {'waiter':<20} {'GetJob':>7} {'vs fixed':>9} {'latency s':>10} {'SQS receives':>13}  goal"
    )
    for minutes, branch, calls, latency, receives in rows:
        fixed_calls = next(c for m, b, c, _, _ in rows if m == minutes and b == "fixed")
        goal = ""
        if branch.startswith("events"):
            goal = "met" if calls <= 0.05 * fixed_calls and latency <= 2 else "missed (<= 0.05x, <= 2 s)"
            if calls == 2 and 0.05 * fixed_calls < 2:
                goal += f"; the floor, a read at the start and one to confirm, is {2 / fixed_calls:.3f}x"
        shared = f"{receives:>6} shared" if receives else ""
        say(
            f"{minutes:>4g} m  {branch:<20} {calls:>7} {calls / fixed_calls:>8.3f}x {latency:>10.2f} {shared:>13}  {goal}"
        )


# --- b: capacity, one child process per side -------------------------------------------------------


def child(args) -> int:
    ready = os.fdopen(os.dup(1), "w")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    quiet_logs()
    from airflow_amplify.triggers import _events
    from airflow_amplify.triggers.amplify import AmplifyJobTrigger

    events = json.loads(args.events) if args.events else False

    def make(app_id: str, branch: str, job_id: str) -> AmplifyJobTrigger:
        return AmplifyJobTrigger(
            app_id=app_id, branch_name=branch, job_id=job_id, aws_conn_id="aws_bench",
            poll_interval=args.delay / 2, max_poll_interval=args.delay, events=events,
        )  # fmt: skip

    async def main() -> dict:
        async with make("d0000000000000", "b00", "0")._client():
            pass  # warm up: imports, the service model
        gc.collect()
        base_rss = rss()
        print("READY", file=ready, flush=True)
        jobs = json.loads(await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline))
        peak, worst_block, done = [base_rss], [0.0], asyncio.Event()

        async def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], rss())
                before = time.monotonic()
                await asyncio.sleep(0.01)
                worst_block[0] = max(worst_block[0], time.monotonic() - before - 0.01)

        async def run(trigger, record) -> None:
            try:
                async for event in trigger.run():
                    record.append((time.time(), event.payload.get("status")))
            except Exception as err:
                record.append((time.time(), f"error {err!r}"))

        cpu0 = time.process_time()
        sampler = asyncio.create_task(sample())
        records = {f"{a}/{b}": [] for a, b, _ in jobs}
        await asyncio.gather(*(run(make(a, b, j), records[f"{a}/{b}"]) for a, b, j in jobs))
        cpu = time.process_time() - cpu0
        stats = [c.stats for c in _events.consumers()]
        done.set()
        await sampler
        peak_rss = max(peak[0], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
        return {
            "cpu": cpu,
            "mb": (peak_rss - base_rss) / 2**20,
            "block": worst_block[0],
            "records": records,
            "consumers": stats,
        }

    result = asyncio.run(main())
    with open(args.result, "w") as f:
        json.dump(result, f)
    return 0


def run_child(world, apps, n: int, args, events: dict | None, build_span: tuple[float, float]) -> dict:
    branches = [(app["app_id"], b) for app in apps for b in app["branches"]][:n]
    low, high = build_span
    with tempfile.NamedTemporaryFile(suffix=".json") as result:
        cmd = [sys.executable, __file__, "--child", "--delay", str(args.delay), "--result", result.name]
        if events:
            cmd += ["--events", json.dumps(events)]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "READY"
        amplify = world.client("amplify")
        jobs = []
        # Starting a thousand jobs one by one takes a while: each job stays CREATED until about the
        # time the last one is started, so no build is over before the waits begin.
        began, per_job = time.monotonic(), 0.15
        for i, (app_id, branch) in enumerate(branches):
            if i == 20:
                per_job = (time.monotonic() - began) / 20 * 1.5
            hold = max(1.0, began + per_job * n + 5 - time.monotonic()) + 20.0 * i / n  # spread over 20 s
            world.script_next_job(
                app_id, branch, created_seconds=hold, pending_seconds=0, provision_seconds=1,
                build_seconds=low + (high - low) * i / max(1, n - 1), deploy_seconds=1,
            )  # fmt: skip
            job = amplify.start_job(appId=app_id, branchName=branch, jobType="RELEASE")
            jobs.append((app_id, branch, job["jobSummary"]["jobId"]))
        world.clear_requests()
        proc.stdin.write(json.dumps(jobs) + "\n")
        proc.stdin.flush()
        if proc.wait() != 0:
            raise RuntimeError("child failed")
        with open(result.name) as f:
            data = json.load(f)
    ends = {(j["app_id"], j["branch_name"], j["job_id"]): j["end_time"] for j in world.jobs()}
    latencies, lost = [], 0
    for app_id, branch, job_id in jobs:
        record = data["records"][f"{app_id}/{branch}"]
        if len(record) != 1 or record[0][1] != "success":
            lost += 1
            continue
        latencies.append(record[0][0] - ends[(app_id, branch, job_id)])
    data.update(
        n=n, lost=lost, latencies=sorted(latencies), getjob=world.count("GetJob"),
        sqs=len(world.requests(service="sqs")), events=world.events(),
    )  # fmt: skip
    return data


def capacity_apps(world, n: int, tag: str) -> list[dict]:
    world.settings(concurrency_limit=n + 10)
    return [world.seed_app(f"{tag}{a}", [f"b{i:02d}" for i in range(50)]) for a in range(-(-n // 50))]


def part_b(world, args) -> None:
    rows = []
    for side in ("polling", "events"):
        # A fresh queue for the events side: what the polling side's builds published is not its backlog.
        events = (
            {"queue_url": set_up_events(world, "b"), "safety_poll_interval": 300}
            if side == "events"
            else None
        )
        apps = capacity_apps(world, args.n, f"cap-{side}-")
        rows.append((side, run_child(world, apps, args.n, args, events, (15.0, 35.0))))
        print(f"  measured {side} x {args.n}", file=sys.stderr, flush=True)
    say(
        f"\n(b) {args.n} concurrent waits in one triggerer event loop; builds 15-35 s; polling caps at {args.delay:g} s"
    )
    say(
        f"{'side':<8} {'GetJob/wait':>11} {'SQS/wait':>9} {'CPU ms/wait':>11} {'KB/wait':>8} {'lost':>5} "
        f"{'late':>5} {'p50 s':>6} {'max s':>6} {'block ms':>9} {'calls ratio':>11} {'CPU ratio':>9}"
    )
    base = rows[0][1]
    for side, r in rows:
        n = r["n"]
        late = sum(1 for x in r["latencies"] if x > 10)
        p50 = r["latencies"][len(r["latencies"]) // 2] if r["latencies"] else float("nan")
        worst = r["latencies"][-1] if r["latencies"] else float("nan")
        say(
            f"{side:<8} {r['getjob'] / n:>11.2f} {r['sqs'] / n:>9.3f} {1000 * r['cpu'] / n:>11.2f} "
            f"{1024 * r['mb'] / n:>8.1f} {r['lost']:>5} {late:>5} {p50:>6.2f} {worst:>6.2f} "
            f"{1000 * r['block']:>9.1f} {r['getjob'] / base['getjob']:>10.3f}x {r['cpu'] / base['cpu']:>8.2f}x"
        )
    ev = rows[1][1]
    say(
        f"events: consumers {len(ev['consumers'])}, {ev['consumers']}; world events {ev['events']['delivered']} delivered"
    )


# --- c: 10% of the events dropped ------------------------------------------------------------------


def part_c(world, args) -> None:
    rows = []
    for rate in (0.0, 0.1):
        events = {
            "queue_url": set_up_events(world, f"c{int(rate * 100)}"),
            "safety_poll_interval": args.safety,
        }
        world.clear_faults()
        if rate:
            world.inject_fault("drop", service="event-delivery", rate=rate, seed=7)
        apps = capacity_apps(world, args.lost_n, f"lost-{int(rate * 100)}-")
        rows.append((rate, run_child(world, apps, args.lost_n, args, events, (3.0, 13.0))))
        print(f"  measured drop rate {rate:.0%}", file=sys.stderr, flush=True)
    world.clear_faults()
    for rate, r in rows:
        say(f"  drop {rate:.0%}: consumers {r['consumers']}")
    say(f"\n(c) {args.lost_n} waits with events, safety poll {args.safety:g} s, builds 3-13 s")
    say(
        f"{'dropped':>8} {'events dropped':>14} {'completed':>10} {'lost':>5} {'by event':>9} {'by safety poll':>15} {'max s':>6} {'GetJob/wait':>11}  goal"
    )
    for rate, r in rows:
        lat = r["latencies"]
        by_event = sum(1 for x in lat if x <= 2)
        goal = "met" if r["lost"] == 0 and lat and lat[-1] <= args.safety + 2 else "missed"
        say(
            f"{rate:>8.0%} {r['events']['dropped']:>14} {len(lat):>10} {r['lost']:>5} {by_event:>9} "
            f"{len(lat) - by_event:>15} {lat[-1] if lat else float('nan'):>6.2f} {r['getjob'] / r['n']:>11.2f}  {goal}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", nargs="*", choices=["a", "b", "c"], default=["a", "b", "c"])
    parser.add_argument("--scale", type=float, default=20.0, help="(a) divide every duration by this")
    parser.add_argument("--minutes", type=float, nargs="*", default=[1, 5, 20], help="(a) build durations")
    parser.add_argument("--n", type=int, default=1000, help="(b) concurrent waits")
    parser.add_argument("--delay", type=float, default=10.0, help="(b) polling's longest interval, s")
    parser.add_argument("--lost-n", type=int, default=100, help="(c) waits")
    parser.add_argument("--safety", type=float, default=20.0, help="(c) safety poll interval, s")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--events", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    from airflow_amplify.testing import WorldClient

    proc, url = start_world()
    global REPORT
    REPORT = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # the triggers' log lines (structlog on Airflow 3)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the whole run
    try:
        world = WorldClient(url)
        os.environ["AIRFLOW_CONN_AWS_BENCH"] = json.dumps(world.aws_connection())
        quiet_logs()
        for part in args.part:
            {"a": part_a, "b": part_b, "c": part_c}[part](world, args)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
