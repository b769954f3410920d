"""The local API Gateway (HTTP API) in front of the template's functions."""
