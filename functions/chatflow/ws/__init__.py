"""The WebSocket side of ChatFlow: connection table, @connections client and fan-out.

Adapters only: the Lambda handlers parse events and call these; nothing here imports
FastAPI, so the frame path stays cheap to cold-start (docs/architecture.md, "Arrows").
"""
