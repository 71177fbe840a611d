"""Frozen-backbone embedding extraction into the on-disk embedding store.

torch, timm and transformers are imported lazily inside the modules that need
them; ``featurizers.store`` and ``featurizers.datasets`` need numpy only, and
``import featurizers`` imports nothing heavy: :func:`build_encoder` and
:class:`Encoder` (from :mod:`featurizers.encoder`) load on first use.
"""

__all__ = ["build_encoder", "Encoder"]


def __getattr__(name):
    if name in __all__:
        from . import encoder

        return getattr(encoder, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
