"""A real MCP client: the official Python SDK's `Client` over
`streamable_http_client`, unmodified, with an `httpx2.AsyncClient` for TLS
(the CA and, for mTLS, the caller's certificate) and an optional user bearer
token. It runs a script of steps and prints what it saw as one JSON object.

Usage: mcp_client.py URL STEPS_JSON [--mode auto|legacy|2026-07-28]
                     [--ca CA] [--cert CERT --key KEY] [--bearer TOKEN]
                     [--header NAME:VALUE]...
  --mode   the SDK's mode: "auto" (its default: probes server/discover and
           speaks 2026-07-28 to a modern server) or "legacy" (initialize and
           sessions). Default: auto.
STEPS_JSON is a list of
  {"op": "list_tools"}                          -> {"tools": [names], "next_cursor"}
  {"op": "call_tool", "name": N, "arguments": {...}}
                                                -> {"is_error", "text": [...], "structured"}
Each step's record has "ok"; a failed step has "error": {"type", "code",
"message", "data"} (code and data for MCP errors). The output also holds
"connect_error" if connecting failed, "protocol_version", and "http": every
HTTP exchange as {"method", "path", "status", "content_type",
"www_authenticate", "mcp_session_id"}.
"""
import argparse
import asyncio
import json
import ssl
import sys
from urllib.parse import urlsplit

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError


def error_record(e):
    if isinstance(e, MCPError):
        return {"type": "MCPError", "code": e.code, "message": e.message, "data": e.data}
    if isinstance(e, BaseExceptionGroup) and len(e.exceptions) == 1:
        return error_record(e.exceptions[0])
    return {"type": type(e).__name__, "code": None, "message": str(e), "data": None}


async def run_step(client, step):
    if step["op"] == "list_tools":
        res = await client.list_tools()
        return {"tools": [t.name for t in res.tools], "next_cursor": res.next_cursor}
    if step["op"] == "call_tool":
        res = await client.call_tool(step["name"], step.get("arguments") or {})
        return {"is_error": res.is_error,
                "text": [c.text for c in res.content if getattr(c, "type", None) == "text"],
                "structured": res.structured_content}
    raise ValueError(f"unknown step {step['op']!r}")


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("steps")
    p.add_argument("--mode", default="auto")
    p.add_argument("--ca")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--bearer")
    p.add_argument("--header", action="append", default=[])
    a = p.parse_args()
    steps = json.loads(a.steps)

    out = {"mode": a.mode, "steps": [], "http": []}

    async def seen(response):
        out["http"].append({
            "method": response.request.method,
            "path": urlsplit(str(response.request.url)).path,
            "status": response.status_code,
            "content_type": response.headers.get("content-type"),
            "www_authenticate": response.headers.get("www-authenticate"),
            "mcp_session_id": response.headers.get("mcp-session-id"),
        })

    kwargs = {"timeout": httpx2.Timeout(30, read=60), "event_hooks": {"response": [seen]}}
    if a.ca:
        # httpx2 trusts the OS store by default; the test CA must be given.
        ctx = ssl.create_default_context(cafile=a.ca)
        if a.cert:
            ctx.load_cert_chain(a.cert, a.key)
        kwargs["verify"] = ctx
    headers = dict(h.split(":", 1) for h in a.header)
    if a.bearer:
        headers["Authorization"] = f"Bearer {a.bearer}"
    kwargs["headers"] = headers

    async with httpx2.AsyncClient(**kwargs) as http:
        try:
            async with Client(streamable_http_client(a.url, http_client=http), mode=a.mode) as client:
                out["protocol_version"] = client.protocol_version
                for step in steps:
                    try:
                        rec = {"ok": True, **await run_step(client, step)}
                    except Exception as e:
                        rec = {"ok": False, "error": error_record(e)}
                    out["steps"].append({"step": step, **rec})
        except Exception as e:
            out["connect_error"] = error_record(e)
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    asyncio.run(main())
    sys.stdout.flush()
