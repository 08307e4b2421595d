#!/usr/bin/env python3
"""Time one GPT-3 175B transformer block on one GPU, as one tensor-parallel rank runs it.

There is no communication: tensor parallelism of degree t is emulated by sharding the
weights (QKV [3h/t, h], out-proj [h, h/t], fc1 [4h/t, h], fc2 [h, 4h/t], heads/t heads).
LayerNorm, dropout and the residual adds run on the full [b, s, h] activations. That is
Megatron-style TP *without* sequence parallelism. With SP they would run on s/t tokens.

Block (pre-LN GPT, bf16 activations and bf16 parameters, no fp32 master weights, no
optimizer):
    x -> LN -> QKV linear(+bias) -> causal SDPA -> out-proj(+bias) -> dropout(p=0) + x
      -> LN -> fc1(+bias) -> GeLU(tanh) -> fc2(+bias) -> dropout(p=0) + residual

Modes
  eager    plain PyTorch (F.linear, F.scaled_dot_product_attention(is_causal=True))
  compile  torch.compile(mode=--compile-mode, dynamic=False), one subprocess per (b, t)
           with a wall-clock limit (--compile-timeout-s). Configs that do not finish in
           time are skipped and listed in the log. Rows are "compile" for the default
           mode "max-autotune-no-cudagraphs" and "compile_default" for mode="default".
  fp8      eager, but the 4 linear layers run through torch._scaled_mm. fwd: x and W are
           e4m3. bwd: the grad is e5m2 (falls back to e4m3 if unsupported) and dgrad and
           wgrad are both fp8. Activations and grads use per-tensor "current" scaling:
           amax is computed every call and the scale is rounded to a power of two. The
           fp8 weights (and their transposed copies) are cast once, outside the timed
           region, as with Transformer Engine's fp8 weight caching across the
           micro-batches of a step. The transposed fp8 activation and grad copies that
           wgrad needs (Hopper fp8 GEMMs are TN only) are made in the backward and are
           timed. These are unfused PyTorch ops, not Transformer Engine's fused kernels.

Passes
  fwd      training forward (autograd enabled, activations saved), output discarded.
  fwdbwd   forward + out.backward(g) with a random bf16 g. Weights, biases, LN params and
           x all require grad. .grad is reset to None before each call (outside the timed
           region), so no grad-accumulation add is included.

Timing (as in gemm_efficiency.py): a 256 MiB buffer is written before every timed call
(cold L2), CUDA events around each single call, 3 warm-up calls, median of 15 timed calls.
Inputs and weights are random normal.

model_flops (per rank): fwd = 2*b*s*(h*3h/t + h*h/t + 2*h*4h/t) + 4*b*s*s*h/t/2;
fwdbwd = 3 * GEMM part + 3.5 * attention part. achieved_tflops = model_flops / time.

The top-level process does not use CUDA itself. It samples SM clock, power and temperature
with NVML every 100 ms, takes `nvidia-smi -q -d PERFORMANCE,CLOCK,POWER` before and after,
runs the workers, and writes the CSV (default $OUT/h100_gpt3_layer.csv).

    python3 benchmarks/gpu/layer_time.py [--time-budget-s 330] [--out FILE]
        [--compile-mode default] [--compile-timeout-s 110] [--no-compile]
"""

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time

H = 12288
HEADS = 96
HEAD_DIM = 128
FFN = 4 * H
S = 2048
BS = (1, 2)
TS = (1, 2, 4, 8)
WARMUP = 3
REPS = 15
FIELDS = ["mode", "b", "t", "pass", "time_ms", "tokens", "model_flops", "achieved_tflops", "notes"]
# Order for the compile configs: most relevant first, so the time budget cuts the least useful.
COMPILE_ORDER = [(1, 8), (1, 4), (2, 8), (1, 1), (2, 4), (1, 2), (2, 2), (2, 1)]


def model_flops(b, t, pas, h=H, s=S):
    gemm = 2.0 * b * s * (h * 3 * h / t + h * h / t + 2 * h * 4 * h / t)
    attn = 4.0 * b * s * s * h / t / 2
    return gemm + attn if pas == "fwd" else 3.0 * gemm + 3.5 * attn


# --------------------------------------------------------------------------- model


