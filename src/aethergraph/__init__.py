"""AetherGraph: a Python-first runtime for agentic and scientific workflows."""
