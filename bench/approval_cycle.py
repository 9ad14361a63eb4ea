#!/usr/bin/env python3
"""The human-approval path, timed one cycle at a time (bench/cluster.sh).

Each cycle: the orchestrator's call to `bank` is held (403, an approval
created), the approval is approved through an admin API (the other
replica's, in a cluster), and the identical call retried with
`Actgate-Approval` passes once. The latency of each step is measured over
one kept-alive mTLS connection (HTTP/1.1, Python's http.client), so the
figures include Python's own per-request cost (tens of microseconds).
Prints one JSON object.
"""

import argparse
import http.client
import json
import ssl
import statistics
import time
import urllib.parse


def percentile(xs, p):
    xs = sorted(xs)
    if not xs:
        return 0.0
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * (len(xs) - 1)))))
    return xs[k]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True, help="https://host:port of the gateway (or the load balancer)")
    ap.add_argument("--ca", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--admin", required=True, help="http://127.0.0.1:PORT of an admin listener")
    ap.add_argument("--cycles", type=int, default=100)
    ap.add_argument("--label", default="")
    a = ap.parse_args()

    ctx = ssl.create_default_context(cafile=a.ca)
    ctx.load_cert_chain(a.cert, a.key)
    u = urllib.parse.urlsplit(a.url)
    gw = http.client.HTTPSConnection(u.hostname, u.port, context=ctx)
    adm_u = urllib.parse.urlsplit(a.admin)
    adm = http.client.HTTPConnection(adm_u.hostname, adm_u.port)

    path = "/agents/bank/a2a/jsonrpc"
    headers = {"Content-Type": "application/json", "A2A-Version": "1.0"}
    steps = {"held": [], "approve": [], "consume": []}
    errors = 0
    started = time.perf_counter()
    for i in range(a.cycles):
        body = json.dumps({"jsonrpc": "2.0", "id": i, "method": "SendMessage", "params": {
            "message": {"role": "ROLE_USER", "messageId": "m-%d-%f" % (i, started),
                        "parts": [{"text": "transfer %d" % i}]}}})
        t0 = time.perf_counter()
        gw.request("POST", path, body=body, headers=headers)
        r = gw.getresponse()
        held = json.loads(r.read() or b"null")
        t1 = time.perf_counter()
        approval = None
        if r.status == 403 and isinstance(held, dict):
            approval = (held.get("error") or {}).get("data", {}).get("approval_id") if isinstance(held.get("error"), dict) else held.get("approval_id")
        if not approval:
            errors += 1
            continue
        adm.request("POST", "/api/approvals/%s/approve" % approval, body=json.dumps({"reason": "bench"}),
                    headers={"Content-Type": "application/json"})
        ar = adm.getresponse()
        ar.read()
        t2 = time.perf_counter()
        gw.request("POST", path, body=body, headers=dict(headers, **{"Actgate-Approval": approval}))
        cr = gw.getresponse()
        cr.read()
        t3 = time.perf_counter()
        if ar.status != 200 or cr.status != 200:
            errors += 1
            continue
        steps["held"].append((t1 - t0) * 1000)
        steps["approve"].append((t2 - t1) * 1000)
        steps["consume"].append((t3 - t2) * 1000)
    elapsed = time.perf_counter() - started
    done = len(steps["consume"])
    out = {"topology": a.label, "scenario": "approval", "cycles": done, "errors": errors,
           "cycles_per_s": done / elapsed if elapsed > 0 else 0.0}
    for k, xs in steps.items():
        out[k] = {"p50_ms": percentile(xs, 50), "p99_ms": percentile(xs, 99),
                  "mean_ms": statistics.mean(xs) if xs else 0.0}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
