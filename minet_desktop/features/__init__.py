"""Audio representations (torch): seed 000's log-spectrogram and seed 003's log-mel, with their inverses."""
