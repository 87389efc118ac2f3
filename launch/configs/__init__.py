"""Experiment configs: `--config=launch/configs/<experiment>.py:<variant>`."""
