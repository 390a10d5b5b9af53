# coding=utf-8
# Copyright 2026 The liqe authors.
"""The accelerator input pipeline of `LIQEScorer`: uint8 windows on the host, normalisation on the device.

A float32 window costs 4x the bytes of its uint8 pixels, and normalising 15 x 3 x 224 x 224 values per image on
the host is work the decoding threads would otherwise not do. On an accelerator the scorer therefore cuts uint8
windows (the processor's own resize and window choice), pads them into a pinned host buffer, copies it
asynchronously (`non_blocking=True`) and normalises on the device with the processor's arithmetic and order
(float32 x / 255, then (x - mean) / std), which gives bit-identical windows on the CPU (tested).

Not part of the Hub remote code.
"""

import os

import numpy as np
import torch


def uint8_windows(image_processor, source):
    """The test-time windows of one image as uint8 (patches, 3, S, S), cut exactly where and as the processor
    cuts them (`LIQEImageProcessor.preprocess`): the same pixel budget after the resize, and an upscaled
    extreme-aspect image resampled window by window instead of being built whole."""
    from .image_processing_liqe import MATERIALISED_UPSCALE_MAX_PIXELS, resampled_window

    name = str(source) if isinstance(source, (str, os.PathLike)) else None
    image = image_processor.prepare_image(source)
    width, height = size = image_processor.resized_size(*image.size)
    image_processor.check_resized_pixels(image.size, size, name)
    positions = image_processor.window_positions(height, width)
    patch = image_processor.patch_size
    if min(image.size) < patch and width * height > MATERIALISED_UPSCALE_MAX_PIXELS:
        pixels = np.asarray(image)
        crops = np.stack([resampled_window(pixels, size, top, left, patch) for top, left in positions])
    else:
        image = image_processor.resize(image)
        crops = np.stack([np.asarray(image.crop((left, top, left + patch, top + patch))) for top, left in positions])
    return torch.from_numpy(np.ascontiguousarray(crops.transpose(0, 3, 1, 2)))


class DeviceNormalizer:
    """uint8 windows on the host → normalised float32 windows on `device` (pinned, asynchronous copy)."""

    def __init__(self, image_processor, device):
        self.device = torch.device(device)
        self.mean = torch.tensor(image_processor.image_mean, dtype=torch.float32, device=self.device)[:, None, None]
        self.std = torch.tensor(image_processor.image_std, dtype=torch.float32, device=self.device)[:, None, None]
        self.pin = self.device.type == "cuda"

    def __call__(self, pixel_values):
        if self.pin:
            pixel_values = pixel_values.pin_memory()
        pixel_values = pixel_values.to(self.device, non_blocking=True)
        # The processor's arithmetic and order (image_processing_liqe.LIQEImageProcessor.cut_windows).
        return pixel_values.to(torch.float32).div_(255).sub_(self.mean).div_(self.std)


__all__ = ["uint8_windows", "DeviceNormalizer"]
