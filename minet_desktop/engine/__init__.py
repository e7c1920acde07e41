"""Inference without Qt: a session that loads a model once, generation with progress and cancel, live streaming."""
