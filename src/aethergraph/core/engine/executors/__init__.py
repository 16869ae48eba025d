"""Executors that run runs outside the calling process (``ray``: ``aethergraph[ray]``)."""
