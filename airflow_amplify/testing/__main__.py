"""``python -m airflow_amplify.testing serve --port PORT``: run the local world until stopped."""

from __future__ import annotations

import argparse
import signal
import sys
import threading


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_amplify.testing", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve moto and the Amplify emulator on one loopback port")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=0, help="port to bind (default: a free port)")
    serve.add_argument(
        "--public-url",
        default=None,
        help="the URL other hosts use to reach the world (e.g. http://aws-world:5055 in docker compose);"
        " it goes into webhook URLs and step-log URLs (default: http://HOST:PORT)",
    )
    args = parser.parse_args(argv)

    from airflow_amplify.testing.world.server import WorldServer  # moto loads only when the world starts

    server = WorldServer(host=args.host, port=args.port).start()
    if args.public_url:
        server.url = server.app.base_url = args.public_url.rstrip("/")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(server.url, flush=True)
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
