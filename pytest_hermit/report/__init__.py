"""Results for people and tools: terminal tables, Markdown/JSON reports, plots; pure: imports results, gate, profile."""
