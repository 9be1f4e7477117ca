"""Placeholder: being written (issue 17)."""


def make_ldb(**settings: object) -> object:
    raise NotImplementedError("ldb is being written")
