"""Api: see README.md."""
