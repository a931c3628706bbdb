"""End-to-end benchmark: outbox commit -> effect committed, on the real local stack.

``python -m bench.e2e --help``; method and how to read the results: bench/README.md.
"""
