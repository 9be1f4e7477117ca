"""Placeholder: being written (issue 17)."""


def make_agentcoder(**settings: object) -> object:
    raise NotImplementedError("agentcoder is being written")
