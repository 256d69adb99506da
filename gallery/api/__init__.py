"""The REST API under /api/v1/: catalog listings, search, catalog data and its edits.

Views here parse, authorize through registry.access.policy, call the same services and the
same search module as the pages, and shape JSON with explicit serializers. Errors are one
shape everywhere under /api/ (errors.py). Paths are a public contract.
"""
