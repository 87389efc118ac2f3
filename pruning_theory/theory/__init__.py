"""Closed forms and dynamics of the papers, kept apart from simulation."""
