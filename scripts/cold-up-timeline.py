#!/usr/bin/env python3
"""Where a cold `onyx up` spends its time: the timeline of one round kept by
`BENCH_KEEP=DIR scripts/bench-cold-up.sh` (not a test).

Usage: scripts/cold-up-timeline.py DIR/onyxN

Reads `clock` (round start, end, bandwidth), `onyx.err` (onyx's stderr, each line stamped with
the Unix time it arrived), `proxy.bytes` (the throttling proxy's downstream byte counter every
100 ms) and `params` (service, image, bytes, boot ms). Prints, relative to the round's start:
every line onyx printed (each image downloading / in the engine / in the node, each service
waiting / applied / its rollout phases and Ready), then the link's use per half second and the
stretches where it carried less than half its bandwidth, then per service when its image was in
the node, when it was Ready and how that compares with its boot delay.
"""
import re
import sys

d = sys.argv[1]
t0, t1, bw = (float(x) for x in open(f"{d}/clock").read().split())
params = [line.split() for line in open(f"{d}/params")]
image_of = {svc: ref for svc, ref, _, _ in params}
boot = {svc: int(ms) / 1000 for svc, _, _, ms in params}
size = {ref: int(b) for _, ref, b, _ in params}

events = []
print(f"round: {t1 - t0:.2f} s; link {bw / 1e6:.0f} MB/s; {sum(size.values()) / 1e6:.0f} MB of images")
print("\n-- onyx's lines (s since the start)")
for line in open(f"{d}/onyx.err"):
    stamp, _, text = line.rstrip("\n").partition(" ")
    try:
        t = float(stamp) - t0
    except ValueError:
        continue
    text = re.sub(r"^\[[^\]]*\] ", "", text)
    events.append((t, text))
    print(f"{t:7.2f}  {text}")

samples = []
for line in open(f"{d}/proxy.bytes"):
    a, b = line.split()
    samples.append((float(a) - t0, int(b)))
base = next((b for t, b in samples if t >= 0), 0)
samples = [(t, b - base) for t, b in samples if 0 <= t <= t1 - t0 + 0.2]
print("\n-- the link: MB/s per 0.5 s (of %.0f)" % (bw / 1e6))
row = []
for k in range(int((t1 - t0) / 0.5) + 1):
    lo, hi = k * 0.5, (k + 1) * 0.5
    inside = [b for t, b in samples if lo <= t < hi]
    before = [b for t, b in samples if t < lo]
    if not inside:
        continue
    start = before[-1] if before else 0
    rate = (inside[-1] - start) / 0.5 / 1e6
    row.append((lo, rate))
for i in range(0, len(row), 10):
    print("  " + " ".join(f"{lo:5.1f}:{r:3.0f}" for lo, r in row[i:i + 10]))
total = samples[-1][1] if samples else 0
first = next((t for t, b in samples if b > 0), 0)
last = next((t for t, b in samples if b >= total), 0)
print(f"  {total / 1e6:.0f} MB from {first:.1f} s to {last:.1f} s: "
      f"{total / bw:.2f} s at full bandwidth, {last - first:.2f} s taken "
      f"({total / max(last - first, 1e-9) / 1e6:.1f} MB/s average)")
under = []
start = None
for lo, r in row:
    if r < bw / 2e6 and lo < last:
        start = lo if start is None else start
    elif start is not None:
        under.append((start, lo))
        start = None
if start is not None:
    under.append((start, min(last, row[-1][0] + 0.5)))
print("  under half the bandwidth before the last byte: "
      + (", ".join(f"{a:.1f}–{b:.1f} s" for a, b in under) or "never"))

print("\n-- per service: image in the node, applied, Ready (s); Ready − max(in node, applied) vs its boot")
def when(pattern):
    return next((t for t, text in events if re.search(pattern, text)), None)
for svc, ref, _, _ in params:
    fetched = when(re.escape(ref) + r": in the engine")
    in_node = when(re.escape(ref) + r": in the node")
    applied = when(r"^" + re.escape(svc) + r": applied")
    ready = when(r"^" + re.escape(svc) + r": ready")
    fmt = lambda t: "   -  " if t is None else f"{t:6.2f}"
    slack = ""
    if ready is not None and in_node is not None and applied is not None:
        slack = f"{ready - max(in_node, applied):5.2f} (boot {boot[svc]:g})"
    print(f"  {svc:24} engine {fmt(fetched)}  node {fmt(in_node)}  applied {fmt(applied)}  ready {fmt(ready)}  {slack}")
