#!/usr/bin/env python3
"""Prints the SRTP benchmark as a Markdown table: packets/s per suite and
operation, ours and libsrtp2's, and the ratio. Reads criterion's estimates
after `cargo bench -p cablekey-protocol --bench srtp`."""
import json, os, sys

root = os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "criterion")
suites = ["AEAD_AES_128_GCM", "AES_CM_128_HMAC_SHA1_80", "AEAD_AES_256_GCM", "AEAD_CHACHA20_POLY1305"]

def rate(suite, who, op):
    path = os.path.join(root, f"srtp_{suite}_{who}", op, "new", "estimates.json")
    if not os.path.exists(path):
        return None
    ns = json.load(open(path))["mean"]["point_estimate"]
    return 1e9 / ns

print("| suite | operation | cablekey (pkt/s) | libsrtp2 (pkt/s) | ratio |")
print("| --- | --- | ---: | ---: | ---: |")
for s in suites:
    for op in ["protect", "unprotect"]:
        ours, theirs = rate(s, "cablekey", op), rate(s, "libsrtp2", op)
        if ours is None:
            sys.exit(f"missing results for {s} {op}: run the benchmark first")
        t = f"{theirs:,.0f}" if theirs else "n/a (not in libsrtp2)"
        r = f"{ours / theirs:.1f}x" if theirs else "-"
        print(f"| {s} | {op} | {ours:,.0f} | {t} | {r} |")
