#!/usr/bin/env python3
"""omq's output read back by the reference gguf package (PyPI `gguf`).

Quantizes tests/gguf/minilm.gguf (real all-MiniLM-L6-v2 weights) with `omq quantize` to
several types, then checks with gguf's GGUFReader: tensor names, shapes and types (against
llama-quantize's rules, worked out by hand below), the metadata, and that gguf.quants'
dequantization of omq's data is close to the original weights. Exit 77 (CTest: skipped) when
the gguf package is missing.

    check_with_gguf_py.py OMQ_BINARY FIXTURE_DIR WORK_DIR
"""
import os
import subprocess
import sys

try:
    import numpy as np
    import gguf
    from gguf import GGMLQuantizationType as Q
except ImportError as e:  # pragma: no cover
    print(f"SKIP: the Python gguf package is not installed ({e}); pip install gguf")
    sys.exit(77)

WEIGHTS_2D = ["blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight", "blk.0.attn_output.weight",
              "blk.0.ffn_up.weight", "blk.0.ffn_down.weight", "token_embd.weight"]

# MiniLM rows hold 384 values (512 for ffn_down): not a multiple of 256, so K-quants fall back
# (q4_K -> q5_0, q6_K -> q8_0); token_embd is also the output (no output.weight), and
# position_embd / token_types are never quantized (BERT).
EXPECT = {
    "Q4_K_M": {"blk.0.attn_q.weight": Q.Q5_0, "blk.0.attn_k.weight": Q.Q5_0, "blk.0.attn_v.weight": Q.Q8_0,
               "blk.0.attn_output.weight": Q.Q5_0, "blk.0.ffn_up.weight": Q.Q5_0,
               "blk.0.ffn_down.weight": Q.Q6_K, "token_embd.weight": Q.Q8_0},
    "Q8_0": {n: Q.Q8_0 for n in WEIGHTS_2D},
    "Q4_0 --pure": {n: Q.Q4_0 for n in WEIGHTS_2D},
    "Q6_K --pure": {**{n: Q.Q8_0 for n in WEIGHTS_2D}, "blk.0.ffn_down.weight": Q.Q6_K},
    # q2_K and attn_v's / attn_output's q3_K both fall back to q4_0; ffn_down (512) keeps q3_K
    "Q2_K": {**{n: Q.Q4_0 for n in WEIGHTS_2D}, "blk.0.ffn_down.weight": Q.Q3_K, "token_embd.weight": Q.Q8_0},
    "F16": {n: Q.F16 for n in WEIGHTS_2D},
}
FILE_TYPE = {"Q4_K_M": 15, "Q8_0": 7, "Q4_0 --pure": 2, "Q6_K --pure": 18, "Q2_K": 10, "F16": 1}
# relative RMS error of the dequantized weights
TOLERANCE = {Q.F16: 0.0, Q.F32: 0.0, Q.Q8_0: 0.01, Q.Q6_K: 0.02, Q.Q5_0: 0.05, Q.Q5_1: 0.05, Q.Q4_0: 0.12,
             Q.Q4_1: 0.12, Q.Q4_K: 0.1, Q.Q5_K: 0.05, Q.Q3_K: 0.2, Q.Q2_K: 0.4}


def values(t) -> np.ndarray:
    data = np.asarray(t.data)
    if t.tensor_type in (Q.F32, Q.F16):
        return data.astype(np.float32).reshape(-1)
    return gguf.quants.dequantize(data, t.tensor_type).astype(np.float32).reshape(-1)


def fields(r) -> dict:
    return {k: f for k, f in r.fields.items() if not k.startswith("GGUF.")}


def scalar(f):
    return f.parts[f.data[0]][0]


def main() -> int:
    omq, fixtures, work = sys.argv[1:4]
    src_path = os.path.join(fixtures, "minilm.gguf")
    src = gguf.GGUFReader(src_path)
    src_tensors = {t.name: t for t in src.tensors}
    failures = 0
    for spec, expect in EXPECT.items():
        ftype, *flags = spec.split()
        out = os.path.join(work, f"minilm-{ftype}.gguf")
        cmd = [omq, "quantize", src_path, out, ftype, *flags, "--device", "auto", "--progress", "none"]
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode:
            print(f"FAIL {spec}: {' '.join(cmd)} exited {run.returncode}\n{run.stdout}{run.stderr}")
            failures += 1
            continue
        r = gguf.GGUFReader(out)
        got = {t.name: t for t in r.tensors}
        problems = []
        if set(got) != set(src_tensors):
            problems.append(f"tensor names differ: {sorted(set(got) ^ set(src_tensors))}")
        for name, t in src_tensors.items():
            if name not in got:
                continue
            o = got[name]
            if list(o.shape) != list(t.shape):
                problems.append(f"{name}: shape {list(o.shape)} != {list(t.shape)}")
            want_type = expect.get(name, t.tensor_type)  # the rest is copied unchanged
            if o.tensor_type != want_type:
                problems.append(f"{name}: type {o.tensor_type.name} != {want_type.name}")
                continue
            a, b = values(t), values(o)
            rel = float(np.sqrt(np.mean((a - b) ** 2)) / (np.sqrt(np.mean(a ** 2)) + 1e-30))
            if not np.all(np.isfinite(b)) or rel > TOLERANCE[o.tensor_type]:
                problems.append(f"{name} ({o.tensor_type.name}): relative RMS error {rel:.4f} > "
                                f"{TOLERANCE[o.tensor_type]}")
        fo, fs = fields(r), fields(src)
        if int(scalar(fo["general.file_type"])) != FILE_TYPE[spec]:
            problems.append(f"general.file_type {int(scalar(fo['general.file_type']))} != {FILE_TYPE[spec]}")
        if int(scalar(fo["general.quantization_version"])) != 2:
            problems.append("general.quantization_version is not 2")
        for key, f in fs.items():
            if key == "general.file_type":
                continue
            g = fo.get(key)
            if g is None or [bytes(g.parts[i]) for i in g.data] != [bytes(f.parts[i]) for i in f.data]:
                problems.append(f"metadata {key} not copied")
        status = "ok" if not problems else "FAIL"
        print(f"{status:4} {spec:12} {len(got)} tensors, "
              f"{sum(int(t.n_bytes) for t in r.tensors)} bytes of tensor data")
        for p in problems:
            print(f"       {p}")
        failures += bool(problems)
    print(f"{len(EXPECT) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
