"""stancebench: stance and sentiment classification benchmark for Arabic news."""

__version__ = "0.1.0"