def make_block(torch, t, dev, h=H, heads=HEADS, head_dim=HEAD_DIM, seed=0):
    """Return an nn.Module holding one TP-rank shard of a GPT-3 block."""
    import torch.nn as nn
    import torch.nn.functional as F

    assert heads % t == 0 and h == heads * head_dim
    nh = heads // t
    ht = h // t
    ft = 4 * h // t
    E4, E5 = torch.float8_e4m3fn, torch.float8_e5m2

    def quant(x, dt):
        fmax = torch.finfo(dt).max
        amax = x.abs().amax().float().clamp(min=1e-12)
        scale = torch.exp2(torch.floor(torch.log2(fmax / amax)))  # power of two: exact in bf16
        x8 = (x * scale).to(dt)
        return x8, scale.reciprocal()

    # fp8 weight cache: (w8, w8^T contiguous, inverse scale) per weight, filled by
    # Block.cache_fp8_weights() outside the timed region (like Transformer Engine's fp8
    # weight caching across micro-batches of one step). Empty -> cast every call.
    wcache = {}

    def fp8_weight(w):
        c = wcache.get(id(w))
        if c is not None:
            return c
        w8, sw = quant(w, E4)
        return w8, w8.t().contiguous(), sw

    class Fp8Linear(torch.autograd.Function):
        grad_dtype = E5

        @staticmethod
        def forward(ctx, x, w, bias):
            x8, sx = quant(x, E4)
            w8, wt8, sw = fp8_weight(w)
            y = torch._scaled_mm(
                x8, w8.t(), scale_a=sx, scale_b=sw, bias=bias, out_dtype=torch.bfloat16
            )
            ctx.save_for_backward(x8, sx, wt8, sw)
            return y

        @staticmethod
        def backward(ctx, gy):
            x8, sx, wt8, sw = ctx.saved_tensors
            g8, sg = quant(gy, Fp8Linear.grad_dtype)
            dx = torch._scaled_mm(g8, wt8.t(), scale_a=sg, scale_b=sw, out_dtype=torch.bfloat16)
            # Hopper fp8 GEMMs are TN only: wgrad needs both operands transposed (unfused copies).
            dw = torch._scaled_mm(
                g8.t().contiguous(),
                x8.t().contiguous().t(),
                scale_a=sg,
                scale_b=sx,
                out_dtype=torch.bfloat16,
            )
            return dx, dw, gy.sum(0)

    g = torch.Generator(device=dev).manual_seed(seed)

    def P(*shape, std=0.02, mean=0.0):
        v = torch.randn(*shape, device=dev, dtype=torch.float32, generator=g) * std + mean
        return nn.Parameter(v.to(torch.bfloat16))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fp8 = False
            self.ln1_w, self.ln1_b = P(h, std=0.1, mean=1.0), P(h, std=0.1)
            # QKV weight rows laid out per head as [q|k|v] (Megatron layout)
            self.qkv_w, self.qkv_b = P(3 * ht, h), P(3 * ht)
            self.proj_w, self.proj_b = P(h, ht), P(h)
            self.ln2_w, self.ln2_b = P(h, std=0.1, mean=1.0), P(h, std=0.1)
            self.fc1_w, self.fc1_b = P(ft, h), P(ft)
            self.fc2_w, self.fc2_b = P(h, ft), P(h)

        def lin(self, x, w, bias):
            if not self.fp8:
                return F.linear(x, w, bias)
            shp = x.shape
            y = Fp8Linear.apply(x.reshape(-1, shp[-1]), w, bias)
            return y.view(*shp[:-1], w.shape[0])

        def forward(self, x):  # x [b, s, h]
            b, s, _ = x.shape
            y = F.layer_norm(x, (h,), self.ln1_w, self.ln1_b, 1e-5)
            qkv = self.lin(y, self.qkv_w, self.qkv_b).view(b, s, nh, 3, head_dim)
            q, k, v = (qkv[:, :, :, i, :].transpose(1, 2) for i in range(3))  # [b, nh, s, d]
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            o = o.transpose(1, 2).reshape(b, s, ht)
            o = self.lin(o, self.proj_w, self.proj_b)
            x = x + F.dropout(o, p=0.0, training=True)
            y = F.layer_norm(x, (h,), self.ln2_w, self.ln2_b, 1e-5)
            y = F.gelu(self.lin(y, self.fc1_w, self.fc1_b), approximate="tanh")
            y = self.lin(y, self.fc2_w, self.fc2_b)
            return x + F.dropout(y, p=0.0, training=True)

    def cache_fp8_weights(on=True):
        wcache.clear()
        if on:
            with torch.no_grad():
                for w in (blk.qkv_w, blk.proj_w, blk.fc1_w, blk.fc2_w):
                    w8, sw = quant(w, E4)
                    wcache[id(w)] = (w8, w8.t().contiguous(), sw)

    blk = Block()
    blk.Fp8Linear = Fp8Linear
    blk.cache_fp8_weights = cache_fp8_weights
    return blk


