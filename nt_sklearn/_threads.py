"""How many threads the library's own numpy work may use."""


def blas_threads():
    """The threads BLAS may use now, as threadpoolctl reports them.

    The one-off sort of the SFit scorer uses as many, so that
    ``threadpoolctl.threadpool_limits`` and joblib's workers (which limit
    BLAS to their share of the cores) bound it too.
    """
    from threadpoolctl import threadpool_info

    counts = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    return max(counts, default=1)
