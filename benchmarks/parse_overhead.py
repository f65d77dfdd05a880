"""Parse overhead: the example DAGs against the same DAG shapes built from EmptyOperator, one run.

For each file in ``dags/`` the script builds a twin of its DAGs: the same DAG arguments (schedule,
params, default_args, tags, ...), the same task groups, task ids and edges, mapped tasks mapped
the same way (``partial().expand_kwargs()`` over the same upstream), every task an
``EmptyOperator``. A second twin makes every task a minimal ``BaseOperator`` subclass with its own
``__init__`` and the task's ``template_fields``: the least any operator taking arguments costs. It times:

- **warm**: with the modules the file imports already loaded, as Airflow's DAG processor works with
  ``[dag_processor] parsing_pre_import_modules`` (the default): executing the DAG file against
  building its twins, in turn, median of ``--runs``;
- **cold**: the file's first parse in a fresh interpreter (Airflow imported first, outside the
  timing), its own imports included, with bytecode caches (as installed packages have them),
  median of ``--cold-runs``.

It also counts the ``apply_defaults`` levels a parse goes through: Airflow wraps the ``__init__`` of
every operator class, and each wrapped ``__init__`` in a task's class hierarchy merges default_args
and deep-copies the DAG's Params again (``EmptyOperator``: one level; a ``@task``: four).

Goal: warm at most 1.1x against the EmptyOperator twin.

    .venv/bin/python benchmarks/parse_overhead.py [--runs 50] [--cold-runs 5] [--dags DIR]
    .venv/bin/python benchmarks/parse_overhead.py --per-operator dags/amplify_cross_account_release.py
"""

from __future__ import annotations

import argparse
import atexit
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DAGS = Path(__file__).resolve().parent.parent / "dags"
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
PYCACHE = tempfile.mkdtemp(prefix="bench-pycache-")
atexit.register(shutil.rmtree, PYCACHE, ignore_errors=True)


def apply_defaults_levels(cls: type) -> int:
    """How many classes of ``cls``'s MRO have an ``__init__`` wrapped by Airflow's ``apply_defaults``:
    each one merges the DAG's default_args and deep-copies the DAG's Params again."""
    return sum(1 for klass in cls.__mro__ if hasattr(vars(klass).get("__init__"), "__wrapped__"))


def minimal_operator_classes():
    """``factory(task) -> class``: a minimal ``BaseOperator`` subclass with its own ``__init__``
    (the least any operator taking its own arguments costs) and the task's ``template_fields``."""
    from airflow.providers.common.compat.sdk import BaseOperator

    class MinimalOperator(BaseOperator):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)

    cache: dict[tuple, type] = {}

    def factory(task) -> type:
        fields = tuple(task.template_fields)
        if fields not in cache:
            namespace = {"template_fields": fields, **dict.fromkeys(fields)}
            cache[fields] = type(f"Minimal{len(cache)}", (MinimalOperator,), namespace)
        return cache[fields]

    return factory


def _group(gid, groups: dict, made: dict, dag):
    """The twin's task group ``gid`` (made on first use, inside its parent group)."""
    from airflow.providers.common.compat.sdk import TaskGroup

    if gid is None:
        return None
    if gid not in made:
        parent, own = groups[gid]
        made[gid] = TaskGroup(own, parent_group=_group(parent, groups, made, dag), dag=dag)
    return made[gid]


def dag_shapes(path: Path) -> list:
    """The file's DAGs, loaded once (outside any timing)."""
    module = load(path, "shape_source")
    return [v for v in vars(module).values() if type(v).__name__ == "DAG"]


