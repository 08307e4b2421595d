"""MLPerf Training workloads as data: shapes and samples-to-converge curves."""

from workloads._catalogue import (
    get_workload,
    gpt3_175b,
    list_workloads,
    llama2_70b_lora,
    llama31_8b,
    llama31_405b,
)
from workloads._transformer import TransformerWorkload, pchip_slopes, samples_to_converge

__all__ = [
    "TransformerWorkload",
    "get_workload",
    "gpt3_175b",
    "llama2_70b_lora",
    "llama31_405b",
    "llama31_8b",
    "list_workloads",
    "pchip_slopes",
    "samples_to_converge",
]
