"""netready: tells whether a site's network is ready for cloud telephony, and proves it."""

__version__ = "0.1.0"
