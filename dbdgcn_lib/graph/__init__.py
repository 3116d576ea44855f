"""Label graphs: co-occurrence statistics and the static prior the main branch starts from."""

from dbdgcn_lib.graph.cooccurrence import (
    ADJACENCY_CONVENTIONS,
    conditional_probability,
    cooccurrence,
    normalize_adjacency,
    static_adjacency,
    unseen_pairs,
)

__all__ = [
    "ADJACENCY_CONVENTIONS",
    "conditional_probability",
    "cooccurrence",
    "normalize_adjacency",
    "static_adjacency",
    "unseen_pairs",
]
