"""The Flask API and web form: a thin adapter over ``verifier.pipeline`` (the service issue)."""
