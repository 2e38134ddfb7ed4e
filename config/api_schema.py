"""Documents the API's error answers in the OpenAPI schema. Every error is the same
RFC 9457 problem document (config.api.problem_exception_handler), so one hook adds it
to each operation for the statuses that operation can answer with, instead of every
view repeating them."""

PROBLEM = "application/problem+json"

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "An RFC 9457 problem document.",
    "properties": {
        "type": {"type": "string", "example": "about:blank"},
        "title": {"type": "string", "example": "Invalid input"},
        "status": {"type": "integer", "example": 400},
        "detail": {"type": "string", "example": "Some fields are not valid."},
        "errors": {
            "type": "object",
            "description": "Invalid input only: the messages for each field.",
            "additionalProperties": {},
        },
    },
    "required": ["type", "title", "status", "detail"],
}

DESCRIPTIONS = {
    "400": "Invalid input: field errors in `errors`, or a request the service refused.",
    "401": "Not signed in: no token or session, or a revoked token.",
    "403": "Not allowed for the caller's role.",
    "404": "Not found (or not visible to the caller).",
    "409": "Not possible in the resource's current state.",
    "415": "The body is not JSON.",
    "429": "Too many requests; `Retry-After` says when to try again.",
}


def _statuses(method: str, operation: dict) -> list[str]:
    parameters = operation.get("parameters", [])
    in_path = any(p.get("in") == "path" for p in parameters)
    in_query = any(p.get("in") == "query" for p in parameters)
    # Operations that need no account declare the empty requirement only.
    open_to_anyone = operation.get("security") == [{}]
    statuses = {"429"}
    if not open_to_anyone:
        statuses |= {"401", "403"}
    if method != "get" or in_query:
        statuses.add("400")
    if in_path or in_query or open_to_anyone:
        statuses.add("404")
    if method != "get":
        statuses.add("409")
    if "requestBody" in operation:
        statuses.add("415")
    return sorted(statuses)


def document_problems(result, generator, request, public):
    """drf-spectacular postprocessing hook: the problem document for every error."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    reference = {"$ref": "#/components/schemas/Problem"}
    for item in result.get("paths", {}).values():
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            for code in _statuses(method, operation):
                responses.setdefault(
                    code,
                    {
                        "description": DESCRIPTIONS[code],
                        "content": {PROBLEM: {"schema": reference}},
                    },
                )
    return result