def twin_builder(path: Path, operator_class=None):
    """A function that builds the file's DAGs again: the same DAG arguments (schedule, params,
    default_args, tags ...), the same task groups, task ids and edges, mapped tasks mapped the same
    way (``partial().expand_kwargs()`` over the same upstream), every task an ``EmptyOperator``
    (or ``operator_class(task)``)."""
    from airflow.providers.common.compat.sdk import DAG
    from airflow.providers.standard.operators.empty import EmptyOperator

    pick = operator_class or (lambda task: EmptyOperator)
    specs = []
    expected: dict[str, dict] = {}
    for dag in dag_shapes(path):
        order = [task.task_id for task in dag.topological_sort()]
        groups = {}  # group_id -> (parent group_id or None, the group's own id)
        placed = {}  # task_id -> (class, group_id or None, local id, mapped over task_id or None)
        for tid in order:
            task = dag.task_dict[tid]
            group = task.task_group
            gid = group.group_id if group is not None and group.group_id else None
            node = group
            while node is not None and node.group_id:
                parent = node.parent_group
                groups[node.group_id] = (
                    parent.group_id if parent is not None and parent.group_id else None,
                    node._group_id,
                )
                node = parent
            mapped_over = None
            if getattr(task, "is_mapped", False):
                value = task._get_specified_expand_input().value  # an XComArg, or {arg: XComArg} for expand()
                arg = next(iter(value.values())) if isinstance(value, dict) else value
                mapped_over = arg.operator.task_id
            local = tid[len(gid) + 1 :] if gid else tid
            placed[tid] = (pick(task), gid, local, mapped_over)
        edges = [(tid, down) for tid in order for down in sorted(dag.task_dict[tid].downstream_task_ids)]
        dag_kwargs = {
            "dag_id": dag.dag_id,
            "description": dag.description,
            "doc_md": dag.doc_md,
            "schedule": getattr(dag, "schedule", None) or dag.timetable,
            "start_date": dag.start_date,
            "catchup": dag.catchup,
            "max_active_runs": dag.max_active_runs,
            "tags": sorted(dag.tags),
            "default_args": dag.default_args,
        }
        params = {key: dag.params.get_param(key) for key in dag.params}
        specs.append((dag_kwargs, params, groups, order, placed, edges))
        expected[dag.dag_id] = {tid: sorted(task.downstream_task_ids) for tid, task in dag.task_dict.items()}

    def build() -> None:
        for dag_kwargs, params, groups, order, placed, edges in specs:
            with DAG(**dag_kwargs, params=dict(params)) as twin:
                made_groups: dict = {}

                tasks = {}
                for tid in order:
                    cls, gid, local, mapped_over = placed[tid]
                    if mapped_over is None:
                        tasks[tid] = cls(task_id=local, task_group=_group(gid, groups, made_groups, twin))
                    else:
                        tasks[tid] = cls.partial(
                            task_id=local, task_group=_group(gid, groups, made_groups, twin)
                        ).expand_kwargs(tasks[mapped_over].output)
                for up, down in edges:
                    if down not in tasks[up].downstream_task_ids:
                        tasks[up] >> tasks[down]
            shape = {tid: sorted(task.downstream_task_ids) for tid, task in twin.task_dict.items()}
            assert shape == expected[twin.dag_id], f"the twin of {twin.dag_id} differs from it"

    return build


def interleaved(builders: list, runs: int) -> list[float]:
    """Median time of each builder, run in turn (ours, twin, twin, ours, ...) so that the noise of a
    shared machine falls on all of them alike."""
    for build in builders:
        build()
    times: list[list[float]] = [[] for _ in builders]
    for _ in range(runs):
        for build, spent in zip(builders, times, strict=True):
            started = time.perf_counter()
            build()
            spent.append(time.perf_counter() - started)
    return [statistics.median(spent) for spent in times]


def load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def warm(path: Path):
    """Executing the DAG file, its imports loaded once before (as with pre-imported modules)."""
    code = compile(path.read_text(), str(path), "exec")
    load(path, "warmup")
    count = iter(range(1 << 30))

    def build() -> None:
        exec(code, {"__name__": f"bench_{next(count)}", "__file__": str(path)})

    return build


