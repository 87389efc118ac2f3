"""acharyya2021."""
