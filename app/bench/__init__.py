"""The studio's benchmarks, run as ``handpose-studio bench gui [...]`` (:mod:`.gui`; the
others are its ``--painting``, ``--table-rows`` and ``--during-training`` modes)."""
