"""Case (ICSR Bundle) -> E2B(R3) XML, one writer module per E2B section (reporter/e2b/export.py puts them
together)."""
