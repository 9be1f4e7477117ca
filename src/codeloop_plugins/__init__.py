"""Strategies shipped beside codeloop and written the way a third party writes them.

Each module here imports nothing of codeloop but its public API (the names in
`codeloop.__all__`), and registers through the ``codeloop.strategies`` entry-point group
declared in pyproject.toml, as an installed plugin package would; `tests/test_plugins.py`
holds them to that.

- `ldb`: LDB, debugging with runtime traces block by block (Zhong et al., 2024);
- `agentcoder`: AgentCoder, programmer + test designer + executor (Huang et al., 2023);
- `pgs`: the Property-Generated Solver, properties and shortest counterexamples (He et
  al., 2025).
"""
