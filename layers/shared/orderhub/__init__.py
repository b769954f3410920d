"""orderhub: domain, store and adapters shared by every function."""
