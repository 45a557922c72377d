"""What a run produced: console text parsed into samples and measurements; pure, imports only pytest_hermit.errors."""
