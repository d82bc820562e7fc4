#!/usr/bin/python3
"""Kernel efficiencies from the calibration pack's per-operation timings (README "Calibration").

Reads ../shared/data/calibration/perop/*.csv (AIConfigurator's kernel database, measured through
vLLM's kernels; see that folder's README) and fits, per GPU:

  GEMM            t = t0 + max(2 m n k / (peak x eff_c), (n k b_w + 2 m (n + k)) / (BW x eff_m))
                  per dtype (bf16, fp8), on n, k >= 2048
  decode attn     t = t0 + t_b x batch + KV bytes / (BW x eff_kv)      (KV bytes = batch x context x 2 x kv_heads x head_dim x b_kv)
  prefill attn    t = t0 + FLOPs / (peak_bf16 x eff_a) x (1 + n_half / isl)   (FLOPs = 4 heads head_dim batch isl^2 / 2)
  grouped experts t = t0 + max(FLOPs x (1 + n_half x touched / assignments) / (peak x eff_c), touched bytes / (BW x eff_m))
  all-reduce      t = latency + 2 (n - 1) / n x bytes / (link x eff)   (vLLM custom all-reduce under CUDA graphs)

and prints them with the median and p90 of |fit / measured - 1|. These are the starting values and
the physical references of the engine profiles in platforms/gpus.yaml, and the efficiencies of the
GPUs that have kernel tables but no end-to-end rows for an engine.

Run with Debian's python3 (pandas, scipy):  /usr/bin/python3 analysis/perop_kernels.py [PEROP_DIR]
"""
import os
import sys

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

HERE = os.path.dirname(os.path.abspath(__file__))
PEROP = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "shared", "data", "calibration", "perop")

# Datasheet peaks (dense), bandwidth and NVLink per direction, as in platforms/gpus.yaml.
PEAK = {("a100_sxm", "bfloat16"): 312, ("h100_sxm", "bfloat16"): 989, ("h200_sxm", "bfloat16"): 989,
        ("b200_sxm", "bfloat16"): 2250, ("l40s", "bfloat16"): 362, ("h100_sxm", "fp8"): 1979,
        ("h200_sxm", "fp8"): 1979, ("b200_sxm", "fp8"): 4500, ("l40s", "fp8"): 733}
BW = {"a100_sxm": 2039, "h100_sxm": 3350, "h200_sxm": 4800, "b200_sxm": 8000, "l40s": 864}
LINK = {"a100_sxm": 300, "h100_sxm": 450, "h200_sxm": 450, "b200_sxm": 900, "l40s": 32}


def errors(res):
    e = np.abs(np.exp(res) - 1)
    return f"median |error| {np.median(e):.3f}, p90 {np.quantile(e, 0.9):.3f}, n={len(e)}"


def gemm():
    g = pd.read_csv(os.path.join(PEROP, "gemm.csv"))
    print("GEMM: t = t0 + max(FLOPs / (peak x eff_c), bytes / (BW x eff_m)), n, k >= 2048")
    for (gpu, dt), x in g.groupby(["gpu", "gemm_dtype"]):
        x = x[(x.n >= 2048) & (x.k >= 2048)]
        wb = 1 if dt == "fp8" else 2
        fl = 2.0 * x.m * x.n * x.k
        by = x.n * x.k * wb + 2.0 * x.m * (x.n + x.k)
        pk, bw = PEAK[(gpu, dt)] * 1e12, BW[gpu] * 1e9

        def res(p):
            return np.log((p[2] * 1e-6 + np.maximum(fl / (pk * p[0]), by / (bw * p[1]))) / (x.latency_ms * 1e-3))

        r = least_squares(res, [0.7, 0.8, 3], bounds=([0.05, 0.05, 0], [1, 1, 50]))
        print(f"  {gpu:9} {dt:9} eff_c {r.x[0]:.3f}  eff_m {r.x[1]:.3f}  t0 {r.x[2]:5.1f} us   {errors(r.fun)}")


