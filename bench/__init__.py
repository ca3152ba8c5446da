"""Benchmarks of the bot against the framework's own ceiling (``make bench``).

``python -m bench.run`` prints one table of ratios measured side by side in one run
and writes ``bench/results.json``; ``python -m bench.seed`` fills a database with a
large data set. See ``docs/performance.md``.
"""
