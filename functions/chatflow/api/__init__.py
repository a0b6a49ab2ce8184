"""The REST API: a FastAPI app under ``/api``, served on Lambda through Mangum."""
