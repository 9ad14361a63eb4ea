"""A real A2A upstream (Python a2a-sdk on Starlette/uvicorn) that records what
it receives and what it executes, so a test can show what the agent would
really do with a request the gateway forwarded.

JSON-RPC at /a2a/jsonrpc and REST at /a2a/rest (the SDK's own routing, v0.3
compatibility on, so v0.3 method names and the /v1 prefix work too).

Usage: recording_upstream.py LOG_JSONL   -- prints "PORT <n>" once listening.
Each line of LOG_JSONL is {"request": {"method", "raw_path", "path"}} for every
HTTP request that reached the server, or {"executed": "<v1.0 operation>"} for
every request handler call (made before the handler runs, so a call that
fails later, e.g. on an unknown task, is still recorded as executed).
"""
import asyncio
import json
import socket
import sys

import uvicorn
from google.protobuf.json_format import ParseDict
from starlette.applications import Starlette

from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes, create_rest_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types import AgentCard, Part, Task, TaskState, TaskStatus

LOG = open(sys.argv[1], "a", buffering=1)


def record(entry):
    LOG.write(json.dumps(entry) + "\n")
    LOG.flush()


class Echo(AgentExecutor):
    async def execute(self, ctx: RequestContext, q: EventQueue):
        await q.enqueue_event(Task(id=ctx.task_id, context_id=ctx.context_id,
                                   status=TaskStatus(state=TaskState.TASK_STATE_SUBMITTED),
                                   history=[ctx.message]))
        up = TaskUpdater(q, ctx.task_id, ctx.context_id)
        await up.add_artifact([Part(text=f"echo {ctx.get_user_input()}")], name="echo")
        await up.complete()

    async def cancel(self, ctx, q):
        await TaskUpdater(q, ctx.task_id, ctx.context_id).cancel()


# Request handler entry points -> the A2A v1.0 operation they execute.
OPERATIONS = {
    "on_message_send": "SendMessage",
    "on_message_send_stream": "SendStreamingMessage",
    "on_get_task": "GetTask",
    "on_list_tasks": "ListTasks",
    "on_cancel_task": "CancelTask",
    "on_subscribe_to_task": "SubscribeToTask",
    "on_create_task_push_notification_config": "CreateTaskPushNotificationConfig",
    "on_get_task_push_notification_config": "GetTaskPushNotificationConfig",
    "on_list_task_push_notification_configs": "ListTaskPushNotificationConfigs",
    "on_delete_task_push_notification_config": "DeleteTaskPushNotificationConfig",
    "on_get_extended_agent_card": "GetExtendedAgentCard",
}


class Recording(DefaultRequestHandler):
    pass


def _wrap(attr, op):
    inner = getattr(DefaultRequestHandler, attr)

    def method(self, *args, **kwargs):
        record({"executed": op})
        # Returned as is: a coroutine or an async generator, as the SDK expects.
        return inner(self, *args, **kwargs)

    return method


for _attr, _op in OPERATIONS.items():
    setattr(Recording, _attr, _wrap(_attr, _op))


class RecordRequests:
    """ASGI middleware: one line per HTTP request, as the server received it."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            record({"request": {"method": scope["method"],
                                "raw_path": scope.get("raw_path", b"").decode("latin-1"),
                                "path": scope["path"]}})
        await self.app(scope, receive, send)


def main():
    card = ParseDict({
        "name": "recorder", "description": "records what it executes", "version": "1.0.0",
        "supportedInterfaces": [
            {"url": "http://127.0.0.1:1/a2a/jsonrpc", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"},
            {"url": "http://127.0.0.1:1/a2a/rest", "protocolBinding": "HTTP+JSON", "protocolVersion": "1.0"}],
        "capabilities": {"streaming": True},
        "defaultInputModes": ["text/plain"], "defaultOutputModes": ["text/plain"],
        "skills": [{"id": "echo", "name": "Echo", "description": "Echoes", "tags": ["test"]}],
    }, AgentCard())
    handler = Recording(agent_executor=Echo(), task_store=InMemoryTaskStore(), agent_card=card)
    app = Starlette(routes=[
        *create_agent_card_routes(card),
        *create_jsonrpc_routes(handler, rpc_url="/a2a/jsonrpc", enable_v0_3_compat=True),
        *create_rest_routes(handler, path_prefix="/a2a/rest", enable_v0_3_compat=True),
    ])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    server = uvicorn.Server(uvicorn.Config(RecordRequests(app), log_level="warning"))
    asyncio.run(server.serve(sockets=[sock]))


if __name__ == "__main__":
    main()
