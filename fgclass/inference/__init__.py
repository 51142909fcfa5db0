"""Using a trained model: images from a folder or list, batched prediction, export with a parity check."""
