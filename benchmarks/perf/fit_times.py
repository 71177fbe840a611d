"""Where a fit's time goes, read from the estimator's public ``fit_times_``.

``NeuronTuneClassifier.fit`` records the wall-clock seconds of its parts
(``fit_times_``: reference, SFit setup, identification, tuning, per-epoch SFit).
perf reads them instead of timing the library's internals from outside.
"""

import statistics
from dataclasses import dataclass

from .timing import timed


@dataclass
class SfitSeconds:
    """The SFit work of one fit (medians over the timed repeats)."""

    total: float  # seconds in SFit: the setup plus every per-epoch evaluation
    setup: float  # seconds building the scorer (sorting every class's features), once per fit
    identify: float  # seconds of the first scores (the reference's) and the mask, once per fit
    calls: int  # per-epoch evaluations (one per epoch)
    per_call: float  # seconds per evaluation


def sfit_seconds(fit, repeats):
    """Time ``fit()`` (a NeuronTune-family fit) as :func:`~.timing.timed` does, and its SFit work.

    Returns ``(median wall s, median CPU s, last fitted model, SfitSeconds)``.
    """
    times = []

    def run():
        model = fit()
        times.append(model.fit_times_)
        return model

    wall, cpu, model = timed(run, repeats)
    setup = statistics.median(t["sfit_setup"] for t in times)
    identify = statistics.median(t["identify"] for t in times)
    epochs = statistics.median(t["sfit"] for t in times)
    return wall, cpu, model, SfitSeconds(total=setup + epochs, setup=setup, identify=identify,
                                         calls=model.n_iter_,
                                         per_call=epochs / max(model.n_iter_, 1))
