#!/usr/bin/python3
"""Writes the efficiency profiles of (GPU, engine) pairs without enough measurements into
platforms/gpus.yaml, by the rule stated in the README ("Calibration", "GPUs without measurements"):

  * A GPU on the same die (or die family) as a GPU whose profile for this engine is fitted takes that
    whole profile (H20, H800 <- H100; B300 <- B200). Efficiencies are fractions of each GPU's own peaks
    and bandwidth, so the profile scales by the GPU's own hardware.
  * Otherwise the kernel efficiencies (GEMM compute at 16 and 8 bits, weight and KV streaming, attention,
    grouped expert GEMMs, all-reduce latency and link efficiency) come from kernel tables: the GPU's own
    (A100, L40S; analysis/perop_kernels.py, measured through vLLM's kernels, used for every engine), its
    die's (A800, A100-40GB <- A100; L20 <- L40S), or for Ascend NPUs, which have none, the A100's (an
    ASSUMPTION, stated in the profile); and the engine software (scheduling mode, CPU time per step and
    per sequence, CPU/GPU overlap, request overhead, per-layer latency) comes from the engine's H100
    profile (the host CPU and the engine, not the GPU).

Profiles marked `basis: fitted` are never touched. Run after refitting (`chatdc calibrate --fit`):
    /usr/bin/python3 analysis/rule_profiles.py platforms/gpus.yaml
Needs python3-yaml.
"""
import re
import sys

import yaml

ENGINES = ["vllm", "sglang", "trtllm"]
KERNEL_KEYS = ["compute", "compute_fp8", "compute_fp4", "memory", "kv_memory", "attention_compute",
               "attention_half_tokens", "moe_compute", "moe_half_tokens", "allreduce_latency_us", "interconnect"]
SOFTWARE_KEYS = ["chunked_prefill", "layer_overhead_us", "moe_layer_overhead_us", "step_overhead_ms",
                 "per_sequence_overhead_us", "cpu_overlap", "request_overhead_ms"]
ORDER = ["roofline", "chunked_prefill", "basis"] + KERNEL_KEYS[:9] + ["layer_overhead_us", "moe_layer_overhead_us"] + \
        KERNEL_KEYS[9:] + ["step_overhead_ms", "per_sequence_overhead_us", "cpu_overlap", "request_overhead_ms"]

# Kernel-table efficiencies (analysis/perop_kernels.py on ../shared/data/calibration/perop, vLLM kernels).
# moe_compute = grouped-expert GEMM efficiency (moe.csv, with its n_1/2 per expert = moe_half_tokens) / dense GEMM
# efficiency (gemm.csv), at most 1.
TABLES = {
    "a100": {"compute": 0.766, "memory": 0.735, "kv_memory": 0.719, "attention_compute": 0.611,
             "attention_half_tokens": 696, "moe_compute": 0.45, "moe_half_tokens": 61, "allreduce_latency_us": 5.86,
             "interconnect": 0.251},
    "l40s": {"compute": 0.615, "compute_fp8": 0.432, "memory": 0.784, "kv_memory": 0.95, "attention_compute": 0.491,
             "attention_half_tokens": 449, "moe_compute": 1.0, "moe_half_tokens": 392, "allreduce_latency_us": 11.15,
             "interconnect": 0.081},
}
TABLE_NOTE = {"a100": "A100 kernel tables", "l40s": "L40S kernel tables"}

# (GPU, engine) -> where its kernel efficiencies come from: ("profile", gpu) or ("tables", key).
SOURCES = {
    "h20": ("profile", "h100-sxm"), "h800": ("profile", "h100-sxm"),
    "b300": ("profile", "b200"),
    "a100-sxm-80gb": ("tables", "a100"), "a100-sxm-40gb": ("tables", "a100"), "a800-sxm-80gb": ("tables", "a100"),
    "l40s": ("tables", "l40s"), "l20": ("tables", "l40s"),
    "ascend-910b": ("tables", "a100"), "ascend-910c": ("tables", "a100"),
}
NO_ENGINE = {("ascend-910b", "trtllm"), ("ascend-910c", "trtllm")}  # TensorRT-LLM does not run on Ascend


def fmt(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def main(path):
    text = open(path).read()
    cat = yaml.safe_load(text)["gpus"]
    for gpu, (kind, src) in SOURCES.items():
        if gpu not in cat:
            continue
        for eng in ENGINES:
            if (gpu, eng) in NO_ENGINE:
                continue
            have = cat[gpu].get("efficiency", {}).get(eng)
            if have and have.get("basis", "fitted") == "fitted" and have.get("roofline") == "kernel":
                continue  # measured: never overwritten
            h100 = cat["h100-sxm"]["efficiency"][eng]
            prof = {"roofline": "kernel", "basis": "ruled"}
            for k in SOFTWARE_KEYS:
                prof[k] = h100[k]
            if kind == "profile":
                base = cat[src]["efficiency"][eng]
                for k in KERNEL_KEYS + SOFTWARE_KEYS:
                    if k in base:
                        prof[k] = base[k]
                note = f"ruled: the fitted {src} {eng} profile (same die), on this GPU's own peaks and bandwidth"
            else:
                prof.update(TABLES[src])
                note = (f"ruled: {TABLE_NOTE[src]} (vLLM kernels)"
                        + (" -- ASSUMPTION: no Ascend kernel data; A100-class efficiencies" if gpu.startswith("ascend") else "")
                        + f", engine software of h100-sxm {eng}")
            block = f"      {eng}:{' ' * 26}# {note}\n" + "".join(
                f"        {k}: {fmt(prof[k])}\n" for k in ORDER if k in prof)
            text = replace_profile(text, gpu, eng, block)
    open(path, "w").write(text)


def replace_profile(text, gpu, eng, block):
    start = text.index(f"\n  {gpu}:\n") + 1
    end_m = re.compile(r"^  \S", re.M).search(text, start + 3)
    end = end_m.start() if end_m else len(text)
    entry = text[start:end]
    m = re.search(rf"^      {re.escape(eng)}:.*\n(?:        .*\n)*", entry, re.M)
    if m:
        entry = entry[:m.start()] + block + entry[m.end():]
    else:
        if "\n    efficiency:" not in entry:
            entry = entry.rstrip("\n") + "\n    efficiency:                         # by serving engine; README \"Calibration\"\n"
        entry = entry + block if entry.endswith("\n") else entry + "\n" + block
    return text[:start] + entry + text[end:]


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "platforms/gpus.yaml")
