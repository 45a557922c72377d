"""History of runs: records, series in commit order, change points, their reports; imports report, gate, results, never vm or pytest."""
