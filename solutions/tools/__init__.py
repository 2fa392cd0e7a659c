"""Instructor tools built on the reference code: explain (a figure per image), train_checkpoints."""
