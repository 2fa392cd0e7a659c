"""Hidden-test helpers: each compares a student function with the reference and says what differs."""
