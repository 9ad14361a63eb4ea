"""A real MCP server: the official Python SDK's `MCPServer` over Streamable
HTTP (uvicorn on 127.0.0.1), serving both protocol generations on one
endpoint (/mcp), that records what reaches it so a test can show what the
server really saw and ran.

Tools (tools/list marked cacheScope "public" on 2026-07-28): `echo` (read-only), `list_dir` (read-only), `delete_file`
(destructive) and `whoami` (answers the `Authorization` header its request
carried, as the SDK's request context shows it).

Usage:
  mcp_upstream.py serve LOG_JSONL [--tls CERT KEY CLIENT_CA] [--json-response]
      prints "PORT <n>" once listening. With --tls it serves HTTPS and
      requires a client certificate chaining to CLIENT_CA.
  mcp_upstream.py verify LOG_JSONL JWKS_FILE ISSUER AUDIENCE
      verifies every bearer token the server saw with PyJWT against the JWKS
      and prints {"verified": [claims...], "failed": [reason...]}.

Each line of LOG_JSONL is one of
  {"request": {"http_method", "path", "status", "authorization", "mcp_method",
               "mcp_name", "mcp_protocol_version", "mcp_session_id", "jsonrpc"}}
      for every HTTP request (written when its answer starts, so the body
      has been read; "jsonrpc" is the body's method, or null), or
  {"executed": TOOL, "arguments": {...}}  before a tool runs.
DNS-rebinding protection is off: behind the gateway the Host header is the
gateway's view of the upstream, not 127.0.0.1.
"""
import asyncio
import json
import socket
import ssl
import sys

import uvicorn
from mcp.server.caching import CacheHint
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import ToolAnnotations


def serve(log_path, tls, json_response):
    log = open(log_path, "a", buffering=1)

    def record(entry):
        log.write(json.dumps(entry) + "\n")
        log.flush()

    # Its tools/list says "public" (any cache may share it across users), as
    # an unfiltered list may: the gateway's filtered one must not.
    srv = MCPServer("files-upstream",
                    cache_hints={"tools/list": CacheHint(ttl_ms=60000, scope="public")})

    @srv.tool(annotations=ToolAnnotations(read_only_hint=True))
    def echo(text: str) -> str:
        """Echo the text back."""
        record({"executed": "echo", "arguments": {"text": text}})
        return text

    @srv.tool(annotations=ToolAnnotations(read_only_hint=True))
    def list_dir(path: str) -> list[str]:
        """List a directory."""
        record({"executed": "list_dir", "arguments": {"path": path}})
        return ["a.txt", "b.txt"]

    @srv.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True))
    def delete_file(path: str) -> str:
        """Delete a file (irreversible)."""
        record({"executed": "delete_file", "arguments": {"path": path}})
        return f"deleted {path}"

    @srv.tool(annotations=ToolAnnotations(read_only_hint=True))
    def whoami(ctx: Context) -> str:
        """The Authorization header this call carried."""
        record({"executed": "whoami", "arguments": {}})
        headers = ctx.headers or {}
        return headers.get("authorization", "")

    app = srv.streamable_http_app(
        streamable_http_path="/mcp",
        json_response=json_response,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )

    async def recording(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        body = bytearray()

        async def receive_recorded():
            msg = await receive()
            if msg["type"] == "http.request":
                body.extend(msg.get("body", b""))
            return msg

        async def send_recorded(msg):
            if msg["type"] == "http.response.start":
                try:
                    rpc = json.loads(body).get("method") if body else None
                except (ValueError, AttributeError):
                    rpc = None
                record({"request": {
                    "http_method": scope["method"],
                    "path": scope["path"],
                    "status": msg["status"],
                    "authorization": headers.get("authorization"),
                    "mcp_method": headers.get("mcp-method"),
                    "mcp_name": headers.get("mcp-name"),
                    "mcp_protocol_version": headers.get("mcp-protocol-version"),
                    "mcp_session_id": headers.get("mcp-session-id"),
                    "jsonrpc": rpc,
                }})
            await send(msg)

        await app(scope, receive_recorded, send_recorded)

    options = {}
    if tls:
        cert, key, client_ca = tls
        options = dict(ssl_certfile=cert, ssl_keyfile=key, ssl_ca_certs=client_ca,
                       ssl_cert_reqs=ssl.CERT_REQUIRED)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    server = uvicorn.Server(uvicorn.Config(recording, log_level="warning", **options))
    asyncio.run(server.serve(sockets=[sock]))


def verify(log_path, jwks_path, issuer, audience):
    import jwt

    with open(jwks_path) as f:
        jwks = jwt.PyJWKSet.from_dict(json.load(f))
    tokens = []
    with open(log_path) as f:
        for line in f:
            auth = (json.loads(line).get("request") or {}).get("authorization")
            if auth and auth not in tokens:
                tokens.append(auth)
    out = {"verified": [], "failed": []}
    for auth in tokens:
        scheme, _, token = auth.partition(" ")
        try:
            if scheme.lower() != "bearer":
                raise ValueError(f"not a bearer token: {scheme}")
            kid = jwt.get_unverified_header(token).get("kid")
            key = next(k for k in jwks.keys if k.key_id == kid)
            out["verified"].append(jwt.decode(
                token, key.key, algorithms=["ES256", "EdDSA"], audience=audience, issuer=issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]}))
        except Exception as e:  # every failure is reported, none is fatal
            out["failed"].append(f"{type(e).__name__}: {e}")
    print(json.dumps(out))


def main():
    args = sys.argv[1:]
    if args[:1] == ["verify"]:
        return verify(*args[1:5])
    if args[:1] != ["serve"] or len(args) < 2:
        sys.exit(__doc__)
    tls = None
    if "--tls" in args:
        i = args.index("--tls")
        tls = args[i + 1:i + 4]
    serve(args[1], tls, "--json-response" in args)


main()
