"""What a run produced: console text parsed into samples and measurements; pure, imports only profile and leaves."""
