"""SFitScorer: the paper's label-free model-selection score as a scorer."""

from numpy.typing import ArrayLike

from ._medians import ACTIVATIONS
from ._scores import sfit, spuriousness_scores

__all__ = ["SFitScorer"]


class SFitScorer:
    """SFit of a fitted classifier on held-out data, for model selection.

    ``scorer(estimator, X, y)`` predicts ``X`` with ``estimator`` and returns
    ``sum |s[k, c]|`` of the spuriousness scores of those predictions: greater
    is better. It needs class labels only, never group labels, so it works as
    ``GridSearchCV(scoring=SFitScorer())``, inside a dict of scorers with
    ``refit="sfit"``, and under ``n_jobs > 1`` (it pickles).

    The scores are computed on ``X`` as the scorer receives it, i.e. on the
    embeddings the estimator consumes.

    Parameters
    ----------
    activation : {"abs", "relu", "identity"}, default="abs"
        As in :func:`spuriousness_scores`.

    See Also
    --------
    NeuronTuneClassifier : Uses the same score to select its epoch.

    Examples
    --------
    >>> import numpy as np
    >>> from nt_sklearn import LinearHead, SFitScorer
    >>> head = LinearHead(coef=np.eye(2), intercept=np.zeros(2), classes=[0, 1])
    >>> X = np.array([[2., 0.], [3., 0.], [1., 5.], [0., 1.], [0., 2.], [4., 6.], [5., 1.]])
    >>> y = np.array([0, 0, 0, 1, 1, 1, 1])
    >>> SFitScorer()(head, X, y)  # |-1.5| + |5| for class 0, |5| + |-1| for class 1
    12.5
    """

    def __init__(self, activation: str = "abs") -> None:
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        self.activation = activation

    def __call__(self, estimator: object, X: ArrayLike, y: ArrayLike | None = None) -> float:
        """Return the SFit of ``estimator``'s predictions on ``X``.

        Parameters
        ----------
        estimator : fitted classifier
            The model to score; ``classes_`` fixes the columns of the scores
            when it has one.
        X : array-like of shape (n_samples, n_features)
            Held-out embeddings, as the estimator consumes them.
        y : array-like of shape (n_samples,)
            Their class labels (required; the default None only follows the
            scorer signature and raises).

        Returns
        -------
        float
            ``sfit(spuriousness_scores(X, y, estimator.predict(X)))``.
        """
        if y is None:
            raise ValueError("SFitScorer needs the class labels y of X.")
        classes = getattr(estimator, "classes_", None)
        scores = spuriousness_scores(
            X, y, estimator.predict(X), activation=self.activation, classes=classes
        )
        return sfit(scores)

    def __repr__(self) -> str:
        return f"SFitScorer(activation={self.activation!r})"
