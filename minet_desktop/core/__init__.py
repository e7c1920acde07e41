"""Pure Python + numpy: configs, errors, skeleton layout and geometry. No torch, no Qt."""
