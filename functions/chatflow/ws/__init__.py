"""The WebSocket side of ChatFlow.

Today one package holds five concepts: the STOMP session (``session``, ``identity``,
``guard``, ``destinations``), the DynamoDB connection table (``connections``,
``table_errors``), fan-out inline and through SQS (``fanout``, ``fanout_jobs``,
``publisher``), the hand-written AWS transport (``lean_gateway``, ``lean_bulk``,
``lean_dynamodb``, and ``gateway`` for botocore) and the wiring (``runtime``, ``deps``).
Nothing here imports FastAPI, so the frame path stays cheap to cold-start
(docs/architecture.md, "Arrows").
"""
