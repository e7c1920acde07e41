"""torch nn.Modules and the model bundle: VQ-VAE, movement encoder, prior, content encoder, baselines."""
