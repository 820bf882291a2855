"""The course's tested helpers; import from the modules by name, e.g.
``from helpers.models import build_model``."""
