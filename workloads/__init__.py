"""MLPerf Training workloads as data: shapes and samples-to-converge curves."""

from workloads._catalogue import get_workload, list_workloads, workload_from_mapping
from workloads._transformer import TransformerWorkload, pchip_slopes, samples_to_converge

__all__ = [
    "TransformerWorkload",
    "get_workload",
    "list_workloads",
    "pchip_slopes",
    "samples_to_converge",
    "workload_from_mapping",
]
