"""The catalogue of built-in workloads."""

from __future__ import annotations

import csv
from importlib import resources

from workloads._transformer import TransformerWorkload

__all__ = ["get_workload", "list_workloads", "gpt3_175b"]


def _convergence(filename: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    text = resources.files("workloads").joinpath(f"data/{filename}").read_text()
    rows = list(csv.DictReader(text.splitlines()))
    batch = tuple(float(r["global_batch_size"]) for r in rows)
    samples = tuple(float(r["mean_sequences_to_converge"]) for r in rows)
    return batch, samples


def gpt3_175b() -> TransformerWorkload:
    """MLPerf Training GPT-3 175B (continued pre-training on C4 to log perplexity 2.69).

    Shapes: 96 layers, hidden 12288, 96 heads, sequence 2048, GPT-2 BPE vocabulary
    50257 (mlcommons/training large_language_model/megatron-lm/run_gpt3.sh and
    README.md). The benchmark starts from a checkpoint trained 4000 steps at batch
    1536; the convergence points count samples from there (RCP table, see
    ``workloads/data/gpt3_convergence.csv``). Evaluation runs every 24,576
    sequences over the 24,567-document C4 validation subset (README "Evaluation
    frequency/thoroughness"); packed into 2048-token sequences that is about
    5,660 sequences (E: 24,567 documents x ~472 tokens per C4 document / 2048;
    the token count per document is our estimate).
    """
    batch, samples = _convergence("gpt3_convergence.csv")
    return TransformerWorkload(
        name="gpt3-175b",
        n_layers=96,
        hidden_size=12288,
        n_heads=96,
        n_kv_heads=96,
        ffn_size=4 * 12288,
        seq_len=2048,
        vocab_size=50257,
        causal=True,
        convergence_batch=batch,
        convergence_samples=samples,
        eval_interval_samples=24576.0,
        eval_samples=5660.0,
        quality_target="log perplexity 2.69 on the C4 validation subset",
        sources=(
            "mlcommons/training large_language_model/megatron-lm (run_gpt3.sh, README.md); "
            "mlcommons/logging rcp_checker/training_4.1.0/rcps_gpt3.json"
        ),
    )


_CATALOGUE = {"gpt3-175b": gpt3_175b}


def list_workloads() -> list[str]:
    """Names of the built-in workloads."""
    return list(_CATALOGUE)


def get_workload(name: str) -> TransformerWorkload:
    """A built-in workload by name.

    Raises:
        ValueError: unknown name, listing the known ones.
    """
    if name not in _CATALOGUE:
        raise ValueError(f"unknown workload '{name}': known workloads are {list(_CATALOGUE)}")
    return _CATALOGUE[name]()
