"""Timed runs at scale (issue 14, "Scale"): many waiting reminders in PostgreSQL, re-plans and
cancels at a steady rate through the runner's executor, and the scheduler's tick with and without
them. ``python -m bench.timed`` (bench/README.md)."""
