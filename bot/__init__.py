"""Rethink Check-ins: a check-in messaging service for a community pain service."""

__version__ = "0.1.0"
