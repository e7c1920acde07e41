"""Training MI Net with Lightning: `minet-train vqvae`, `minet-train prior`, `minet-train bundle`.

The plain ``nn.Module``s live in :mod:`minet_desktop.model`; this package only wraps them for training, the
way lightning-hydra-template keeps ``models/components`` apart from its LightningModule:

- :mod:`.config`     recipes (TOML) -> :class:`~minet_desktop.model.config.BundleConfig` + :class:`TrainConfig`
- :mod:`.data`       crop loaders over the cache, per-bin statistics, codes precomputed with the frozen VQ-VAE
- :mod:`.modules`    :class:`VQVAEModule` and :class:`PriorModule` (LightningModules)
- :mod:`.callbacks`  stop on a non-finite loss without saving a checkpoint
- :mod:`.checkpoints` reading checkpoints without executing code, writing the model bundle
- :mod:`.run`        the two training stages as the CLI runs them
- :mod:`.regressor`  Visually Indicated Music's frame regressor: crops with stick figures drawn on the fly, its module, its run
- :mod:`.baselines`  the MI Net paper's RNN Seq2Seq and Graph-Transformer, Table 5's GRU seq2seq and its test NLL
"""
