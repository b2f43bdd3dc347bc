"""Persistent storage of analyses (reports) and blobs (uploads, artifacts).

Filled by the service issue. Tables declared here live on ``verifier.db.metadata``.
"""
