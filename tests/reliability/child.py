"""A fresh process for the restart cases: a worker that runs one example-DAG task, or a triggerer.

``python child.py task SPEC.json``: load the example DAG file, render the task's templates for the
spec's context, run ``execute`` (blocking; the spec may override attributes such as ``deferrable``),
write the result (or the error) to the spec's ``result_path``. Re-attach state lives in a
:class:`~harness.FileTaskStateStore` on Airflow 3.3+, in a Variable (metadata database) before.

``python child.py triggers SPEC.json``: rebuild triggers from their ``serialize()`` output, as a new
triggerer process does, run them side by side until each fires, write their events.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness


def run_task(spec: dict) -> None:
    store = harness.FileTaskStateStore(spec["store_path"]) if harness.has_task_state_store() else None
    task, context = harness.release_task(
        spec["dag_file"],
        spec["task_id"],
        {
            "run_id": spec["run_id"],
            "xcoms": spec.get("xcoms"),
            "params": spec.get("params"),
            "store": store,
            "try_number": spec.get("try_number", 1),
        },
        **spec.get("overrides", {}),
    )
    result_path = Path(spec["result_path"])
    try:
        result = task.execute(context)
    except BaseException as err:  # the parent reads the failure from the file
        result_path.write_text(
            json.dumps({"error": f"{type(err).__name__}: {err}", "trace": traceback.format_exc()})
        )
        raise
    result_path.write_text(json.dumps({"result": result, "xcoms": context["ti"].xcoms}, default=str))


def run_triggers(spec: dict) -> None:
    triggers = []
    for classpath, kwargs in spec["triggers"]:
        module, _, name = classpath.rpartition(".")
        triggers.append(getattr(importlib.import_module(module), name)(**kwargs))

    async def first_event(trigger):
        async for event in trigger.run():
            return event.payload
        return None

    async def main():
        return await asyncio.wait_for(
            asyncio.gather(*(first_event(t) for t in triggers)), spec.get("timeout", 120)
        )

    events = asyncio.run(main())
    Path(spec["result_path"]).write_text(json.dumps({"events": events}))


if __name__ == "__main__":
    mode, spec_path = sys.argv[1], sys.argv[2]
    spec = json.loads(Path(spec_path).read_text())
    {"task": run_task, "triggers": run_triggers}[mode](spec)