# --------------------------------------------------------------------------- worker


def worker(args):
    import torch

    dev = torch.device("cuda")
    props = torch.cuda.get_device_properties(dev)
    print(
        f"worker {args.worker} b={args.b} t={args.t}: {props.name}, SMs "
        f"{props.multi_processor_count}, torch {torch.__version__}, cuda {torch.version.cuda}, "
        f"cudnn {torch.backends.cudnn.version()}",
        flush=True,
    )
    flush_buf = torch.empty(256 * 2**20, dtype=torch.int8, device=dev)

    def bench(fn, pre=None):
        for _ in range(WARMUP):
            if pre:
                pre()
            fn()
        torch.cuda.synchronize()
        st = [torch.cuda.Event(enable_timing=True) for _ in range(REPS)]
        en = [torch.cuda.Event(enable_timing=True) for _ in range(REPS)]
        w0 = time.time()
        for i in range(REPS):
            if pre:
                pre()
            flush_buf.zero_()
            st[i].record()
            fn()
            en[i].record()
        torch.cuda.synchronize()
        w1 = time.time()
        ts = sorted(st[i].elapsed_time(en[i]) for i in range(REPS))
        return ts[len(ts) // 2], ts[0], ts[-1], w0, w1

    def emit(mode, b, t, pas, res, notes=""):
        med, lo, hi, w0, w1 = res
        mf = model_flops(b, t, pas)
        row = dict(
            mode=mode,
            b=b,
            t=t,
            **{"pass": pas},
            time_ms=f"{med:.4f}",
            tokens=b * S,
            model_flops=f"{mf:.6e}",
            achieved_tflops=f"{mf / (med * 1e-3) / 1e12:.1f}",
            notes=(f"min={lo:.3f};max={hi:.3f};n={REPS}" + (";" + notes if notes else "")),
            w0=w0,
            w1=w1,
        )
        print("ROW " + json.dumps(row), flush=True)

    def relerr(a, ref):
        return ((a.float() - ref.float()).norm() / ref.float().norm()).item()

    def setup(blk, b):
        x = torch.randn(b, S, H, device=dev, dtype=torch.bfloat16, requires_grad=True)
        gout = torch.randn(b, S, H, device=dev, dtype=torch.bfloat16)
        params = list(blk.parameters()) + [x]

        def zero():
            for p in params:
                p.grad = None

        return x, gout, zero

    def time_block(f, x, gout, zero):
        r_fwd = bench(lambda: f(x))

        def fb():
            f(x).backward(gout)

        r_fb = bench(fb, pre=zero)
        return r_fwd, r_fb

    if args.worker == "eager":
        # fp8 e5m2 x e4m3 support check
        fp8_ok, fp8_note = True, ""
        try:
            a = torch.randn(64, 64, device=dev).to(torch.float8_e5m2)
            bm = torch.randn(64, 64, device=dev).to(torch.float8_e4m3fn)
            one = torch.tensor(1.0, device=dev)
            torch._scaled_mm(a, bm.t(), scale_a=one, scale_b=one, out_dtype=torch.bfloat16)
            fp8_note = "grad=e5m2"
        except Exception as ex:
            print(f"e5m2 x e4m3 _scaled_mm not supported ({ex!r}); grads use e4m3", flush=True)
            fp8_note = "grad=e4m3"
        rep_res = None
        for t in TS:
            blk = make_block(torch, t, dev)
            if fp8_note == "grad=e4m3":
                blk.Fp8Linear.grad_dtype = torch.float8_e4m3fn
            for b in BS:
                x, gout, zero = setup(blk, b)
                blk.fp8 = False
                with torch.no_grad():
                    ref = blk(x)
                rf, rb = time_block(blk, x, gout, zero)
                emit("eager", b, t, "fwd", rf)
                emit("eager", b, t, "fwdbwd", rb)
                if (b, t) == (2, 1):
                    rep_res = rb
                if fp8_ok:
                    try:
                        blk.fp8 = True
                        blk.cache_fp8_weights(True)
                        with torch.no_grad():
                            err = relerr(blk(x), ref)
                            xin = torch.randn(b * S, H, device=dev, dtype=torch.bfloat16)
                            gerr = relerr(
                                blk.Fp8Linear.apply(xin, blk.fc1_w, blk.fc1_b),
                                torch.nn.functional.linear(xin, blk.fc1_w, blk.fc1_b),
                            )
                            del xin
                        rf, rb = time_block(blk, x, gout, zero)
                        note = (
                            f"{fp8_note};weights_cached;fc1_relerr_vs_bf16={gerr:.2e};"
                            f"block_fwd_relerr_vs_bf16={err:.2e}"
                        )
                        emit("fp8", b, t, "fwd", rf, note)
                        emit("fp8", b, t, "fwdbwd", rb, note)
                    except Exception as ex:
                        print(f"FP8 FAILED b={b} t={t}: {ex!r}", flush=True)
                        fp8_ok = False
                    blk.fp8 = False
                    blk.cache_fp8_weights(False)
                del x, gout, ref
                torch.cuda.empty_cache()
            del blk
            torch.cuda.empty_cache()
        # drift check: repeat the first-measured large config at the end
        blk = make_block(torch, 1, dev)
        x, gout, zero = setup(blk, 2)
        _, rb2 = time_block(blk, x, gout, zero)
        print(
            f"REPEAT eager b=2 t=1 fwdbwd: first {rep_res[0]:.3f} ms, at end {rb2[0]:.3f} ms",
            flush=True,
        )
    elif args.worker == "compile":
        b, t = args.b, args.t
        blk = make_block(torch, t, dev)
        x, gout, zero = setup(blk, b)
        with torch.no_grad():
            ref = blk(x)
        cblk = torch.compile(blk, mode=args.compile_mode, dynamic=False)
        c0 = time.time()
        out = cblk(x)
        torch.cuda.synchronize()
        c1 = time.time()
        out.backward(gout)
        torch.cuda.synchronize()
        c2 = time.time()
        err = relerr(out.detach(), ref)
        del out
        zero()
        print(f"compile b={b} t={t}: fwd {c1 - c0:.1f} s, bwd {c2 - c1:.1f} s", flush=True)
        rf, rb = time_block(cblk, x, gout, zero)
        note = f"compile_s={c2 - c0:.0f};fwd_relerr_vs_eager={err:.2e}"
        mode = "compile" if args.compile_mode == "max-autotune-no-cudagraphs" else "compile_default"
        emit(mode, b, t, "fwd", rf, note)
        emit(mode, b, t, "fwdbwd", rb, note)


# --------------------------------------------------------------------------- driver


class Sampler:
    """NVML sampling of SM clock, power, temperature every `dt` seconds."""

    def __init__(self, dt=0.1):
        self.samples = []
        self.dt = dt
        self.stop_ev = threading.Event()
        self.ok = False
        try:
            import pynvml

            pynvml.nvmlInit()
            self.nv = pynvml
            self.hnd = pynvml.nvmlDeviceGetHandleByIndex(0)
            self.ok = True
        except Exception as ex:
            print(f"NVML sampling unavailable: {ex!r}", flush=True)
        self.th = threading.Thread(target=self.loop, daemon=True)

    def loop(self):
        nv, hd = self.nv, self.hnd
        while not self.stop_ev.is_set():
            try:
                self.samples.append(
                    (
                        time.time(),
                        nv.nvmlDeviceGetClockInfo(hd, nv.NVML_CLOCK_SM),
                        nv.nvmlDeviceGetPowerUsage(hd) / 1000.0,
                        nv.nvmlDeviceGetTemperature(hd, nv.NVML_TEMPERATURE_GPU),
                    )
                )
            except Exception:
                pass
            time.sleep(self.dt)

    def start(self):
        if self.ok:
            self.th.start()

    def stop(self):
        self.stop_ev.set()
        if self.ok:
            self.th.join(timeout=2)

    def window(self, w0, w1):
        sel = [s for s in self.samples if w0 <= s[0] <= w1]
        if not sel:
            return ""
        clk = sorted(s[1] for s in sel)
        pw = sorted(s[2] for s in sel)
        med_clk, med_pw = clk[len(clk) // 2], pw[len(pw) // 2]
        return f"sm_mhz_med={med_clk};power_w_med={med_pw:.0f};samples={len(sel)}"


def run_worker(extra, timeout):
    """Run this script as a worker subprocess; return (rows, status, seconds)."""
    cmd = [sys.executable, "-u", os.path.abspath(__file__), "--worker"] + extra
    t0 = time.time()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    rows = []

    def reader():
        for line in proc.stdout:
            line = line.rstrip("\n")
            if line.startswith("ROW "):
                rows.append(json.loads(line[4:]))
                r = rows[-1]
                print(
                    f"  {r['mode']:8s} b={r['b']} t={r['t']} {r['pass']:6s} "
                    f"{r['time_ms']:>10s} ms {r['achieved_tflops']:>7s} TFLOP/s  {r['notes']}",
                    flush=True,
                )
            else:
                print("  | " + line, flush=True)

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    status = "ok"
    try:
        rc = proc.wait(timeout=timeout)
        if rc != 0:
            status = f"exit {rc}"
    except subprocess.TimeoutExpired:
        status = f"timeout after {timeout:.0f} s"
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the worker's own process group only
        except ProcessLookupError:
            pass
        proc.wait()
    th.join(timeout=5)
    return rows, status, time.time() - t0


def smi_snapshot(path):
    try:
        txt = subprocess.run(
            ["nvidia-smi", "-q", "-d", "PERFORMANCE,CLOCK,POWER"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
    except Exception as ex:
        txt = f"nvidia-smi failed: {ex!r}"
    with open(path, "w") as f:
        f.write(txt)
    keys = (
        "Clocks Event Reasons",
        "SW Power Cap",
        "HW Slowdown",
        "SW Thermal",
        "Graphics",
        " SM ",
        "Memory  ",
        "Power Draw",
        "Current Power Limit",
        "Performance State",
    )
    return "\n".join(ln for ln in txt.splitlines() if any(k in ln for k in keys))


def main():
    ap = argparse.ArgumentParser()
    out_dir = os.environ.get("OUT", ".")
    ap.add_argument("--out", default=os.path.join(out_dir, "h100_gpt3_layer.csv"))
    ap.add_argument("--time-budget-s", type=float, default=330.0)
    ap.add_argument("--compile-timeout-s", type=float, default=110.0)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument(
        "--compile-mode",
        default="max-autotune-no-cudagraphs",
        help='torch.compile mode; rows are labelled "compile" for the default '
        'max-autotune-no-cudagraphs and "compile_default" for mode="default"',
    )
    ap.add_argument("--worker", choices=["eager", "compile"])
    ap.add_argument("--b", type=int, default=1)
    ap.add_argument("--t", type=int, default=8)
    args = ap.parse_args()
    if args.worker:
        return worker(args)

    t_start = time.time()
    odir = os.path.dirname(os.path.abspath(args.out))
    print(smi_snapshot(os.path.join(odir, "nvidia_smi_before.txt")), flush=True)
    sampler = Sampler()
    sampler.start()

    rows, status, secs = run_worker(["eager"], timeout=170)
    print(f"eager worker: {status}, {secs:.0f} s", flush=True)

    skipped = []
    if not args.no_compile:
        for b, t in COMPILE_ORDER:
            left = args.time_budget_s - (time.time() - t_start)
            if left < 45:
                skipped.append((b, t, "time budget"))
                continue
            r, st, secs = run_worker(
                ["compile", "--b", str(b), "--t", str(t), "--compile-mode", args.compile_mode],
                timeout=min(args.compile_timeout_s, left - 5),
            )
            print(f"compile worker b={b} t={t}: {st}, {secs:.0f} s", flush=True)
            rows += r
            if st != "ok":
                skipped.append((b, t, st))
                if (b, t) == COMPILE_ORDER[0] and st.startswith("timeout"):
                    skipped += [(bb, tt, "first compile timed out") for bb, tt in COMPILE_ORDER[1:]]
                    break
    print(f"compile skipped: {skipped}", flush=True)

    sampler.stop()
    print(smi_snapshot(os.path.join(odir, "nvidia_smi_after.txt")), flush=True)
    if sampler.samples:
        with open(os.path.join(odir, "nvml_samples.csv"), "w") as f:
            f.write("unix_time,sm_mhz,power_w,temp_c\n")
            for s in sampler.samples:
                f.write(f"{s[0]:.2f},{s[1]},{s[2]:.1f},{s[3]}\n")

    order = {"eager": 0, "compile": 1, "compile_default": 2, "fp8": 3}
    rows.sort(key=lambda r: (order.get(r["mode"], 9), r["b"], r["t"], r["pass"] != "fwd"))
    with open(args.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        for r in rows:
            clk = sampler.window(r["w0"], r["w1"])
            r["notes"] = r["notes"] + (";" + clk if clk else "")
            w.writerow({k: r[k] for k in FIELDS})
    print(f"\nwrote {len(rows)} rows to {args.out} in {time.time() - t_start:.0f} s", flush=True)
    for r in rows:
        print(",".join(str(r[k]) for k in FIELDS), flush=True)


if __name__ == "__main__":
    main()