def decode_attention():
    a = pd.read_csv(os.path.join(PEROP, "generation_attention.csv"))
    print("decode attention: t = t0 + t_b x batch + KV bytes / (BW x eff_kv)")
    for (gpu, kvd), x in a.groupby(["gpu", "kv_cache_dtype"]):
        kb = 1 if "fp8" in kvd else 2
        by = x.batch_size * x.step * x.num_key_value_heads * x.head_dim * 2.0 * kb
        bw = BW[gpu] * 1e9

        def res(p):
            return np.log((p[0] * 1e-6 + p[1] * 1e-6 * x.batch_size + by / (bw * p[2])) / (x.latency_ms * 1e-3))

        r = least_squares(res, [5, 0.01, 0.7], bounds=([0, 0, 0.05], [100, 10, 1]))
        print(f"  {gpu:9} KV {kvd:9} eff_kv {r.x[2]:.3f}  t0 {r.x[0]:5.1f} us  t_b {r.x[1]:.3f} us   {errors(r.fun)}")


def prefill_attention():
    a = pd.read_csv(os.path.join(PEROP, "context_attention.csv"))
    print("prefill attention: t = t0 + FLOPs / (peak_bf16 x eff_a) x (1 + n_half / isl)")
    for gpu, x in a.groupby("gpu"):
        fl = 4.0 * x.num_heads * x.head_dim * x.batch_size * x.isl ** 2 / 2
        pk = PEAK[(gpu, "bfloat16")] * 1e12

        def res(p):
            return np.log((p[0] * 1e-6 + fl / (pk * p[1]) * (1 + p[2] / x.isl)) / (x.latency_ms * 1e-3))

        r = least_squares(res, [10, 0.5, 100], bounds=([0, 0.01, 0], [200, 1, 5000]))
        print(f"  {gpu:9} eff_a {r.x[1]:.3f}  t0 {r.x[0]:5.1f} us  n_half {r.x[2]:5.0f} tokens   {errors(r.fun)}")


def moe():
    m = pd.read_csv(os.path.join(PEROP, "moe.csv"))
    m = m[((m.distribution == "balanced") | (m.gpu == "a100_sxm")) & (m.moe_ep_size == 1)]
    wb = {"bfloat16": 2, "fp8": 1, "fp8_block": 1}
    print("grouped expert GEMMs: t = t0 + max(FLOPs x (1 + n_half x experts touched / assignments) / (peak x eff_c), "
          "bytes of touched experts / (BW x eff_m))")
    for (gpu, dt), x in m.groupby(["gpu", "moe_dtype"]):
        E, k, T = x.num_experts, x.topk, x.num_tokens
        touched = E * (1 - (1 - k / E) ** T)
        by = touched * 3.0 * x.hidden_size * x.inter_size * wb[dt]
        fl = 2.0 * 3 * x.hidden_size * x.inter_size * T * k
        pk = PEAK[(gpu, "fp8" if dt != "bfloat16" and (gpu, "fp8") in PEAK else "bfloat16")] * 1e12
        bw = BW[gpu] * 1e9

        def res(p):
            t = p[0] * 1e-6 + np.maximum(fl * (1 + p[3] * touched / (T * k)) / (pk * p[1]), by / (bw * p[2]))
            return np.log(t / (x.latency_ms * 1e-3))

        r = least_squares(res, [20, 0.3, 0.6, 32], bounds=([0, 0.01, 0.05, 0], [500, 1, 1, 2000]))
        print(f"  {gpu:9} {dt:9} eff_c {r.x[1]:.3f}  eff_m {r.x[2]:.3f}  t0 {r.x[0]:5.1f} us  n_half {r.x[3]:5.1f} tokens "
              f"per expert   {errors(r.fun)}")


def allreduce():
    c = pd.read_csv(os.path.join(PEROP, "custom_allreduce.csv"))
    c = c[(c.backend == "vllm_graph") & (c.message_size <= 64e6)]
    print("all-reduce (vLLM custom, CUDA graphs): t = latency + 2 (n - 1) / n x bytes / (link x eff), messages <= 64 MB")
    for gpu, x in c.groupby("gpu"):
        n = x.num_gpus.astype(float)

        def res(p):
            return np.log((p[0] * 1e-6 + 2 * (n - 1) / n * x.message_size / (LINK[gpu] * 1e9 * p[1])) / (x.latency_ms * 1e-3))

        r = least_squares(res, [5, 0.3], bounds=([0, 0.01], [100, 1.5]))
        print(f"  {gpu:9} latency {r.x[0]:5.2f} us  eff {r.x[1]:.3f}   {errors(r.fun)}")


if __name__ == "__main__":
    if not os.path.isdir(PEROP):
        sys.exit(f"{PEROP}: no per-operation tables (the calibration pack lives in ../shared/data/calibration)")
    gemm()
    decode_attention()
    prefill_attention()
    moe()
    allreduce()
