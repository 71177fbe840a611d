"""The only module of the benchmarks that uses private names of ``nt_sklearn``.

perf times parts of a fit and of the SFit criterion that the estimator's public
interface does not report:

- :func:`sfit_seconds`: the time a ``NeuronTuneClassifier.fit`` spends in SFit. It
  swaps ``nt_sklearn._neurontune._ClassMedianScorer`` (the presorted scores,
  computed once for the reference and once per epoch) for a subclass that adds up
  its time, for the duration of the timed fits;
- :func:`class_median_scorer`: that scorer alone, with and without presorting;
- :func:`read_minibatches`: the mini-batch reads of a fit alone
  (``nt_sklearn._head.train_linear_head`` over one epoch).
"""

import time
from dataclasses import dataclass

from .timing import timed


@dataclass
class SfitSeconds:
    """The SFit work of one fit (means over the timed repeats)."""

    total: float  # seconds in SFit: presorting plus every call
    presort: float  # seconds presorting the identification columns, once per fit
    calls: int  # SFit evaluations (the reference's and one per epoch)
    per_call: float  # seconds per evaluation


class _SfitTimer:
    """Adds up the time of ``_ClassMedianScorer`` inside ``NeuronTuneClassifier.fit``."""

    def __enter__(self):
        import nt_sklearn._neurontune as module

        self.module, self.original = module, getattr(module, "_ClassMedianScorer", None)
        self.init_s = self.call_s = 0.0
        self.calls = 0
        if self.original is None:
            return self
        timer = self

        class Timed(self.original):
            def __init__(self, *args, **kwargs):
                t0 = time.perf_counter()
                super().__init__(*args, **kwargs)
                timer.init_s += time.perf_counter() - t0

            def __call__(self, *args, **kwargs):
                t0 = time.perf_counter()
                try:
                    return super().__call__(*args, **kwargs)
                finally:
                    timer.call_s += time.perf_counter() - t0
                    timer.calls += 1

        module._ClassMedianScorer = Timed
        return self

    def __exit__(self, *exc):
        if self.original is not None:
            self.module._ClassMedianScorer = self.original


def sfit_seconds(fit, repeats):
    """Time ``fit()`` (a NeuronTune fit) as :func:`~.timing.timed` does, and its SFit work.

    Returns ``(median wall s, median CPU s, last fitted model, SfitSeconds)``.
    """
    with _SfitTimer() as timer:
        wall, cpu, model = timed(fit, repeats)
    return wall, cpu, model, SfitSeconds(
        total=(timer.init_s + timer.call_s) / repeats, presort=timer.init_s / repeats,
        calls=timer.calls // repeats, per_call=timer.call_s / max(timer.calls, 1))


def class_median_scorer(X, y, n_classes, *, presort=False):
    """SFit's scorer on ``X`` alone: ``scorer(pred)`` gives the scores of one epoch."""
    from nt_sklearn._scores import _ClassMedianScorer

    if presort:
        return _ClassMedianScorer(X, y, n_classes, "abs", presort=True)
    return _ClassMedianScorer(X, y, n_classes, "abs")


def read_minibatches(X_tune, y_tune, n_classes, n_steps, seed):
    """The ``n_steps`` mini-batch steps of one epoch of a fit on ``X_tune`` (a zero head)."""
    import numpy as np

    from nt_sklearn._head import train_linear_head

    d = X_tune.shape[1]
    zeros = np.zeros((n_classes, d))
    for _ in train_linear_head(X_tune, y_tune, n_classes, coef=zeros, intercept=zeros[:, 0],
                               feature_scale=np.ones(d), batches_per_epoch=n_steps,
                               n_epochs=1, rng=np.random.default_rng(seed)):
        pass
