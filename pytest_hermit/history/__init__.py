"""Run history (records, series, change points, their reports); imports report, gate, results, not vm or pytest."""
