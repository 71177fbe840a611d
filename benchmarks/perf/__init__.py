"""Performance and scale: ``python -m benchmarks.perf [--quick]``.

Measures, side by side in one run, and prints every figure as it goes:

1. **Fit speed** on planted data shaped like CelebA (tuning 162,770 x 2048,
   identification 19,867 x 2048, 2 classes) and MultiNLI (206,175 x 768 and
   82,462 x 768, 3 classes): a default ``NeuronTuneClassifier`` fit (40 epochs x
   200 batches, SFit after every epoch) against the straightforward PyTorch
   implementation of the same recipe (:mod:`benchmarks.torch_reference`), and
   whether both select the same biased dimensions; SFit's share of the fit and
   its one-off cost; a fingerprint of what the fit selected (its SFit history,
   epoch and mask, bit for bit), so that two versions of the library can be
   shown to select exactly the same.
2. **Identification speed**: the scores of every dimension and class, vectorised
   against a per-dimension loop; the per-epoch SFit inside a fit.
3. **Memory**: a default fit whose tuning set is a read-only memory-mapped
   ``.npy`` of at least 8 GB of float32, in a child process whose anonymous
   memory (``RssAnon`` in ``/proc/self/status``) is sampled during the fit; and
   what the random row reads of the mini-batches cost when the file is not in
   the page cache.
4. **Featurizer throughput** on this machine: EfficientNet-Lite0 (224 px)
   images/s and all-MiniLM-L6-v2 sentences/s, each against a naive
   one-sample-at-a-time loop; on a CUDA machine, ResNet-50 (bf16,
   channels_last) images/s from files against the same model's forward on
   random tensors (the ceiling).
5. **Grid search**: ``GridSearchCV(scoring=SFitScorer())`` over 8
   configurations with ``n_jobs=1`` and ``n_jobs=2``, and under joblib's dask
   backend on a ``dask.distributed.LocalCluster``: speed-ups and identical
   results.

The machine may be shared: every timing is repeated and the median kept, the
load average is printed with the figures, and the comparisons are ratios
measured in the same run. BLAS and torch are limited to ``--threads`` threads
(2 by default) for both sides. Results go to ``benchmarks/results/perf.md``;
``--before OLD.md`` (a perf.md written earlier, for instance by the code before a
change) adds a table of its figures beside this run's.

The planted data: non-negative ReLU features ``max(0, -0.3 + 0.5 z + shifts)``
(70% zeros, like pooled ReLU features), a class signal spread over 300
dimensions (a shift on a block of dimensions per class), a spurious attribute
over 64 other dimensions that goes with the class in 93% of the tuning rows and
in 50% of the identification rows. The reference head is a logistic
regression fitted on 20,000 tuning rows; it errs on 14-22% of the
identification rows, mostly in the groups where the attribute disagrees with
the class.

Modules, one per job: :mod:`.data` (the planted data), :mod:`.fit_speed`,
:mod:`.identification`, :mod:`.memory`, :mod:`.throughput` (the featurizers),
:mod:`.grid`, :mod:`.markdown` (``perf.md``), :mod:`.timing` (medians, the machine),
:mod:`.cli`; :mod:`.fit_times` reads where a fit's time goes from the estimator's
public ``fit_times_`` (no private name of ``nt_sklearn`` is used or patched).
"""

from .cli import build_parser, main
from .data import SHAPES, Planted, make_planted
from .fit_speed import bench_fit, fit_ours
from .grid import GRID, bench_grid, grid_search
from .fit_times import SfitSeconds, sfit_seconds
from .identification import bench_identification
from .markdown import RESULTS, before_after, read_figures, write_markdown
from .memory import bench_memory, memory_child
from .throughput import bench_featurizers, bench_gpu_loader
from .timing import Report, timed

__all__ = [
    "SHAPES", "Planted", "make_planted", "Report", "timed", "fit_ours", "bench_fit",
    "sfit_seconds", "SfitSeconds", "bench_identification", "bench_memory", "memory_child",
    "bench_featurizers", "bench_gpu_loader", "GRID", "grid_search", "bench_grid", "RESULTS",
    "write_markdown", "read_figures", "before_after", "build_parser", "main",
]
