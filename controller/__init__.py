"""Controller: see README.md."""
