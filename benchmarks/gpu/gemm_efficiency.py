#!/usr/bin/env python3
"""Measure achieved GEMM / attention / HBM efficiency on one NVIDIA GPU.

Writes one CSV with columns
    kind,dtype,M,N,K,label,time_us,tflops,fraction_of_peak,gb_s

What is measured (all inputs random normal, never zeros):
  * bf16 GEMM via torch.matmul (bf16 in/out, cuBLAS default fp32 accumulate)
  * fp8 GEMM via torch._scaled_mm (float8_e4m3fn in, bf16 out, per-tensor
    fp32 scales; first operand row-major, second column-major), both with the
    default accumulation (use_fast_accum=False, label suffix none) and, for a
    subset, with use_fast_accum=True (dtype "fp8_e4m3_fastaccum").
  * square sizes and GPT-3 175B per-layer shapes (fwd, dgrad, wgrad) under
    tensor parallelism t in {1,2,4,8}, micro-batch 1 and 2 (T = mb * 2048).
  * causal SDPA (flash / cuDNN / default backend) fwd, bwd, fwd+bwd.
  * HBM bandwidth of elementwise ops on a 1 GiB bf16 tensor.

Layout: every GEMM is C[M,N] = A[M,K] @ W[N,K]^T with A and W contiguous
("TN", the layout of y = x @ W^T in a Linear layer and the only layout fp8
tensor cores accept on Hopper).  FLOPs = 2*M*N*K.

Timing: CUDA events around each single call, L2 flushed (256 MiB buffer
written) before every call, warm-up calls first, median of N timed calls
(N adaptive, 10..100).

Peaks (H100 SXM datasheet, dense): bf16 989.4 TFLOP/s, fp8 1978.9 TFLOP/s,
HBM3 3350 GB/s.

Usage: python3 gemm_efficiency.py [--out path.csv] [--time-budget-s 420]
"""

import argparse
import contextlib
import csv
import os
import time

PEAK_TFLOPS = {"bf16": 989.4, "fp8_e4m3": 1978.9, "fp8_e4m3_fastaccum": 1978.9}
PEAK_HBM_GBS = 3350.0

GPT3_H = 12288
GPT3_FFN = 4 * GPT3_H
GPT3_VOCAB = 51200
GPT3_HEADS = 96
SEQ = 2048

FIELDS = ["kind", "dtype", "M", "N", "K", "label", "time_us", "tflops", "fraction_of_peak", "gb_s"]


