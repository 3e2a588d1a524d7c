"""The offline stack: local AWS stand-ins that run the real template and handlers."""
