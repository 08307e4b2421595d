"""The optimizer side. Today: Pareto filtering used by the demo study.

Gradient-based design search (Optax over relaxed designs, projection to
buildable designs, sensitivity reports) builds on ``dse`` in a later issue.
"""

from optimizers._pareto import pareto_front

__all__ = ["pareto_front"]
