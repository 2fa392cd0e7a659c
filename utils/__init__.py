"""Helpers that the lessons use and students may read: datasets, models, visualisation."""
