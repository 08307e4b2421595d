"""Sweep throughput on 1, 2 and 4 local JAX devices, and a million-design sweep.

Each device count runs in its own process (the CPU is split into devices with
``XLA_FLAGS=--xla_force_host_platform_device_count=N``, set before JAX starts)
and sweeps the same random design space (``SPACE``: GPT-3 175B on 512 or 1,024
accelerators built from the h100-like design, seven free parameters) with
``dse sweep``'s machinery: exact model, strategy search per design, chunks
written to disk. The rate excludes the first chunk (it carries the compile).
Then one sweep of ``--million`` designs on every local device reports its wall
time. On a machine with few cores the extra devices share the same cores, so
the rates say how well the sharded code keeps them busy, not what more
hardware would give.

    python benchmarks/sweep_scaling.py [--json] [--designs 40000] [--million 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

SPACE = """
workload = "gpt3-175b"
base = "h100-like"
accelerators = [512, 1024]
sampling = "random"
samples = {samples}
seed = 0
chunk = {chunk}

[params]
arrays_per_chip = {{ min = 64, max = 176 }}
clock_hz = {{ min = 1.2e9, max = 2.2e9 }}
sram_bytes = {{ min = 8e6, max = 128e6 }}
hbm_stacks = {{ values = [2, 3, 4, 5, 6] }}
hbm_bw_bytes_per_s_per_stack = {{ min = 0.6e12, max = 1.6e12 }}
scaleup_bw_bytes_per_s = {{ min = 100e9, max = 1800e9 }}
scaleout_bw_bytes_per_s = {{ values = [25e9, 50e9, 100e9, 200e9] }}
"""


def _sweep(samples: int, chunk: int, devices: int | None, folder: str) -> dict:
    space = os.path.join(folder, f"space-{samples}-{devices}.toml")
    with open(space, "w") as fh:
        fh.write(SPACE.format(samples=samples, chunk=chunk))
    out = os.path.join(folder, f"sweep-{samples}-{devices}")
    env = dict(os.environ)
    if devices:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    cmd = [sys.executable, "-m", "dse.cli", "sweep", "--space", space, "--out", out, "--json"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"sweep on {devices} devices failed:\n{done.stderr}")
    return json.loads(done.stdout)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--designs", type=int, default=40_000, help="designs per device count")
    parser.add_argument("--chunk", type=int, default=8192, help="designs per chunk (8192)")
    parser.add_argument(
        "--million", type=int, default=1_000_000, help="designs of the long sweep (0: skip)"
    )
    args = parser.parse_args(argv)
    out: dict = dict(designs=args.designs, chunk=args.chunk, cpu_count=os.cpu_count())
    with tempfile.TemporaryDirectory() as folder:
        rates = {}
        for n in (1, 2, 4):
            print(f"{args.designs:,} designs on {n} device(s) ...", file=sys.stderr, flush=True)
            res = _sweep(args.designs, args.chunk, n, folder)
            rates[str(n)] = res["steady_evals_per_s"]
        out["sweep_evals_per_s"] = rates
        if args.million:
            print(
                f"{args.million:,} designs on every local device ...", file=sys.stderr, flush=True
            )
            res = _sweep(args.million, 65536, None, folder)
            out["million"] = dict(
                designs=res["total"],
                wall_s=res["wall_s"],
                evals_per_s=res["evals_per_s"],
                devices=res["devices"],
                chunks=res["chunks"],
            )
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for n, r in out["sweep_evals_per_s"].items():
            print(f"{n} device(s): {r:,.0f} designs/s")
        if "million" in out:
            m = out["million"]
            print(f"{m['designs']:,} designs: {m['wall_s']:.0f} s ({m['evals_per_s']:,.0f}/s)")
    return out


if __name__ == "__main__":
    main()
