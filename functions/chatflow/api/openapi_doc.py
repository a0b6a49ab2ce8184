"""What FastAPI's generated OpenAPI document cannot say by itself.

1. Problem documents: FastAPI files an error ``model`` under ``application/json``, but
   the API answers errors as ``application/problem+json`` (RFC 9457). The schema is moved
   to the media type actually sent, so clients and contract tests check error bodies too.
2. Links: which response value feeds which later request (a created room's ``id`` is the
   ``roomId`` of every room operation, a stored message's ``seq`` addresses it). They
   document the API's workflows and let contract tests chain calls.
"""

from __future__ import annotations

from typing import Any

PROBLEM_MEDIA_TYPE = "application/problem+json"
_PROBLEM_REF = "#/components/schemas/ProblemOut"

_ROOM_FROM_BODY = {"roomId": "$response.body#/id"}
_ROOM_FROM_PATH = {"roomId": "$request.path.roomId"}
_ROOM_OPERATIONS = [
    ("GetRoom", "get", "/api/rooms/{roomId}"),
    ("UpdateRoom", "patch", "/api/rooms/{roomId}"),
    ("DeleteRoom", "delete", "/api/rooms/{roomId}"),
    ("JoinRoom", "post", "/api/rooms/{roomId}/join"),
    ("LeaveRoom", "post", "/api/rooms/{roomId}/leave"),
    ("ListMembers", "get", "/api/rooms/{roomId}/members"),
    ("AddMember", "post", "/api/rooms/{roomId}/members"),
    ("RoomPresence", "get", "/api/rooms/{roomId}/presence"),
    ("History", "get", "/api/rooms/{roomId}/messages"),
    ("PostMessage", "post", "/api/rooms/{roomId}/messages"),
    ("MarkRead", "put", "/api/rooms/{roomId}/read"),
]
_MESSAGE_PARAMS = {"roomId": "$request.path.roomId", "seq": "$response.body#/seq"}
_MEMBER_PARAMS = {"roomId": "$request.path.roomId", "userId": "$response.body#/user/id"}

# (method, path, status) -> [(link name, target method, target path, parameters)]
LINKS: dict[tuple[str, str, str], list[tuple[str, str, str, dict[str, str]]]] = {
    ("post", "/api/rooms", "201"): [(n, m, p, _ROOM_FROM_BODY) for n, m, p in _ROOM_OPERATIONS],
    ("post", "/api/dms", "200"): [(n, m, p, _ROOM_FROM_BODY) for n, m, p in _ROOM_OPERATIONS],
    ("post", "/api/rooms/{roomId}/join", "200"): [
        (n, m, p, _ROOM_FROM_PATH) for n, m, p in _ROOM_OPERATIONS
    ],
    ("post", "/api/rooms/{roomId}/messages", "201"): [
        ("EditMessage", "patch", "/api/rooms/{roomId}/messages/{seq}", _MESSAGE_PARAMS),
        ("DeleteMessage", "delete", "/api/rooms/{roomId}/messages/{seq}", _MESSAGE_PARAMS),
    ],
    ("post", "/api/rooms/{roomId}/members", "201"): [
        ("ChangeRole", "patch", "/api/rooms/{roomId}/members/{userId}", _MEMBER_PARAMS),
        ("RemoveMember", "delete", "/api/rooms/{roomId}/members/{userId}", _MEMBER_PARAMS),
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
