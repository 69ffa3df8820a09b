"""Generated media for tests, benchmarks and the demo (no network, deterministic)."""
