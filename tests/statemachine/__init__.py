"""State machine tests: the real ASL executed by moto."""
