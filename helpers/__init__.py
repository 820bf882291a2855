"""The course's tested helpers: import from the modules, e.g. ``helpers.models``."""
