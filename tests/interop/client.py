"""A real A2A client (Python a2a-sdk) calling an agent through actgate over
mTLS, unary and streaming, JSON-RPC and HTTP+JSON; PyJWT then verifies every
token the upstream received against the gateway's published JWKS.

Usage: client.py GATEWAY_BASE AGENT CA CERT KEY USER_TOKEN
Prints one JSON object with what it saw; exits non-zero on any failure.
"""
import asyncio
import json
import re
import ssl
import sys

import base64

import httpx
import jwt
import rfc8785
from a2a.client import A2ACardResolver, ClientConfig, ClientFactory
from a2a.helpers import new_text_message
from a2a.types import Role, SendMessageRequest


def tokens_in(events):
    text = " ".join(str(e) for e in events)
    return re.findall(r"authz=Bearer ([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)", text)


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64e(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def verify_card(card, jwks):
    """A2A v1.0 §8.4: detached JWS over the JCS form of the card without signatures."""
    card = dict(card)
    sigs = card.pop("signatures", [])
    for sig in sigs:
        header = json.loads(b64d(sig["protected"]))
        key = next((k for k in jwks.keys if k.key_id == header.get("kid")), None)
        if key is None:
            continue
        signing_input = (sig["protected"] + "." + b64e(rfc8785.dumps(card))).encode()
        if key.Algorithm.verify(signing_input, key.key, b64d(sig["signature"])):
            return True
    return False


async def main():
    base, agent, ca, cert, key, user_token = sys.argv[1:7]
    ctx = ssl.create_default_context(cafile=ca)
    ctx.load_cert_chain(cert, key)
    out = {"calls": []}
    async with httpx.AsyncClient(verify=ctx, headers={"Authorization": f"Bearer {user_token}"},
                                 timeout=30) as http:
        card = await A2ACardResolver(http, f"{base}/agents/{agent}").get_agent_card()
        out["card_urls"] = [i.url for i in card.supported_interfaces]
        for binding in ["JSONRPC", "HTTP+JSON"]:
            for streaming in [False, True]:
                client = ClientFactory(ClientConfig(httpx_client=http, streaming=streaming,
                                                    supported_protocol_bindings=[binding])).create(card)
                events = []
                msg = new_text_message(f"hello via {binding} streaming={streaming}", role=Role.ROLE_USER)
                async for ev in client.send_message(SendMessageRequest(message=msg)):
                    events.append(ev)
                toks = tokens_in(events)
                out["calls"].append({"binding": binding, "streaming": streaming,
                                     "events": len(events), "tokens": toks})
        resp = await http.get(f"{base}/.well-known/jwks.json")
        resp.raise_for_status()
        jwks = jwt.PyJWKSet.from_dict(resp.json())
        # The served card's signature, checked with an independent RFC 8785
        # canonicaliser (not the SDK's helper, which drops empty values),
        # against the card keys: the token keys never sign a card.
        resp = await http.get(f"{base}/.well-known/agent-card-jwks.json")
        resp.raise_for_status()
        card_jwks = jwt.PyJWKSet.from_dict(resp.json())
        raw = (await http.get(f"{base}/agents/{agent}/.well-known/agent-card.json")).json()
        out["card_signature_valid"] = verify_card(raw, card_jwks)
        out["card_signature_valid_with_token_keys"] = verify_card(raw, jwks)
        tampered = json.loads(json.dumps(raw))
        tampered["securityRequirements"] = [
            r for r in tampered["securityRequirements"] if "gateway-mtls" not in r["schemes"]]
        out["tampered_card_signature_valid"] = verify_card(tampered, card_jwks)
    verified = []
    for call in out["calls"]:
        for tok in call["tokens"]:
            kid = jwt.get_unverified_header(tok)["kid"]
            key = next(k for k in jwks.keys if k.key_id == kid)
            claims = jwt.decode(tok, key.key, algorithms=["ES256", "EdDSA"],
                                audience=f"{base}/agents/{agent}",
                                issuer="https://gateway.example.org",
                                options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]})
            verified.append(claims)
    out["verified_claims"] = verified
    print(json.dumps(out, default=str))


asyncio.run(main())
