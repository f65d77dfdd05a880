"""Start the local AWS world with its command, then use it from plain boto3: app, branch, webhook, build.

    python examples/world_quickstart.py

Needs the ``testing`` extra (``pip install 'airflow-provider-amplify[testing]'``).
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request

import boto3


def main() -> int:
    world = subprocess.Popen(
        [sys.executable, "-m", "airflow_amplify.testing", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = world.stdout.readline().strip()
        print(f"world at {url}")
        amplify = boto3.client(
            "amplify",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        app = amplify.create_app(name="quickstart", repository="https://github.com/example/site")["app"]
        amplify.create_branch(appId=app["appId"], branchName="main", enableAutoBuild=False)
        webhook = amplify.create_webhook(appId=app["appId"], branchName="main", description="quickstart")[
            "webhook"
        ]
        request = urllib.request.Request(
            webhook["webhookUrl"] + "&operation=startbuild",
            data=b"{}",
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            print(f"webhook POST answered {answer.status}")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            jobs = amplify.list_jobs(appId=app["appId"], branchName="main")["jobSummaries"]
            status = jobs[0]["status"] if jobs else "(no job yet)"
            print(f"job {jobs[0]['jobId'] if jobs else '-'}: {status}")
            if status == "SUCCEED":
                return 0
            if status in ("FAILED", "CANCELLED"):
                return 1
            time.sleep(0.5)
        return 1
    finally:
        world.terminate()
        world.wait(10)


if __name__ == "__main__":
    sys.exit(main())