def cold(path: Path, runs: int) -> float:
    script = (
        "import time, importlib.util, airflow, airflow.providers.common.compat.sdk\n"
        f"spec = importlib.util.spec_from_file_location('cold', {str(path)!r})\n"
        "m = importlib.util.module_from_spec(spec)\n"
        "t = time.perf_counter(); spec.loader.exec_module(m); print(time.perf_counter() - t)\n"
    )
    # With bytecode caches, as a deployment has them (PYTHONDONTWRITEBYTECODE would make every cold
    # run compile this package's modules from source, while site-packages ship compiled): written
    # under a private prefix by one untimed run first.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = PYCACHE
    times = []
    for _ in range(runs + 1):
        out = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env
        ).stdout
        times.append(float(out.strip().splitlines()[-1]))
    return statistics.median(times[1:])


def per_operator(path: Path, runs: int) -> None:
    """Construction time of one task of each kind inside a DAG with the file's params and
    default_args (median per task), with its ``apply_defaults`` levels."""
    from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
    from airflow.providers.amazon.aws.sensors.base_aws import AwsBaseSensor
    from airflow.providers.common.compat.sdk import DAG, task
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.providers.standard.operators.python import PythonOperator, ShortCircuitOperator

    from airflow_amplify.operators.amplify import AmplifyStartJobOperator
    from airflow_amplify.operators.ampx import AmplifyGenerateOutputsOperator, AmplifyPipelineDeployOperator
    from airflow_amplify.sensors.amplify import AmplifyJobSensor
    from airflow_amplify.sensors.cloudformation import AmplifyBackendStackSensor

    (source,) = dag_shapes(path)[:1]
    minimal = minimal_operator_classes()(AmplifyStartJobOperator)

    class MinimalAwsOperator(AwsBaseOperator):
        template_fields = AmplifyStartJobOperator.template_fields
        aws_hook_class = AmplifyStartJobOperator.aws_hook_class

        def __init__(self, *, app_id, branch_name, **kwargs):
            super().__init__(**kwargs)
            self.app_id, self.branch_name = app_id, branch_name

    class MinimalAwsSensor(AwsBaseSensor):
        template_fields = AmplifyJobSensor.template_fields
        aws_hook_class = AmplifyJobSensor.aws_hook_class

        def __init__(self, *, app_id, branch_name, **kwargs):
            super().__init__(**kwargs)
            self.app_id, self.branch_name = app_id, branch_name

    def callable_(params=None):
        return params

    aws = {"aws_conn_id": "aws_staging", "app_id": "{{ params.app }}", "branch_name": "main"}
    kinds = {
        "EmptyOperator": (EmptyOperator, lambda i: EmptyOperator(task_id=f"t{i}")),
        "minimal operator (own __init__)": (minimal, lambda i: minimal(task_id=f"t{i}")),
        "PythonOperator": (
            PythonOperator,
            lambda i: PythonOperator(task_id=f"t{i}", python_callable=callable_),
        ),
        "ShortCircuitOperator": (
            ShortCircuitOperator,
            lambda i: ShortCircuitOperator(task_id=f"t{i}", python_callable=callable_),
        ),
        "minimal AwsBaseOperator subclass": (
            MinimalAwsOperator,
            lambda i: MinimalAwsOperator(task_id=f"t{i}", **aws),
        ),
        "minimal AwsBaseSensor subclass": (
            MinimalAwsSensor,
            lambda i: MinimalAwsSensor(task_id=f"t{i}", **aws),
        ),
        "@task": (None, lambda i: task(callable_, task_id=f"t{i}")()),
        "@task.short_circuit": (None, lambda i: task.short_circuit(callable_, task_id=f"t{i}")()),
        "AmplifyStartJobOperator": (
            AmplifyStartJobOperator,
            lambda i: AmplifyStartJobOperator(task_id=f"t{i}", deferrable=True, **aws),
        ),
        "AmplifyPipelineDeployOperator": (
            AmplifyPipelineDeployOperator,
            lambda i: AmplifyPipelineDeployOperator(task_id=f"t{i}", repo_url="{{ x }}", **aws),
        ),
        "AmplifyGenerateOutputsOperator": (
            AmplifyGenerateOutputsOperator,
            lambda i: AmplifyGenerateOutputsOperator(task_id=f"t{i}", out_dir="{{ x }}", **aws),
        ),
        "AmplifyBackendStackSensor": (
            AmplifyBackendStackSensor,
            lambda i: AmplifyBackendStackSensor(task_id=f"t{i}", deferrable=True, **aws),
        ),
        "AmplifyJobSensor": (
            AmplifyJobSensor,
            lambda i: AmplifyJobSensor(task_id=f"t{i}", job_id="{{ x }}", **aws),
        ),
    }
    params = {key: source.params.get_param(key) for key in source.params}
    print(f"Construction of one task inside {source.dag_id}'s DAG arguments ({len(params)} params), medians")
    base = None
    for name, (cls, make) in kinds.items():
        times = []
        for _ in range(max(3, runs // 5)):
            with DAG(
                dag_id="per_operator",
                schedule=None,
                start_date=source.start_date,
                params=dict(params),
                default_args=source.default_args,
            ):
                started = time.perf_counter()
                for i in range(10):
                    make(i)
                times.append((time.perf_counter() - started) / 10)
        median = statistics.median(times)
        base = base or median
        levels_ = apply_defaults_levels(cls) if cls is not None else "-"
        print(f"  {name:<32} {median * 1000:>6.2f} ms {median / base:>5.2f}x  levels {levels_}")


def levels(path: Path) -> int:
    """``apply_defaults`` levels the file's tasks go through while parsed (mapped tasks: none)."""
    return sum(
        apply_defaults_levels(type(task))
        for dag in dag_shapes(path)
        for task in dag.tasks
        if not getattr(task, "is_mapped", False)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--dags", type=Path, default=DAGS, help="folder of DAG files (default: dags/)")
    parser.add_argument(
        "--per-operator",
        type=Path,
        metavar="DAG_FILE",
        help="instead: the construction cost of each kind of task in that file's DAG arguments",
    )
    args = parser.parse_args()
    if args.per_operator:
        per_operator(args.per_operator, args.runs)
        return 0
    rows = []
    for path in sorted(args.dags.glob("*.py")):
        n_empty = sum(1 for d in dag_shapes(path) for t in d.tasks if not getattr(t, "is_mapped", False))
        rows.append(
            (
                path.name,
                *interleaved(
                    [warm(path), twin_builder(path), twin_builder(path, minimal_operator_classes())],
                    args.runs,
                ),
                levels(path),
                n_empty,
                cold(path, args.cold_runs),
            )
        )
    print("Parse time of each example DAG against the same DAG shape built from EmptyOperator (medians)")
    print(
        f"{'file':<34} {'ours':>8} {'Empty twin':>10} {'ratio':>6} {'minimal twin':>12} {'ratio':>6}"
        f" {'levels ours/twin':>16} {'cold ours':>9}"
    )
    for name, w_ours, w_twin, w_min, lv_ours, lv_twin, c_ours in rows:
        print(
            f"{name:<34} {w_ours * 1000:>6.1f}ms {w_twin * 1000:>8.1f}ms {w_ours / w_twin:>5.2f}x"
            f" {w_min * 1000:>10.1f}ms {w_ours / w_min:>5.2f}x {lv_ours:>10}/{lv_twin:<5} {c_ours:>8.2f}s"
        )
    print(
        "goal: ratio against the EmptyOperator twin <= 1.1. minimal twin: every task a BaseOperator subclass\n"
        "with its own __init__ and the task's template_fields (the least any operator taking arguments\n"
        "costs). levels: apply_defaults calls per parse (each deep-copies the DAG's Params; mapped tasks\n"
        "excluded). cold: the file's first parse in a fresh interpreter, its imports included."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
