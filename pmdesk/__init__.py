"""pmdesk: the console of the PM's assistant."""

__version__ = "0.1.0"
