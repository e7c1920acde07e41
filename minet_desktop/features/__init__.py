"""Audio representations (torch): the MI Net paper's log-spectrogram and Visually Indicated Music's log-mel, with their inverses."""
