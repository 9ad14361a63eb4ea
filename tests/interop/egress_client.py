"""A real A2A client (Python a2a-sdk) with no TLS code at all, calling an
agent through the actgate egress sidecar over plain HTTP. It resolves the
card from the sidecar and sends unary and streaming messages over JSON-RPC
and HTTP+JSON, presenting the token it received on an inbound call as its
bearer token (the subject token for delegation).

Usage: egress_client.py SIDECAR_BASE AGENT BEARER_TOKEN
Prints one JSON object with what it saw; exits non-zero on any failure.
"""
import asyncio
import json
import re
import sys

import httpx
from a2a.client import A2ACardResolver, ClientConfig, ClientFactory
from a2a.helpers import new_text_message
from a2a.types import Role, SendMessageRequest


def tokens_in(events):
    text = " ".join(str(e) for e in events)
    return re.findall(r"authz=Bearer ([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)", text)


async def main():
    base, agent, bearer = sys.argv[1:4]
    out = {"calls": []}
    # A plain httpx client: no SSL context, no client certificate.
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {bearer}"}, timeout=30) as http:
        card = await A2ACardResolver(http, f"{base}/agents/{agent}").get_agent_card()
        out["card_urls"] = [i.url for i in card.supported_interfaces]
        out["card_schemes"] = sorted(card.security_schemes.keys())
        for binding in ["JSONRPC", "HTTP+JSON"]:
            for streaming in [False, True]:
                client = ClientFactory(ClientConfig(httpx_client=http, streaming=streaming,
                                                    supported_protocol_bindings=[binding])).create(card)
                events = []
                msg = new_text_message(f"hello via sidecar {binding} streaming={streaming}",
                                       role=Role.ROLE_USER)
                async for ev in client.send_message(SendMessageRequest(message=msg)):
                    events.append(ev)
                out["calls"].append({"binding": binding, "streaming": streaming,
                                     "events": len(events), "tokens": tokens_in(events)})
    print(json.dumps(out, default=str))


asyncio.run(main())
