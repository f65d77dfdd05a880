"""One aiobotocore client per connection settings, shared by the triggers of a triggerer process.

A triggerer runs every deferred task's trigger in one event loop. The amazon provider's triggers
each open their own aiobotocore client (a session, credentials, a parsed service model, an HTTP
connection pool and an SSL context), which costs far more memory than the wait itself. The
Amplify triggers instead borrow a client from :class:`SharedAsyncClients`: triggers with the same
connection id, region, SSL verification and botocore configuration use one client; it is opened
by the first of them (once, even when a thousand start together) and closed when the last one
ends, whether it ended with an event, an error or a cancellation (task killed, triggerer shutting
down). Assume-role credentials are the client's own refreshable credentials, refreshed once for
all its users. A client is handed to new triggers for at most ``max_age`` seconds, so a changed
connection is read again; triggers still holding an older client keep it until they end.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class _Entry:
    key: Hashable
    opened_at: float
    task: asyncio.Future  # resolves to (client context, client)
    refs: int = 0
    closing: asyncio.Task | None = field(default=None)


class SharedAsyncClients:
    """Reference-counted aiobotocore clients, one per key and event loop.

    :param max_age: seconds a client is handed to new users; older clients serve only the users
        that already hold them and are closed when the last of those ends.
    """

    def __init__(self, max_age: float = 900.0):
        self.max_age = max_age
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, _Entry]] = (
            weakref.WeakKeyDictionary()
        )
        self._closing: set[asyncio.Task] = set()
        #: Clients opened and closed so far (all loops), for tests and benchmarks.
        self.opened = 0
        self.closed = 0

    def _entries(self) -> dict[Hashable, _Entry]:
        loop = asyncio.get_running_loop()
        entries = self._loops.get(loop)
        if entries is None:
            entries = self._loops[loop] = {}
        return entries

    def users(self) -> dict[Hashable, int]:
        """How many users hold each current client of the running loop."""
        return {key: entry.refs for key, entry in self._entries().items()}

    def _usable(self, entry: _Entry | None) -> bool:
        if entry is None or time.monotonic() - entry.opened_at > self.max_age:
            return False
        task = entry.task
        return not task.done() or (not task.cancelled() and task.exception() is None)

    async def _open(self, open_client: Callable[[], Awaitable[Any]]) -> tuple[Any, Any]:
        context = await open_client()
        client = await context.__aenter__()
        self.opened += 1
        return context, client

    async def _close(self, entry: _Entry) -> None:
        try:
            context, _ = await entry.task
        except BaseException:  # never opened: nothing to close
            return
        await context.__aexit__(None, None, None)
        self.closed += 1

    async def _release(self, entry: _Entry, entries: dict[Hashable, _Entry]) -> None:
        entry.refs -= 1
        if entry.refs > 0:
            return
        if entries.get(entry.key) is entry:
            del entries[entry.key]
        closing = asyncio.ensure_future(self._close(entry))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)
        # Shielded: a second cancellation of the releasing task does not leave the client open.
        await asyncio.shield(closing)

    @contextlib.asynccontextmanager
    async def client(self, key: Hashable, open_client: Callable[[], Awaitable[Any]]) -> AsyncIterator[Any]:
        """Borrow the client for ``key``, opening it with ``open_client`` if no usable one is open.

        :param key: what makes two users' clients interchangeable (connection, region, verify, config).
        :param open_client: coroutine function returning an aiobotocore client context, such as
            ``hook.get_async_conn``.
        """
        entries = self._entries()
        entry = entries.get(key)
        if not self._usable(entry):
            entry = entries[key] = _Entry(
                key, time.monotonic(), asyncio.ensure_future(self._open(open_client))
            )
        entry.refs += 1
        try:
            # Shielded: one user cancelled while the client opens does not cancel it for the others.
            _, client = await asyncio.shield(entry.task)
        except BaseException:
            await self._release(entry, entries)
            raise
        try:
            yield client
        finally:
            await self._release(entry, entries)


def client_key(*parts: Any) -> tuple:
    """A hashable key from connection settings (nested dicts such as a botocore config included)."""
    import json

    return tuple(
        json.dumps(p, sort_keys=True, default=repr) if isinstance(p, dict | list) else p for p in parts
    )
