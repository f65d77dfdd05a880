"""Parse overhead: the example DAGs against the same DAG shapes built from EmptyOperator, one run.

For each file in ``dags/`` the script builds a twin of its DAGs: the same DAG arguments (params,
default_args), the same task ids and edges, every task an ``EmptyOperator``. It times:

- **warm**: with the modules the file imports already loaded, as Airflow's DAG processor works with
  ``[dag_processor] parsing_pre_import_modules`` (the default): executing the DAG file against
  building its twin, median of ``--runs``;
- **cold**: the file's first parse in a fresh interpreter (Airflow imported first, outside the
  timing), its own imports included, median of ``--cold-runs``.

Goal: warm at most 1.1x.

    .venv/bin/python benchmarks/parse_overhead.py [--runs 50] [--cold-runs 5]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DAGS = Path(__file__).resolve().parent.parent / "dags"
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")


def twin_builder(path: Path):
    """A function that builds the file's DAGs again: same DAG arguments (params, default_args,
    schedule), same task ids and edges, every task an ``EmptyOperator``."""
    from airflow.providers.common.compat.sdk import DAG
    from airflow.providers.standard.operators.empty import EmptyOperator

    module = load(path, "shape_source")
    dags = [v for v in vars(module).values() if type(v).__name__ == "DAG"]

    def build() -> None:
        for dag in dags:
            with DAG(
                dag_id=dag.dag_id,
                schedule=None,
                start_date=dag.start_date,
                catchup=False,
                params=dag.params,
                default_args=dag.default_args,
                doc_md=dag.doc_md,
            ):
                tasks = {tid: EmptyOperator(task_id=tid.replace(".", "__")) for tid in dag.task_dict}
                for tid, task in dag.task_dict.items():
                    for downstream in task.downstream_task_ids:
                        tasks[tid] >> tasks[downstream]

    return build


def time_builder(build, runs: int) -> float:
    build()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        build()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def warm(path: Path, runs: int) -> float:
    code = compile(path.read_text(), str(path), "exec")
    load(path, "warmup")  # the file's imports are loaded once, as with pre-imported modules
    times = []
    for i in range(runs):
        started = time.perf_counter()
        exec(code, {"__name__": f"bench_{i}", "__file__": str(path)})
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def cold(path: Path, runs: int) -> float:
    script = (
        "import time, importlib.util, airflow, airflow.providers.common.compat.sdk\n"
        f"spec = importlib.util.spec_from_file_location('cold', {str(path)!r})\n"
        "m = importlib.util.module_from_spec(spec)\n"
        "t = time.perf_counter(); spec.loader.exec_module(m); print(time.perf_counter() - t)\n"
    )
    times = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        ).stdout
        times.append(float(out.strip().splitlines()[-1]))
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--cold-runs", type=int, default=5)
    args = parser.parse_args()
    rows = []
    for path in sorted(DAGS.glob("*.py")):
        rows.append(
            (
                path.name,
                warm(path, args.runs),
                time_builder(twin_builder(path), args.runs),
                cold(path, args.cold_runs),
            )
        )
    print("Parse time of each example DAG against the same DAG shape built from EmptyOperator (medians)")
    print(f"{'file':<38} {'warm ours':>10} {'warm twin':>10} {'ratio':>6} {'cold ours':>10}")
    for name, w_ours, w_twin, c_ours in rows:
        print(
            f"{name:<38} {w_ours * 1000:>8.1f}ms {w_twin * 1000:>8.1f}ms {w_ours / w_twin:>5.2f}x {c_ours:>9.2f}s"
        )
    print(
        "goal: warm ratio <= 1.1; cold = the file's first parse in a fresh interpreter, its imports included"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
