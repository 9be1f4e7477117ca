"""Scoring: hidden-test verdicts and pass@k.  Only run orchestration imports this package."""
