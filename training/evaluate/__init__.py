"""Evaluation of the models against the papers' metrics (issue #7).

* :mod:`training.evaluate.metrics` — NDB, 1-NN accuracy and t-SNE of embeddings, pitch accuracy, onset F1,
  log-mel MSE, and the report's figures and tables: pure functions over arrays and waveforms.
* :mod:`training.evaluate.classifier` — an instrument classifier trained on the ground-truth renders only, to ask
  whether generated audio sounds like the instrument being played.
* :mod:`training.evaluate.run` and :mod:`training.evaluate.report` — ``minet-train evaluate``: every model on
  a cache's test split, and the Markdown report.

Nothing is imported here, so ``import training.evaluate.metrics`` does not pull in the engine.
"""
