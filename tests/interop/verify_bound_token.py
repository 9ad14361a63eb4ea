"""Verify a token from actgate's token endpoint with PyJWT, and its RFC 8705
certificate binding (cnf x5t#S256) against certificates, computed here with
`cryptography` independently of actgate.

usage: verify_bound_token.py TOKEN JWKS_FILE ISSUER AUDIENCE CALLER_CERT OTHER_CERT
Prints one JSON object.
"""
import base64
import hashlib
import json
import sys

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding


def thumbprint(path):
    """RFC 8705 §3.1: base64url(SHA-256(DER of the leaf)), no padding."""
    with open(path, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())  # the first (leaf) certificate
    digest = hashlib.sha256(cert.public_bytes(Encoding.DER)).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def main():
    token, jwks_file, issuer, audience, caller_cert, other_cert = sys.argv[1:7]
    with open(jwks_file) as f:
        jwks = jwt.PyJWKSet.from_dict(json.load(f))
    header = jwt.get_unverified_header(token)
    key = next(k for k in jwks.keys if k.key_id == header["kid"])
    options = {"require": ["exp", "iat", "iss", "aud", "sub", "jti"]}
    claims = jwt.decode(token, key.key, algorithms=["ES256", "EdDSA"], audience=audience,
                        issuer=issuer, options=options)
    caller = thumbprint(caller_cert)
    bound = claims.get("cnf", {}).get("x5t#S256")
    # A copy with one claim changed must not verify.
    h, p, s = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    payload["scope"] = "admin"
    forged_p = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    try:
        jwt.decode(f"{h}.{forged_p}.{s}", key.key, algorithms=["ES256", "EdDSA"],
                   audience=audience, issuer=issuer, options=options)
        tampered_valid = True
    except jwt.InvalidSignatureError:
        tampered_valid = False
    print(json.dumps({
        "typ": header.get("typ"),
        "claims": claims,
        "caller_thumbprint": caller,
        "cnf_matches_caller": bound == caller,
        "cnf_matches_other": bound == thumbprint(other_cert),
        "tampered_valid": tampered_valid,
    }))


main()
