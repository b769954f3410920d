"""Pure business rules: no AWS, no I/O. Tested without moto."""
