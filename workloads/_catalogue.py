"""The catalogue of built-in workloads."""

from __future__ import annotations

import csv
from importlib import resources

from workloads._transformer import TransformerWorkload

__all__ = [
    "get_workload",
    "list_workloads",
    "gpt3_175b",
    "llama31_405b",
    "llama31_8b",
    "llama2_70b_lora",
]


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
    sequences (README "Evaluation frequency"; the logs evaluate every
    ceil(24576 / batch) steps) over the 24,567-document C4 validation subset,
    11,590,004 tokens = 5,659.2 sequences of 2048 (``eval_samples`` in
    mlcommons/training_results_v4.0 NVIDIA/results/eos_n64_ngc24.04_nemo/gpt3/
    result_0.txt; see ``workloads/data/llm_facts.md``).
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
        eval_samples=11_590_004 / 2048,
        typical_global_batch=2048,
        quality_target="log perplexity 2.69 on the C4 validation subset",
        sources=(
            "mlcommons/training large_language_model/megatron-lm (run_gpt3.sh, README.md); "
            "mlcommons/logging rcp_checker/training_4.1.0/rcps_gpt3.json"
        ),
    )


def llama31_405b() -> TransformerWorkload:
    """MLPerf Training Llama 3.1 405B (v5.0+): continued pre-training on C4 to log perplexity 5.6.

    126 layers, hidden 16,384, FFN 53,248 (SwiGLU), 128 heads, 8 KV heads
    (grouped-query attention), sequence 8192, Mixtral 8x22B tokenizer
    (vocabulary 32,000), untied embeddings, rotary positions; starts from Meta's
    checkpoint. Evaluation over 5,760 sequences every 18,432 sequences after
    skipping the first floor(0.0026 x batch + 12) evaluations (the v5.1 rule;
    v5.0 evaluated every 46,080). Sources: ``workloads/data/llm_facts.md`` and
    ``workloads/data/llama31_405b_convergence.csv``.
    """
    batch, samples = _convergence("llama31_405b_convergence.csv")
    return TransformerWorkload(
        name="llama31-405b",
        n_layers=126,
        hidden_size=16384,
        n_heads=128,
        n_kv_heads=8,
        ffn_size=53248,
        seq_len=8192,
        vocab_size=32000,
        causal=True,
        convergence_batch=batch,
        convergence_samples=samples,
        eval_interval_samples=18432.0,
        eval_samples=5760.0,
        quality_target="log perplexity 5.6 on the C4 validation subset",
        sources=(
            "mlcommons/training large_language_model_pretraining/nemo/README.md; "
            "mlcommons/logging rcp_checker/training_5.1.0/rcps_llama31_405b.json; workloads/data/llm_facts.md"
        ),
        gated_mlp=True,
        tied_embeddings=False,
        learned_positions=False,
        eval_skip_intervals=12.0,
        eval_skip_intervals_per_batch=0.0026,
        typical_global_batch=1152,
    )


def llama31_8b() -> TransformerWorkload:
    """MLPerf Training Llama 3.1 8B (v5.1+): pre-training from scratch on C4 to log perplexity 3.3.

    32 layers, hidden 4096, FFN 14,336 (SwiGLU), 32 heads, 8 KV heads,
    sequence 8192, vocabulary 128,256 (the Llama 3.1 tokenizer; the README says
    128,000), untied embeddings. Evaluation over 1,024 sequences every 12,288.
    Sources: ``workloads/data/llm_facts.md``, ``llama31_8b_convergence.csv``.
    """
    batch, samples = _convergence("llama31_8b_convergence.csv")
    return TransformerWorkload(
        name="llama31-8b",
        n_layers=32,
        hidden_size=4096,
        n_heads=32,
        n_kv_heads=8,
        ffn_size=14336,
        seq_len=8192,
        vocab_size=128256,
        causal=True,
        convergence_batch=batch,
        convergence_samples=samples,
        eval_interval_samples=12288.0,
        eval_samples=1024.0,
        typical_global_batch=32,
        quality_target="log perplexity 3.3 on the C4 validation subset",
        sources=(
            "mlcommons/training small_llm_pretraining/nemo/README.md; "
            "mlcommons/logging rcp_checker/training_5.1.0/rcps_llama31_8b.json; workloads/data/llm_facts.md"
        ),
        gated_mlp=True,
        tied_embeddings=False,
        learned_positions=False,
    )


def llama2_70b_lora() -> TransformerWorkload:
    """MLPerf Training Llama 2 70B LoRA (v4.0+): fine-tuning on SCROLLS GovReport to eval loss 0.925.

    Base: 80 layers, hidden 8192, FFN 28,672 (SwiGLU), 64 heads, 8 KV heads,
    vocabulary 32,000, untied; frozen. LoRA rank 16 (alpha 32) on the QKV and
    output projections; sequence 8192. Evaluation over 173 samples every 384
    after skipping the first floor(0.125 x batch + 2). Frozen base weights need
    no weight gradients, optimizer state or gradient reduction, but the
    backward pass still computes input gradients through every layer.
    Sources: ``workloads/data/llm_facts.md``, ``llama2_70b_lora_convergence.csv``.
    """
    batch, samples = _convergence("llama2_70b_lora_convergence.csv")
    return TransformerWorkload(
        name="llama2-70b-lora",
        n_layers=80,
        hidden_size=8192,
        n_heads=64,
        n_kv_heads=8,
        ffn_size=28672,
        seq_len=8192,
        vocab_size=32000,
        causal=True,
        convergence_batch=batch,
        convergence_samples=samples,
        eval_interval_samples=384.0,
        eval_samples=173.0,
        quality_target="eval loss 0.925 on SCROLLS GovReport",
        sources=(
            "mlcommons/training llama2_70b_lora/README.md and config.json; "
            "mlcommons/logging rcp_checker/training_5.1.0/rcps_llama2_70b_lora.json; workloads/data/llm_facts.md"
        ),
        gated_mlp=True,
        tied_embeddings=False,
        learned_positions=False,
        lora_rank=16,
        eval_skip_intervals=2.0,
        eval_skip_intervals_per_batch=0.125,
        typical_global_batch=8,
    )


_CATALOGUE = {
    "gpt3-175b": gpt3_175b,
    "llama31-405b": llama31_405b,
    "llama31-8b": llama31_8b,
    "llama2-70b-lora": llama2_70b_lora,
}


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
