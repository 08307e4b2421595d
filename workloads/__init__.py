"""MLPerf Training workloads as data: shapes and samples-to-converge curves."""

from workloads._catalogue import (
    convergence_rounds,
    get_workload,
    list_workloads,
    workload_for_round,
    workload_from_mapping,
)
from workloads._ops import OP_KINDS, Op, OpWorkload
from workloads._trace import (
    count_params,
    load_user_workload,
    ops_from_flax,
    ops_from_function,
    traced_matmul_flops,
    workload_from_flax,
)
from workloads._transformer import TransformerWorkload, pchip_slopes, samples_to_converge

__all__ = [
    "OP_KINDS",
    "Op",
    "OpWorkload",
    "TransformerWorkload",
    "convergence_rounds",
    "count_params",
    "get_workload",
    "list_workloads",
    "load_user_workload",
    "ops_from_flax",
    "ops_from_function",
    "pchip_slopes",
    "samples_to_converge",
    "traced_matmul_flops",
    "workload_for_round",
    "workload_from_flax",
    "workload_from_mapping",
]
