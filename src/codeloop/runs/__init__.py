"""Run orchestration: solve a dataset with a strategy, score on hidden tests, store events."""
