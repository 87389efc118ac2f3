"""One module per paper: config validation, the sweep program, claims and figures."""
