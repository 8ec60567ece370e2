"""Offline mixture search (``curricle mix-search``): proxy runs, a mixture-to-loss regression,
a proposal (:mod:`~curricle.search.mixing_laws`, :mod:`~curricle.search.command`)."""
