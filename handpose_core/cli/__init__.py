"""The ``handpose-studio`` command line (no Qt unless the studio is launched)."""
