"""NeuronTune written the straightforward PyTorch way: the reference of ``benchmarks.perf``.

The same recipe as :class:`nt_sklearn.NeuronTuneClassifier` with its defaults,
in the style of the training frameworks of the spurious-correlation literature
(the authors' own code could not be obtained):

- the cached embeddings are tensors served by a ``torch.utils.data.DataLoader``;
- class-balanced batches come from a ``WeightedRandomSampler`` (weight ``1 /
  class count`` per row, drawn with replacement), ``batches_per_epoch * batch_size``
  rows an epoch;
- the head is an ``nn.Linear`` started from the reference head, its input
  multiplied by the 0/1 mask of the biased dimensions, trained with
  ``torch.optim.SGD(momentum=0.9, weight_decay=1e-4)`` on the cross-entropy;
- after every epoch the head predicts the identification set (through its own
  DataLoader) and SFit is computed with ``torch.median``; the head with the
  highest SFit is kept.

Two differences from ``nt_sklearn`` are inherent in this style and do not
matter for the comparison: the sampler balances classes in expectation
rather than drawing exactly ``batch_size // n_classes`` rows of each class, and
``torch.median`` returns the lower of the two middle values of an even count
(numpy averages them), so scores can differ by the gap between two
neighbouring activations. ``benchmarks.perf`` reports whether the selected
biased dimensions are the same.

torch is imported here; ``nt_sklearn`` never imports this module.
"""

import copy

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset, WeightedRandomSampler

__all__ = ["TorchNeuronTune", "torch_spuriousness_scores"]


def torch_spuriousness_scores(A, y, pred, n_classes):
    """``s[k, c]`` = median of ``A[:, k]`` over misclassified class-c rows minus over correct ones.

    ``A`` holds the activations ``|x|``. A class without misclassified (or correct) rows scores 0.
    """
    scores = torch.zeros(A.shape[1], n_classes, dtype=torch.float64)
    for c in range(n_classes):
        in_class = y == c
        A_c, wrong = A[in_class], pred[in_class] != c
        if wrong.all() or not wrong.any():
            continue
        med_wrong = torch.median(A_c[wrong], dim=0).values
        med_right = torch.median(A_c[~wrong], dim=0).values
        scores[:, c] = (med_wrong - med_right).double()
    return scores


class TorchNeuronTune:
    """NeuronTune with a torch DataLoader, ``nn.Linear`` and ``torch.optim.SGD``.

    Parameters
    ----------
    coef, intercept : ndarray of shape (n_classes, n_features), (n_classes,)
        The reference head (the backbone's last layer); the tuned head starts from it.
    threshold : float, default=0.0
    learning_rate, momentum, weight_decay : float
    batch_size, batches_per_epoch, n_epochs : int
    eval_batch_size : int, default=1024
    seed : int, default=0

    Attributes (after ``fit``)
    --------------------------
    scores_ : ndarray of shape (n_features, n_classes)
        Spuriousness scores of the reference head on the identification set.
    biased_features_ : ndarray of bool
    sfit_history_ : ndarray
    best_epoch_ : int
    model_ : nn.Linear
        The selected head (mask not folded in; predict with :meth:`predict`).
    """

    def __init__(self, coef, intercept, *, threshold=0.0, learning_rate=1e-3, momentum=0.9,
                 weight_decay=1e-4, batch_size=128, batches_per_epoch=200, n_epochs=40,
                 eval_batch_size=1024, seed=0):
        self.coef, self.intercept = coef, intercept
        self.threshold = threshold
        self.learning_rate, self.momentum, self.weight_decay = learning_rate, momentum, weight_decay
        self.batch_size, self.batches_per_epoch = batch_size, batches_per_epoch
        self.n_epochs = n_epochs
        self.eval_batch_size, self.seed = eval_batch_size, seed

    def _predict_loader(self, model, loader):
        model.eval()
        with torch.no_grad():
            return torch.cat([model(xb * self.mask_).argmax(dim=1) for (xb,) in loader])

    def fit(self, X_id, y_id, X_tune, y_tune):
        """``X_id``/``y_id`` identify and select; ``X_tune``/``y_tune`` tune. Labels 0..C-1."""
        g = torch.Generator().manual_seed(self.seed)
        n_classes, n_features = np.shape(self.coef)
        model = nn.Linear(n_features, n_classes)
        with torch.no_grad():
            model.weight.copy_(torch.as_tensor(np.asarray(self.coef), dtype=torch.float32))
            model.bias.copy_(torch.as_tensor(np.asarray(self.intercept), dtype=torch.float32))

        X_id_t = torch.from_numpy(np.asarray(X_id, dtype=np.float32))
        y_id_t = torch.from_numpy(np.asarray(y_id, dtype=np.int64))
        id_loader = DataLoader(TensorDataset(X_id_t), batch_size=self.eval_batch_size,
                               shuffle=False)
        A_id = X_id_t.abs()

        # identification with the reference head
        self.mask_ = torch.ones(n_features)
        ref_pred = self._predict_loader(model, id_loader)
        scores = torch_spuriousness_scores(A_id, y_id_t, ref_pred, n_classes)
        biased = (scores > self.threshold).any(dim=1)
        self.scores_, self.biased_features_ = scores.numpy(), biased.numpy()
        self.mask_ = (~biased).float()

        # tuning on class-balanced batches
        y_tune_t = torch.from_numpy(np.asarray(y_tune, dtype=np.int64))
        tune = TensorDataset(torch.from_numpy(np.asarray(X_tune, dtype=np.float32)), y_tune_t)
        counts = torch.bincount(y_tune_t, minlength=n_classes).double()
        sampler = WeightedRandomSampler(1.0 / counts[y_tune_t],
                                        self.batches_per_epoch * self.batch_size,
                                        replacement=True, generator=g)
        loader = DataLoader(tune, batch_size=self.batch_size, sampler=sampler)
        optimizer = torch.optim.SGD(model.parameters(), lr=self.learning_rate,
                                    momentum=self.momentum, weight_decay=self.weight_decay)
        history, best = [], None
        for _ in range(self.n_epochs):
            model.train()
            for xb, yb in loader:
                loss = F.cross_entropy(model(xb * self.mask_), yb)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            pred = self._predict_loader(model, id_loader)
            value = torch_spuriousness_scores(A_id, y_id_t, pred, n_classes).abs().sum().item()
            history.append(value)
            if best is None or value > best[0]:
                best = (value, len(history) - 1, copy.deepcopy(model.state_dict()))
        self.sfit_history_ = np.asarray(history)
        _, self.best_epoch_, state = best
        model.load_state_dict(state)
        self.model_ = model
        return self

    def predict(self, X):
        """Class indices predicted by the selected head."""
        loader = DataLoader(TensorDataset(torch.from_numpy(np.asarray(X, dtype=np.float32))),
                            batch_size=self.eval_batch_size)
        return self._predict_loader(self.model_, loader).numpy()
