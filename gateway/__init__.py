"""Gateway: see README.md."""
