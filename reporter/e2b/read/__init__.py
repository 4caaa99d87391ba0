"""E2B(R3) message -> case model, one module per E2B section (reporter/e2b/to_case.py puts them together)."""
