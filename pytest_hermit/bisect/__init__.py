"""Which commit made it slower: the search and the reading of verdicts; pure: imports only results and leaves."""
