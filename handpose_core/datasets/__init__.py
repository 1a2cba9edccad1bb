"""Datasets: the real NYU layout, the synthetic training store, and hand crops."""
