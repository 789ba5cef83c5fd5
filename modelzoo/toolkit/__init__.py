"""Helpers for plugins and the core alike: image data (imagedata), export checks (export) and
run-time choices (runtime: device, writable folders, progress lines)."""
