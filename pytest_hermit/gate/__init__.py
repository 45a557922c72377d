"""Numbers against a baseline: statistics, baseline files, the gate; pure: imports only results, profile, leaves."""
