#!/usr/bin/env python3
"""Summarise bench/compare.sh results: median and min-max per proxy and
figure, the ratio actgate/nginx of the medians, and the target.

Input: one JSON object per line, an actgate-load --json report plus
{"round", "proxy", "scenario"}.
"""
import argparse
import datetime
import json
import statistics
import sys

# (label, actgate (proxy, scenario), nginx (proxy, scenario) or None,
#  app-only (proxy, scenario) or None, field, unit, scale, target kind, target)
# Targets are issue 14's. A row with an app-only reference is a delegated
# call (the user's token on every request); its target is the ratio
# delegated/app-only, the actgate/nginx ratio is shown next to it.
FIGURES = [
    ("keep-alive rps, HTTP/1.1, token cache warm", ("actgate", "h1_keepalive"), ("nginx", "h1_keepalive"), None,
     "rps", "req/s", 1, "ratio>=", 0.90),
    ("keep-alive rps, HTTP/1.1, delegated (user token), caches warm", ("actgate", "delegated_h1_keepalive"),
     ("nginx", "h1_keepalive"), ("actgate", "h1_keepalive"), "rps", "req/s", 1, "vs-app>=", 0.90),
    ("keep-alive rps, HTTP/2, token cache warm", ("actgate", "h2_keepalive"), ("nginx", "h2_keepalive"), None,
     "rps", "req/s", 1, "ratio>=", 0.90),
    ("keep-alive rps, mint every request, ES256", ("actgate-mint-es256", "h1_keepalive"), ("nginx", "h1_keepalive"), None,
     "rps", "req/s", 1, "ratio>=", 0.50),
    ("keep-alive rps, delegated, mint every request, ES256", ("actgate-mint-es256", "delegated_h1_keepalive"),
     ("nginx", "h1_keepalive"), ("actgate-mint-es256", "h1_keepalive"), "rps", "req/s", 1, "vs-app>=", 0.90),
    ("keep-alive rps, mint every request, EdDSA", ("actgate-mint-eddsa", "h1_keepalive"), ("nginx", "h1_keepalive"), None,
     "rps", "req/s", 1, "ratio>=", 0.60),
    ("server CPU per request, HTTP/1.1 keep-alive", ("actgate", "h1_keepalive"), ("nginx", "h1_keepalive"), None,
     "server_cpu_us_per_request", "µs", 1, "ratio<=", 1.1),
    ("server CPU per request, delegated keep-alive", ("actgate", "delegated_h1_keepalive"), ("nginx", "h1_keepalive"),
     ("actgate", "h1_keepalive"), "server_cpu_us_per_request", "µs", 1, None, None),
    ("p99 latency at fixed rate (25% of nginx capacity)", ("actgate", "fixed_rate"), ("nginx", "fixed_rate"), None,
     "latency_us_p99", "µs", 1, "ratio<=", 1.5),
    ("server CPU per request at fixed rate", ("actgate", "fixed_rate"), ("nginx", "fixed_rate"), None,
     "server_cpu_us_per_request", "µs", 1, "ratio<=", 1.1),
    ("server CPU per new mTLS connection", ("actgate", "new_connection"), ("nginx", "new_connection"), None,
     "server_cpu_us_per_request", "µs", 1, "ratio<=", 0.5),
    ("SSE streams/s (4 events each)", ("actgate", "sse"), ("nginx", "sse"), None,
     "rps", "streams/s", 1, None, None),
    ("RSS at steady rate", ("actgate", "rss_steady"), ("nginx", "rss_steady"), None,
     "server_rss_max_kb", "MB", 1 / 1024, "abs<=", 20),
    ("memory per idle mTLS keep-alive connection", ("actgate", "idle_connections"), ("nginx", "idle_connections"), None,
     "bytes_per_connection", "KiB", 1 / 1024, "abs<=", 16),
]


def values(rows, proxy, scenario, field):
    out = []
    for r in rows:
        if r.get("proxy") == proxy and r.get("scenario") == scenario and not r.get("failed"):
            v = r.get(field)
            if isinstance(v, (int, float)):
                out.append(float(v))
    return out


def fmt(v):
    if v is None:
        return "-"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def cell(vals, scale):
    if not vals:
        return "-", None
    m = statistics.median(vals) * scale
    return f"{fmt(m)} ({fmt(min(vals) * scale)}–{fmt(max(vals) * scale)})", m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--machine", default="")
    ap.add_argument("--rounds", default="")
    a = ap.parse_args()
    rows = [json.loads(l) for l in open(a.results) if l.strip()]
    failed = [r for r in rows if r.get("failed")]

    print()
    print(f"actgate vs nginx — {datetime.date.today()} — {a.machine} — {a.rounds} round(s), medians (min–max)")
    print()
    print("| figure | unit | nginx | actgate | actgate/nginx | delegated/app-only | target | met |")
    print("|---|---|---|---|---|---|---|---|")
    all_met = True
    for label, ag, ng, app, field, unit, scale, kind, target in FIGURES:
        ag_cell, ag_m = cell(values(rows, *ag, field), scale)
        ng_cell, ng_m = ("-", None) if ng is None else cell(values(rows, *ng, field), scale)
        _, app_m = (None, None) if app is None else cell(values(rows, *app, field), scale)
        ratio = ag_m / ng_m if ag_m is not None and ng_m not in (None, 0) else None
        vs_app = ag_m / app_m if ag_m is not None and app_m not in (None, 0) else None
        met = "-"
        tgt = "-"
        if kind == "vs-app>=":
            tgt = f"delegated/app-only ≥ {target:.2f}"
            met = "-" if vs_app is None else ("yes" if vs_app >= target else "NO")
        elif kind == "ratio>=":
            tgt = f"≥ {target:.2f}"
            met = "-" if ratio is None else ("yes" if ratio >= target else "NO")
        elif kind == "ratio<=":
            tgt = f"≤ {target:.2f}"
            met = "-" if ratio is None else ("yes" if ratio <= target else "NO")
        elif kind == "abs<=":
            tgt = f"≤ {target} {unit} (absolute)"
            met = "-" if ag_m is None else ("yes" if ag_m <= target else "NO")
        if met == "NO":
            all_met = False
        ratio_s = "-" if ratio is None else f"{ratio:.3f}"
        vs_app_s = "-" if vs_app is None else f"{vs_app:.3f}"
        print(f"| {label} | {unit} | {ng_cell} | {ag_cell} | {ratio_s} | {vs_app_s} | {tgt} | {met} |")
    print()
    # The idle figure divides by the connections still open at the sample:
    # say how many, so a server that closed some is visible.
    open_at_sample = {p: values(rows, p, "idle_connections", "idle_connections") for p in ("nginx", "actgate")}
    if any(open_at_sample.values()):
        print("idle connections still open at the sample: " + ", ".join(
            f"{p} {fmt(min(v))}–{fmt(max(v))}" for p, v in open_at_sample.items() if v))
    errs = {}
    for r in rows:
        for k, v in (r.get("errors_by_kind") or {}).items():
            key = (r["proxy"], r["scenario"], k)
            errs[key] = errs.get(key, 0) + v
    if errs:
        print("errors: " + ", ".join(f"{p}/{s}/{k}={v}" for (p, s, k), v in sorted(errs.items())))
    if failed:
        print(f"{len(failed)} measurement(s) failed: " + ", ".join(f"{r['proxy']}/{r['scenario']}" for r in failed))
    print("all targets met" if all_met and not failed else "some targets missed or measurements failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
