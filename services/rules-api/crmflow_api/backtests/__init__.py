"""Backtests (SPEC section 10): a rule's definition replayed over the practice's retained events.

``tally`` (pure) judges events with the evaluator's own code and counts; ``source`` reads the
outbox in keyset pages; ``store`` writes the result row (the only write); ``worker`` runs it all
in the background, with progress and cancellation.
"""
