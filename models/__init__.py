"""Torch code: TransformerNet, the VGG-16 feature extractor, losses, training and Gatys."""
