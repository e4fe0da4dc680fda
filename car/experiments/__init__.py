"""The experiments: everything that computes a table, a report, a design probe or a benchmark sweep.

The layer above the method (``car.cam`` … ``car.model``, ``car.evaluate``) and the toy world (``car.toy``: scenes,
splits, tiny CLIPs, training). Nothing below imports it (``tests/test_layers.py`` walks the imports).

- :mod:`car.experiments.tables`: the toy analogue of every table of the paper (``python -m car toy tables``).
- :mod:`car.experiments.report`: the toy world's report card (``python -m car toy report``).
- :mod:`car.experiments.designs`: the tiny-CLIP design probes (``python -m car toy designs``).
- :mod:`car.experiments.bench`: the timing sweeps (``python -m car bench``); :mod:`car.experiments.bench_rows`
  reads its JSON as the efficiency chapter's table rows.
- :mod:`car.experiments.successors`: CaR among its successors (``python -m car toy peers``, ``bench --peers``).
"""
