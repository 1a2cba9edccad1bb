"""workers of the studio (see app/__init__.py)."""
