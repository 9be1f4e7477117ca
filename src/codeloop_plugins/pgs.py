"""Placeholder: being written (issue 17)."""


def make_pgs(**settings: object) -> object:
    raise NotImplementedError("pgs is being written")
