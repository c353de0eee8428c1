"""A client connection subscribed to the server's updates (runner.server.feeds), which still takes requests.

Once subscribed, one task reads everything the server sends (`follow`): updates go to the caller's function as
they arrive, replies to the requests waiting for them. The server sends a reply only after an update with the
changes its request made, so when a request returns, the caller has applied every change it made.

Light like runner.server.client: no engine, parser or job kinds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
from anyio.abc import TaskStatus

from runner.server.client import Client, ServerError, no_answer
from runner.server.framing import ProtocolError, receive_message, send_message
from runner.server.messages import Subscribe, Subscribed, read_result, request_message


class _Answer:
    """Where the reader puts the reply to one request."""

    def __init__(self) -> None:
        self.arrived = anyio.Event()
        self.message: dict[str, Any] | None = None


class SubscribedClient(Client):
    """`await SubscribedClient.connect(path)` (or `ensure_server(path, client_class=SubscribedClient)`), then run
    `follow` in a task; `call` and `request` work as on any Client, before and while it follows."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._answers: dict[int, _Answer] = {}
        self._sending = anyio.Lock()
        self._following = False
        self.ended: ServerError | None = None
        """Why the connection ended, once `follow` has returned."""

    async def follow(
        self,
        subscription: Subscribe,
        on_update: Callable[[dict[str, Any]], None],
        *,
        task_status: TaskStatus[Subscribed] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Subscribe, and read the connection until it ends: each update (as JSON) goes to `on_update`, in order,
        from this task. Started with `task_group.start`, it returns the `Subscribed` reply once the updates sent
        before it are applied (for a mirror: every job). Returns when the connection ends, with `ended` set;
        the requests still waiting then fail with ServerError("disconnected")."""
        if self._following:
            raise RuntimeError("this client follows its updates already")
        self._following = True
        request_id = next(self._ids)
        answer = self._answers[request_id] = _Answer()
        try:
            async with self._sending:
                await send_message(self._stream, request_message(request_id, subscription))
            started = False
            while True:
                message = await receive_message(self._reader)
                update = message.get("push")
                if update is not None:
                    on_update(update)
                    continue
                waiting = self._answers.pop(message.get("id"), None)  # type: ignore[arg-type]
                if waiting is None:
                    continue  # the answer to a request that gave up waiting
                waiting.message = message
                waiting.arrived.set()
                if waiting is answer and not started:
                    started = True
                    task_status.started(read_result(subscription, _result(message)))
        except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError, anyio.ClosedResourceError) as lost:
            self.ended = ServerError("disconnected", f"the jobdeck server closed the connection ({lost!r})")
        except (OSError, ProtocolError) as lost:
            self.ended = ServerError("disconnected", f"the connection to the jobdeck server failed ({lost})")
        finally:
            self.ended = self.ended or ServerError("disconnected", "the connection to the jobdeck server was closed")
            for waiting in self._answers.values():
                waiting.arrived.set()  # with no message: they raise `ended`
            self._answers.clear()
        if answer.message is None or not answer.message.get("ok"):
            _result(answer.message or {"ok": False, "error": {"kind": "disconnected", "message": self.ended.message}})

    async def _exchange(self, message: dict[str, Any]) -> Any:
        if not self._following:
            return await super()._exchange(message)
        if self.ended is not None:
            raise self.ended
        if self._gave_up is not None:
            raise ServerError("disconnected", self._gave_up.message)
        request_id = message["id"] = next(self._ids)
        answer = self._answers[request_id] = _Answer()
        try:
            with anyio.move_on_after(self.timeout) as waiting:
                async with self._sending:
                    await send_message(self._stream, message)
                await answer.arrived.wait()
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as lost:
            raise ServerError("disconnected", f"the jobdeck server closed the connection ({lost!r})") from None
        finally:
            self._answers.pop(request_id, None)
        if waiting.cancelled_caught:
            pid = self._server.pid if self._server is not None else None
            self._gave_up = no_answer(self.socket_path, self.timeout, pid)
            raise self._gave_up
        if answer.message is None:
            raise self.ended or ServerError("disconnected", "the connection to the jobdeck server was closed")
        return _result(answer.message)


def _result(reply: dict[str, Any]) -> Any:
    """The result of a reply; ServerError when it is a refusal."""
    if reply.get("ok"):
        return reply.get("result")
    error = reply.get("error") or {}
    raise ServerError(str(error.get("kind", "error")), str(error.get("message", "unknown error")), error)
