#!/usr/bin/env python3
"""Charts `omq bench --csv` output: achieved GB/s of GEMV (n = 1) per type in each mode the
CSV has, against the copy roofline the benchmark measured at start-up and, with
--ggml, ggml-cuda's warm GEMV on the H100 (issue 6's figures, m=4096 k=14336, in GB/s).

    python3 scripts/plot_perf.py bench.csv docs/perf-gemv.png [--shape 14336x4096] [--title ...]

Needs matplotlib (pip install matplotlib); omq itself does not.
"""
import argparse
import csv
import sys


# ggml-cuda d99724f2, H100, test-backend-ops perf, n = 1, m=4096 k=14336: fraction of the
# issue's device-to-device copy, measured there at 2988-3010 GB/s (drawn at GGML_COPY_GB_S:
# omq's own copy kernel reads lower on the H100, ~2450 GB/s, so its figure is no scale for them)
GGML_COPY_GB_S = 3000.0
GGML_CUDA_GEMV = {"q4_0": 0.76, "q4_1": 0.99, "q5_0": 0.72, "q5_1": 0.76, "q8_0": 0.77, "q2_K": 0.38,
                  "q3_K": 0.30, "q4_K": 0.66, "q5_K": 0.68, "q6_K": 0.54}


def read(path):
    meta, rows = {}, []
    with open(path) as f:
        lines = [l for l in f if l.strip()]
    for l in lines:
        if l.startswith("# "):
            k, _, v = l[2:].strip().partition(",")
            meta[k] = v
    body = [l for l in lines if not l.startswith("#")]
    for r in csv.DictReader(body):
        rows.append(r)
    return meta, rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("png")
    ap.add_argument("--shape", default="14336x4096", help="RxK of the GEMV to plot")
    ap.add_argument("--op", default="gemv")
    ap.add_argument("--title", default=None)
    ap.add_argument("--ggml", action="store_true", help="mark ggml-cuda's warm GEMV (H100)")
    a = ap.parse_args()
    meta, rows = read(a.csv)
    r_, k_ = (int(x) for x in a.shape.lower().split("x"))
    sel = [r for r in rows if r["op"] == a.op and int(r["rows"]) == r_ and int(r["k"]) == k_]
    if not sel:
        sys.exit(f"no {a.op} rows for {a.shape} in {a.csv}")
    types = []
    for r in sel:
        if r["type"] not in types:
            types.append(r["type"])
    val = {(r["type"], r["mode"]): float(r["gb_s"]) for r in sel}
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4.8))
    xs = range(len(types))
    modes = [m for m in (("cold", "#3b6ea8"), ("warm", "#e0863a"), ("queued", "#6aa84f"), ("cold-queued", "#8e6bb8"))
             if any(k[1] == m[0] for k in val)]
    w = 0.8 / max(len(modes), 1)
    for i, (mode, color) in enumerate(modes):
        ys = [val.get((t, mode), 0.0) for t in types]
        ax.bar([x + (i - (len(modes) - 1) / 2) * w for x in xs], ys, w, label=mode, color=color)
    copy = float(meta.get("copy_gb_s", 0) or 0)
    if a.ggml:
        ys = [GGML_CUDA_GEMV.get(t) for t in types]
        pts = [(x, f * GGML_COPY_GB_S) for x, f in zip(xs, ys) if f]
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], marker="_", s=400, color="red", zorder=3,
                   label="ggml-cuda warm (H100, issue 6)")
    if copy:
        ax.axhline(copy, color="black", linestyle="--", linewidth=1)
        ax.text(len(types) - 0.5, copy, f"copy {copy:.0f} GB/s", ha="right", va="bottom", fontsize=8)
        ax.axhline(0.85 * copy, color="gray", linestyle=":", linewidth=1)
        ax.text(len(types) - 0.5, 0.85 * copy, "85 %", ha="right", va="bottom", fontsize=8, color="gray")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(types)
    ax.set_ylabel("GB/s (bytes of W + X + Y)")
    ax.set_title(a.title or f"omq {a.op} {a.shape} on {meta.get('device', '?')}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(a.png, dpi=120)
    print(f"wrote {a.png}")


if __name__ == "__main__":
    main()
