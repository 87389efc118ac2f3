"""bartoldson2020."""