def gpt3_layer_gemms(mb, t):
    """Forward GEMMs of one GPT-3 175B layer (+ logits) at TP degree t.

    Returns list of (name, M, N, K) for C[M,N] = A[M,K] @ B[K,N].
    """
    T = mb * SEQ
    h = GPT3_H
    return [
        ("qkv", T, 3 * h // t, h),
        ("attn_out", T, h, h // t),
        ("mlp_up", T, GPT3_FFN // t, h),
        ("mlp_down", T, h, GPT3_FFN // t),
        ("logits", T, GPT3_VOCAB // t, h),
    ]


def gemm_configs():
    """Ordered list of (label, M, N, K, dtypes).  Most important first."""
    cfgs = []
    fast = ("bf16", "fp8_e4m3", "fp8_e4m3_fastaccum")
    base = ("bf16", "fp8_e4m3")
    for n in (256, 512, 1024, 2048, 4096, 8192, 16384):
        cfgs.append((f"square_{n}", n, n, n, fast))
    order = [(1, 8), (1, 4), (1, 2), (1, 1), (2, 8), (2, 4), (2, 2), (2, 1)]
    for mb, t in order:
        for name, M, N, K in gpt3_layer_gemms(mb, t):
            dts = fast if (mb == 1 and t in (4, 8)) else base
            cfgs.append((f"gpt3_mb{mb}_t{t}_{name}_fwd", M, N, K, dts))
        # backward shapes: dgrad dX[T,K] = dY[T,N] @ W[N,K]; wgrad dW[K?]:
        # we time dW^T-shaped product (K_fwd x T) @ (T x N_fwd).
        for name, M, N, K in gpt3_layer_gemms(mb, t):
            dts = base
            cfgs.append((f"gpt3_mb{mb}_t{t}_{name}_dgrad", M, K, N, dts))
            cfgs.append((f"gpt3_mb{mb}_t{t}_{name}_wgrad", K, N, M, dts))
    return cfgs


def sanity_check(torch, dev):
    """fp8 and bf16 GEMM results against a float64 reference."""
    one = torch.tensor(1.0, device=dev, dtype=torch.float32)
    a = torch.randn(512, 1024, device=dev)
    b = torch.randn(768, 1024, device=dev)
    ref = a.double() @ b.double().t()
    a8 = a.to(torch.float8_e4m3fn)
    b8 = b.to(torch.float8_e4m3fn)
    out8 = torch._scaled_mm(a8, b8.t(), scale_a=one, scale_b=one, out_dtype=torch.bfloat16)
    ref8 = a8.double() @ b8.double().t()
    rel = ((out8.double() - ref8).norm() / ref8.norm()).item()
    relq = ((out8.double() - ref).norm() / ref.norm()).item()
    outb = a.bfloat16() @ b.bfloat16().t()
    relb = ((outb.double() - ref).norm() / ref.norm()).item()
    print(
        f"sanity: fp8 vs fp64-of-fp8-inputs rel err {rel:.2e}; "
        f"fp8 vs fp64 rel err {relq:.2e}; bf16 vs fp64 rel err {relb:.2e}",
        flush=True,
    )
    assert rel < 1e-2 and relb < 2e-2, "GEMM sanity check failed"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--out", default=os.path.join(os.environ.get("OUT", "."), "h100_gemm_efficiency.csv")
    )
    ap.add_argument("--time-budget-s", type=float, default=420.0)
    ap.add_argument(
        "--list", action="store_true", help="print the GEMM configs and exit (no GPU needed)"
    )
    args = ap.parse_args()

    if args.list:
        for c in gemm_configs():
            print(c)
        print(len(gemm_configs()), "gemm configs")
        return

    import torch
    import torch.nn.functional as F

    t_start = time.time()
    dev = torch.device("cuda")
    props = torch.cuda.get_device_properties(dev)
    print(
        f"device: {props.name}, SMs {props.multi_processor_count}, "
        f"mem {props.total_memory / 2**30:.1f} GiB",
        flush=True,
    )
    print(
        f"torch {torch.__version__}, cuda {torch.version.cuda}, "
        f"cudnn {torch.backends.cudnn.version()}",
        flush=True,
    )
    print(
        "allow_bf16_reduced_precision_reduction:",
        torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction,
    )

    flush_buf = torch.empty(256 * 2**20, dtype=torch.int8, device=dev)

    def bench(fn, max_reps=100, min_reps=10, target_s=0.25):
        """Median time (s) of fn() with L2 flushed before each call."""
        fn()
        torch.cuda.synchronize()
        # rough estimate
        s = torch.cuda.Event(enable_timing=True)
        e = torch.cuda.Event(enable_timing=True)
        s.record()
        for _ in range(3):
            fn()
        e.record()
        torch.cuda.synchronize()
        est = s.elapsed_time(e) / 3 / 1e3
        reps = int(min(max_reps, max(min_reps, target_s / max(est, 1e-6))))
        warm = max(3, min(20, int(0.05 / max(est, 1e-6))))
        for _ in range(warm):
            fn()
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
        for i in range(reps):
            flush_buf.zero_()
            starts[i].record()
            fn()
            ends[i].record()
        torch.cuda.synchronize()
        ts = sorted(starts[i].elapsed_time(ends[i]) / 1e3 for i in range(reps))
        return ts[len(ts) // 2], reps

    f = open(args.out, "w", newline="")
    w = csv.DictWriter(f, fieldnames=FIELDS)
    w.writeheader()
    rows = []

    def emit(row):
        row = {k: row.get(k, "") for k in FIELDS}
        w.writerow(row)
        f.flush()
        rows.append(row)
        print(",".join(str(row[k]) for k in FIELDS), flush=True)

    # ---- sanity: fp8 path correct -------------------------------------
    try:
        sanity_check(torch, dev)
    except Exception as ex:
        print(f"SANITY CHECK FAILED: {ex!r}", flush=True)

    # ---- GEMMs ---------------------------------------------------------
    def run_gemm(label, M, N, K, dt):
        if dt == "bf16":
            A = torch.randn(M, K, device=dev, dtype=torch.bfloat16)
            W = torch.randn(N, K, device=dev, dtype=torch.bfloat16)
            C = torch.empty(M, N, device=dev, dtype=torch.bfloat16)
            Bt = W.t()
            fn = lambda: torch.matmul(A, Bt, out=C)
        else:
            A = torch.randn(M, K, device=dev, dtype=torch.bfloat16).to(torch.float8_e4m3fn)
            W = torch.randn(N, K, device=dev, dtype=torch.bfloat16).to(torch.float8_e4m3fn)
            Bt = W.t()  # column-major K x N
            fast = dt.endswith("fastaccum")
            sa = torch.tensor(1.0, device=dev, dtype=torch.float32)
            sb = torch.tensor(1.0, device=dev, dtype=torch.float32)
            fn = lambda: torch._scaled_mm(
                A, Bt, scale_a=sa, scale_b=sb, out_dtype=torch.bfloat16, use_fast_accum=fast
            )
        tsec, reps = bench(fn)
        tfl = 2.0 * M * N * K / tsec / 1e12
        emit(
            dict(
                kind="gemm",
                dtype=dt,
                M=M,
                N=N,
                K=K,
                label=label,
                time_us=f"{tsec * 1e6:.2f}",
                tflops=f"{tfl:.1f}",
                fraction_of_peak=f"{tfl / PEAK_TFLOPS[dt]:.4f}",
            )
        )
        del A, W, fn

    # noise check: same config at start and end
    run_gemm("square_8192_repeat_a", 8192, 8192, 8192, "bf16")

    skipped = []
    for label, M, N, K, dts in gemm_configs():
        for dt in dts:
            if time.time() - t_start > args.time_budget_s - 60:
                skipped.append((label, dt))
                continue
            try:
                run_gemm(label, M, N, K, dt)
            except Exception as ex:  # keep going, record the failure
                print(f"FAILED {label} {dt}: {ex!r}", flush=True)
                skipped.append((label, dt))
            torch.cuda.empty_cache()
    if skipped:
        print(f"skipped {len(skipped)} gemm runs (time budget / errors):", skipped[:20], flush=True)

    run_gemm("square_8192_repeat_b", 8192, 8192, 8192, "bf16")
    torch.cuda.empty_cache()

    # ---- attention -----------------------------------------------------
    from torch.nn.attention import SDPBackend, sdpa_kernel

    backends = [
        ("default", None),
        ("flash", SDPBackend.FLASH_ATTENTION),
        ("cudnn", SDPBackend.CUDNN_ATTENTION),
    ]
    d = 128
    s = SEQ
    for t in (1, 8):
        H = GPT3_HEADS // t
        for bsz in (1, 2):
            q = torch.randn(bsz, H, s, d, device=dev, dtype=torch.bfloat16, requires_grad=True)
            k = torch.randn_like(q, requires_grad=True)
            v = torch.randn_like(q, requires_grad=True)
            g = torch.randn_like(q)
            fwd_flops = 4.0 * bsz * H * s * s * d / 2
            for bname, be in backends:
                label = f"sdpa_causal_b{bsz}_h{H}_s{s}_d{d}_t{t}_{bname}"
                try:

                    def ctx(be=be):
                        return sdpa_kernel([be]) if be is not None else contextlib.nullcontext()

                    def fwd():
                        with ctx():
                            return F.scaled_dot_product_attention(q, k, v, is_causal=True)

                    def fwdbwd():
                        with ctx():
                            o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
                        torch.autograd.grad(o, (q, k, v), g)

                    with torch.no_grad():
                        tf, _ = bench(fwd)
                    o_keep = fwd()

                    def bwd():
                        torch.autograd.grad(o_keep, (q, k, v), g, retain_graph=True)

                    tb, _ = bench(bwd)
                    tfb, _ = bench(fwdbwd)
                    del o_keep
                    for kind, tt, fl in (
                        ("attn_fwd", tf, fwd_flops),
                        ("attn_bwd", tb, 2.5 * fwd_flops),
                        ("attn_fwdbwd", tfb, 3.5 * fwd_flops),
                    ):
                        tfl = fl / tt / 1e12
                        emit(
                            dict(
                                kind=kind,
                                dtype="bf16",
                                M=s,
                                N=s,
                                K=d,
                                label=label,
                                time_us=f"{tt * 1e6:.2f}",
                                tflops=f"{tfl:.1f}",
                                fraction_of_peak=f"{tfl / PEAK_TFLOPS['bf16']:.4f}",
                            )
                        )
                except Exception as ex:
                    print(f"FAILED attention {label}: {ex!r}", flush=True)
            del q, k, v, g
            torch.cuda.empty_cache()

    # ---- HBM bandwidth ---------------------------------------------------
    n = 2**30 // 2  # 1 GiB of bf16
    x = torch.randn(n, device=dev, dtype=torch.bfloat16)
    y = torch.empty_like(x)
    bw_ops = [
        ("elementwise_gelu", lambda: torch.nn.functional.gelu(x), 2),
        ("elementwise_add_scalar", lambda: torch.add(x, 0.5, out=y), 2),
        ("elementwise_copy", lambda: y.copy_(x), 2),
        ("reduction_sum", lambda: x.sum(), 1),
    ]
    for kind, fn, passes in bw_ops:
        tt, _ = bench(fn)
        gbs = passes * n * 2 / tt / 1e9
        emit(
            dict(
                kind=kind,
                dtype="bf16",
                M=n,
                label="hbm_bw",
                time_us=f"{tt * 1e6:.2f}",
                gb_s=f"{gbs:.1f}",
                fraction_of_peak=f"{gbs / PEAK_HBM_GBS:.4f}",
            )
        )
    f.close()
    print(f"wrote {len(rows)} rows to {args.out} in {time.time() - t_start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
