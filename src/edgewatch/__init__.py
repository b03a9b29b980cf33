"""edgewatch: a vision-AI camera watcher for the edge."""

__version__ = "0.1.0"
