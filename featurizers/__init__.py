"""Frozen-backbone embedding extraction into the on-disk embedding store.

torch, timm and transformers are imported lazily inside the modules that need
them; ``featurizers.store`` and ``featurizers.datasets`` need numpy only.
"""
