"""Numbers against a baseline: statistics, baseline files, the gate; pure: imports only results and leaf modules."""
