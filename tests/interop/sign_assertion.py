"""Sign an RFC 7523 JWT authorization grant with PyJWT, as a partner domain's
authorization server would (draft-ietf-oauth-identity-chaining §2.3).

usage: sign_assertion.py PRIVATE_KEY_PEM KID CLAIMS_JSON
Prints the compact JWS (ES256, typ JWT).
"""
import json
import sys

import jwt


def main():
    key_file, kid, claims = sys.argv[1:4]
    with open(key_file) as f:
        key = f.read()
    print(jwt.encode(json.loads(claims), key, algorithm="ES256",
                     headers={"kid": kid, "typ": "JWT"}))


if __name__ == "__main__":
    main()
