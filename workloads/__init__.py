"""MLPerf Training workloads as data: shapes and samples-to-converge curves."""

from workloads._catalogue import get_workload, gpt3_175b, list_workloads
from workloads._transformer import TransformerWorkload, pchip_slopes, samples_to_converge

__all__ = [
    "TransformerWorkload",
    "get_workload",
    "gpt3_175b",
    "list_workloads",
    "pchip_slopes",
    "samples_to_converge",
]
