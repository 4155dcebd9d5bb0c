"""Organisations, users, sign-in and API tokens."""
