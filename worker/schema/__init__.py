"""Torch-free schema shared by the API and the worker: run config, presets, events."""
