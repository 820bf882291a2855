"""Tested helper code for the course notebooks: data, models, training, figures.

Import from the modules by name, e.g. ``from helpers.models import build_model``.
Importing the package itself loads nothing heavy (no TensorFlow).
"""
