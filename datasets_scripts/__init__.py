"""Converters from the official releases of image-quality corpora to Hugging Face Datasets."""
