"""How the runner classifies failures (SPEC section 7)."""


class PermanentActionError(Exception):
    """The action can never succeed as given (validation, forbidden field, foreign patient...).

    Raised before the action wrote anything: the run fails at once, later actions are skipped.
    """
