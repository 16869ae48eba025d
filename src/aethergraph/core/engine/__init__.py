"""The engine: decorators, NodeContext, the run lifecycle, the scheduler, runs from outside."""
