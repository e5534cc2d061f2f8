"""uarcodec: the UAR-NVC neural video codec."""

__version__ = "0.1.0"
