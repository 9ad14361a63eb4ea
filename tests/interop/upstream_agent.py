"""A real A2A upstream built with the Python a2a-sdk: echoes the text and the
Authorization header it received (so the test can inspect the minted token).

Usage: upstream_agent.py CARD_JSON   -- prints "PORT <n>" once listening.
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


class Echo(AgentExecutor):
    async def execute(self, ctx: RequestContext, q: EventQueue):
        await q.enqueue_event(Task(id=ctx.task_id, context_id=ctx.context_id,
                                   status=TaskStatus(state=TaskState.TASK_STATE_SUBMITTED),
                                   history=[ctx.message]))
        authz = ctx.call_context.state["headers"].get("authorization")
        up = TaskUpdater(q, ctx.task_id, ctx.context_id)
        await up.add_artifact([Part(text=f"echo {ctx.get_user_input()} authz={authz}")], name="echo")
        await up.complete()

    async def cancel(self, ctx, q):
        await TaskUpdater(q, ctx.task_id, ctx.context_id).cancel()


def main():
    card = ParseDict(json.load(open(sys.argv[1])), AgentCard())
    handler = DefaultRequestHandler(agent_executor=Echo(), task_store=InMemoryTaskStore(), agent_card=card)
    app = Starlette(routes=[*create_agent_card_routes(card),
                            *create_jsonrpc_routes(handler, rpc_url="/a2a/jsonrpc"),
                            *create_rest_routes(handler, path_prefix="/a2a/rest")])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    asyncio.run(server.serve(sockets=[sock]))


if __name__ == "__main__":
    main()
