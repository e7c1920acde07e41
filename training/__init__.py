"""Training: dataset readers, the preprocessing cache, training entry points (`minet-train`)."""
