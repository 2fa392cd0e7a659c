"""Reference implementations, exported from the lesson sources in this folder (see README.md)."""
