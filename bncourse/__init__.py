"""Course tooling: pins, exercise generation and grading (instructor side)."""
