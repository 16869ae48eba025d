"""Older import path for the built-in channel tools; kept so code written for it runs unchanged."""

from aethergraph.tools import ask_approval, ask_choice, ask_text, send_text, wait_text

__all__ = ["ask_approval", "ask_choice", "ask_text", "send_text", "wait_text"]
