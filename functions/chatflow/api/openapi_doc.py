"""What FastAPI's generated OpenAPI document cannot say by itself.

1. Problem documents: FastAPI files an error ``model`` under ``application/json``, but
   the API answers errors as ``application/problem+json`` (RFC 9457). The schema is moved
   to the media type actually sent, so clients and contract tests check error bodies too.
2. Links: which response value feeds which later request (a created room's ``id`` is the
   ``room_id`` of every room operation, a stored message's ``seq`` addresses it). They
   document the API's workflows and let contract tests chain calls.
"""

from __future__ import annotations

from typing import Any

PROBLEM_MEDIA_TYPE = "application/problem+json"
_PROBLEM_REF = "#/components/schemas/ProblemOut"

_ROOM_FROM_BODY = {"room_id": "$response.body#/id"}
_ROOM_FROM_PATH = {"room_id": "$request.path.room_id"}
_ROOM_OPERATIONS = [
    ("GetRoom", "get", "/api/rooms/{room_id}"),
    ("UpdateRoom", "patch", "/api/rooms/{room_id}"),
    ("DeleteRoom", "delete", "/api/rooms/{room_id}"),
    ("JoinRoom", "post", "/api/rooms/{room_id}/join"),
    ("LeaveRoom", "post", "/api/rooms/{room_id}/leave"),
    ("ListMembers", "get", "/api/rooms/{room_id}/members"),
    ("AddMember", "post", "/api/rooms/{room_id}/members"),
    ("RoomPresence", "get", "/api/rooms/{room_id}/presence"),
    ("History", "get", "/api/rooms/{room_id}/messages"),
    ("PostMessage", "post", "/api/rooms/{room_id}/messages"),
    ("MarkRead", "put", "/api/rooms/{room_id}/read"),
]
_MESSAGE_PARAMS = {"room_id": "$request.path.room_id", "seq": "$response.body#/seq"}
_MEMBER_PARAMS = {"room_id": "$request.path.room_id", "user_id": "$response.body#/user/id"}

# (method, path, status) -> [(link name, target method, target path, parameters)]
LINKS: dict[tuple[str, str, str], list[tuple[str, str, str, dict[str, str]]]] = {
    ("post", "/api/rooms", "201"): [(n, m, p, _ROOM_FROM_BODY) for n, m, p in _ROOM_OPERATIONS],
    ("post", "/api/dms", "200"): [(n, m, p, _ROOM_FROM_BODY) for n, m, p in _ROOM_OPERATIONS],
    ("post", "/api/rooms/{room_id}/join", "200"): [
        (n, m, p, _ROOM_FROM_PATH) for n, m, p in _ROOM_OPERATIONS
    ],
    ("post", "/api/rooms/{room_id}/messages", "201"): [
        ("EditMessage", "patch", "/api/rooms/{room_id}/messages/{seq}", _MESSAGE_PARAMS),
        ("DeleteMessage", "delete", "/api/rooms/{room_id}/messages/{seq}", _MESSAGE_PARAMS),
    ],
    ("post", "/api/rooms/{room_id}/members", "201"): [
        ("ChangeRole", "patch", "/api/rooms/{room_id}/members/{user_id}", _MEMBER_PARAMS),
        ("RemoveMember", "delete", "/api/rooms/{room_id}/members/{user_id}", _MEMBER_PARAMS),
    ],
}


def refine(document: dict[str, Any]) -> dict[str, Any]:
    """Fix the error media types and add the links, in place; returns ``document``."""
    paths: dict[str, dict[str, Any]] = document.get("paths", {})
    for operations in paths.values():
        for operation in operations.values():
            for response in operation.get("responses", {}).values():
                _problem_media_type(response)
    for (method, path, status), targets in LINKS.items():
        response = paths[path][method]["responses"][status]
        links = response.setdefault("links", {})
        for name, target_method, target_path, parameters in targets:
            if target_path == path and target_method == method:
                continue
            links[name] = {
                "operationId": paths[target_path][target_method]["operationId"],
                "parameters": dict(parameters),
            }
    return document


def _problem_media_type(response: dict[str, Any]) -> None:
    content = response.get("content")
    if not content:
        return
    declared = content.get("application/json", {}).get("schema", {})
    if declared.get("$ref") != _PROBLEM_REF:
        return
    del content["application/json"]
    content[PROBLEM_MEDIA_TYPE] = {"schema": {"$ref": _PROBLEM_REF}}
