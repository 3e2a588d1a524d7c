"""One module per pipeline step: plain functions that take their AWS clients as arguments."""
