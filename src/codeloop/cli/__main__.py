"""`python -m codeloop.cli`, as the `codeloop` command."""

from codeloop.cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
