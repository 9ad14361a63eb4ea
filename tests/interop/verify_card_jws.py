"""Check a served Agent Card's signature, turned into a compact JWS, with
PyJWT: as an access token against the token JWKS (what a resource server
does), and as a JWS against the card JWKS (what a card verifier does).

usage: verify_card_jws.py CARD_FILE TOKEN_JWKS_FILE CARD_JWKS_FILE ISSUER AUDIENCE
Prints one JSON object.
"""
import base64
import json
import sys

import jwt
import rfc8785


def b64e(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def load(path):
    with open(path) as f:
        return json.load(f)


def main():
    card_file, token_jwks, card_jwks, issuer, audience = sys.argv[1:6]
    card = load(card_file)
    sig = card.pop("signatures")[0]
    # A2A v1.0 §8.4.2: the detached payload is the JCS form of the card
    # without `signatures`; attaching it gives an ordinary compact JWS.
    compact = f'{sig["protected"]}.{b64e(rfc8785.dumps(card))}.{sig["signature"]}'
    header = jwt.get_unverified_header(compact)
    out = {"compact": compact, "header": header}

    # As an access token: every key of the token JWKS is tried, not only the
    # one the header names (the most lenient resource server).
    accepted = []
    for key in jwt.PyJWKSet.from_dict(load(token_jwks)).keys:
        try:
            jwt.decode(compact, key.key, algorithms=["ES256", "EdDSA"], audience=audience,
                       issuer=issuer, options={"require": ["exp", "iss", "aud", "sub"]})
            accepted.append(key.key_id)
        except jwt.PyJWTError as e:
            out.setdefault("token_errors", []).append(type(e).__name__)
    out["token_jwks_accepts"] = accepted

    # As a card signature: the key the header names, from the card JWKS.
    keys = {k.key_id: k for k in jwt.PyJWKSet.from_dict(load(card_jwks)).keys}
    key = keys.get(header.get("kid"))
    try:
        jwt.api_jws.decode_complete(compact, key.key, algorithms=["ES256", "EdDSA"])
        out["card_jwks_verifies"] = key is not None
    except (jwt.PyJWTError, AttributeError) as e:
        out["card_jwks_verifies"] = False
        out["card_error"] = repr(e)
    print(json.dumps(out))


main()
