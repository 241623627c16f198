"""The registry of question families: one module per family, imported when first used."""

from __future__ import annotations

import importlib

from qgen.errors import QgenError

__all__ = ["FAMILY_IDS", "all_families", "get_family"]

# family id -> module under qgen.families (each defines FAMILY)
_MODULES = {
    "backprop-step": "backprop_step",
    "conv-pool-shape": "conv_pool_shape",
    "receptive-field": "receptive_field",
    "conv-cost": "conv_cost",
    "transposed-dilated": "transposed_dilated",
    "activation-loss-derivative": "activation_loss_derivative",
}
FAMILY_IDS = tuple(_MODULES)


def get_family(family_id: str):
    """The Family with this id; QgenError naming the known ids otherwise."""
    if isinstance(family_id, str) and family_id in _MODULES:
        return importlib.import_module(f"qgen.families.{_MODULES[family_id]}").FAMILY
    raise QgenError(f"family={family_id!r} must be one of {', '.join(FAMILY_IDS)}")


def all_families() -> list:
    return [get_family(family_id) for family_id in FAMILY_IDS]
