"""Checks HTTP requests and responses against Cloudflare's OpenAPI schema (the part we use).

The contract is two files next to this one, merged when loaded (:func:`merged_spec`):

- ``cloudflare-openapi-subset.json``, a byte-identical copy of
  ``shared/reference/cloudflare-openapi-subset.json``: Cloudflare's published
  ``openapi.json`` (cloudflare/api-schemas, commit cca3064f, 2024-08-06) cut down to the
  tunnel, route, virtual-network and token-verify paths, content unchanged;
- ``cloudflare-openapi-additions.json`` (made by ``make_additions.py``): what Cloudflare's
  current API has beyond it, with shapes from its official Python SDK's types: get a
  route and a virtual network by id, list all tunnels, get a WARP connector's client,
  the ``is_default_network`` and ``default_virtual_network_fallback`` query parameters,
  the ``warp``/``magic`` tunnel types, ``tun_types`` as a list, deletes without a
  body, the HA endpoints of ``warp_connector``, and the Zero Trust Gateway rules
  (``/gateway/rules``: Cloudflare's 2024-08 operations brought to the SDK's types). New operations and components are added, ``x-query-parameters`` are appended to
  an operation's, ``x-optional-request-body`` operations no longer require a body, and
  a component of the same name replaces the subset's.

Both functions return a list of violations (empty: conforms). What is checked:

- the path matches a template of the schema (after ``/client/v4``) and the method is
  one of its operations; a ``deprecated`` operation is a violation too (we use the
  route-id endpoints instead);
- path and query parameters: query strings are converted by their schema's type
  (integer, number, boolean; anything else is refused) and then validated against it;
  a parameter the operation does not declare is a violation, except for the
  documented ``ALLOWED_EXTRA_QUERY``; a parameter given twice is a violation unless its
  schema is an array, which is taken repeated (``k=a&k=b``, form style, exploded: what
  Cloudflare's SDKs send) and comma-separated (``k=a,b``, what its docs describe);
- the credentials one of the operation's security requirements asks for are present;
- the request body: present when required, absent when the operation takes none,
  a declared content type, well-formed JSON, valid against the schema;
- the response: its status is documented (exact code, then ``4XX``/``5XX``, then
  ``default``), its body is JSON of a declared content type and valid against the
  schema of that status.

The warpcli extension (``warpcli/server/extension.py``, ``docs/controller-api.md``) is
not Cloudflare's: its requests are checked against ``EXTENSION_PATHS``, an explicit
allow-list of its templates, for credentials (every one but the health check) and for
the Cloudflare envelope of their answers, not against the schema. Any other path, a
``/warpcli/`` one included, must be in the contract.

Schemas are validated with ``openapi_schema_validator`` (OpenAPI 3.0 semantics,
``nullable``), ``$ref`` resolved inside the document, formats ``uuid`` and
``date-time`` checked. Exactly two deviations from the letter of the schema, both
marked DEVIATION below; nothing else is relaxed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from jsonschema import FormatChecker
from jsonschema.exceptions import best_match
from openapi_schema_validator import OAS30ReadValidator, OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SPEC_FILE = Path(__file__).with_name("cloudflare-openapi-subset.json")
ADDITIONS_FILE = Path(__file__).with_name("cloudflare-openapi-additions.json")
BASE_PATH = "/client/v4"
_URI = "urn:cloudflare:openapi-subset"
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

#: Query parameters real Cloudflare clients send that the schema does not declare.
#: cloudflared deletes a virtual network or a tunnel that is still in use with
#: ``?force=true``; warpcli's Cloudflare controller does the same.
ALLOWED_EXTRA_QUERY: dict[tuple[str, str], dict[str, dict]] = {
    ("delete", "/accounts/{account_id}/teamnet/virtual_networks/{virtual_network_id}"): {
        "force": {"type": "boolean"},
    },
    ("delete", "/accounts/{account_id}/warp_connector/{tunnel_id}"): {
        "force": {"type": "boolean"},
    },
}

#: The warpcli extension's endpoints (a documented extension, not Cloudflare's API):
#: template -> methods. Every template has a ``warpcli`` segment, which no Cloudflare
#: path has; tests/test_served_enrollment.py checks that none matches a contract path and
#: that this list is exactly what the server serves.
EXTENSION_PATHS: dict[str, tuple[str, ...]] = {
    "/warpcli/health": ("GET",),
    "/accounts/{account_id}/warpcli/tunnels/{tunnel_id}": ("GET",),
    "/accounts/{account_id}/warpcli/tunnels/{tunnel_id}/virtual_networks": ("GET",),
    "/accounts/{account_id}/warpcli/tunnels/{tunnel_id}/connectors": ("GET", "POST"),
    "/accounts/{account_id}/warpcli/tunnels/{tunnel_id}/connectors/{connector_id}": ("DELETE",),
    "/accounts/{account_id}/warpcli/tunnels/{tunnel_id}/peers": ("GET",),
    "/accounts/{account_id}/warpcli/tunnels/{tunnel_id}/version": ("GET",),
    "/accounts/{account_id}/warpcli/virtual_networks/{virtual_network_id}/version": ("GET",),
    "/accounts/{account_id}/warpcli/connectors": ("GET",),
    "/accounts/{account_id}/warpcli/virtual_networks/{virtual_network_id}/hub": ("DELETE", "GET", "PUT"),
    "/accounts/{account_id}/warpcli/virtual_networks/{virtual_network_id}/hub/peers": ("GET",),
    "/accounts/{account_id}/warpcli/virtual_networks/{virtual_network_id}/hubs": ("GET",),
    "/accounts/{account_id}/warpcli/virtual_networks/{virtual_network_id}/hubs/{hub_id}": ("DELETE",),
    "/accounts/{account_id}/warpcli/virtual_networks/{virtual_network_id}/hub/report": ("POST",),
    "/accounts/{account_id}/warpcli/virtual_networks/{virtual_network_id}/policy": ("GET", "PUT"),
}
#: the extension's one endpoint without credentials
EXTENSION_PUBLIC = {("GET", "/warpcli/health")}

_FAILURE_SUFFIX = "api-response-common-failure"
_MAX_MESSAGE = 300


def _format_checker() -> FormatChecker:
    """OpenAPI 3.0's formats plus ``uuid`` and ``date-time`` (RFC 3339), which the schema uses."""
    from openapi_schema_validator import oas30_format_checker

    checker = FormatChecker(["uuid", "date-time"])
    checker.checkers.update(oas30_format_checker.checkers)
    return checker


def _pointer(*segments: str | int) -> str:
    escaped = (str(s).replace("~", "~0").replace("/", "~1") for s in segments)
    return "/" + "/".join(escaped)


def _short(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def _schema_errors(validator: Any, instance: Any, what: str) -> list[str]:
    out = []
    for error in validator.iter_errors(instance):
        where = "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        message = error.message
        if error.context:
            message += f" (closest: {best_match(error.context).message})"
        out.append(_short(f"{what}{where}: {message}"))
    return out


class Operation:
    """One method of one path template, with where it lives in the document."""

    def __init__(self, contract: Contract, template: str, method: str) -> None:
        self.contract = contract
        self.template = template
        self.method = method
        self.pointer = _pointer("paths", template, method)
        self.spec: dict = contract.spec["paths"][template][method]


class Contract:
    def __init__(self, spec: dict) -> None:
        self.spec = spec
        resource = Resource.from_contents(spec, default_specification=DRAFT4)
        self._registry = Registry().with_resource(_URI, resource)
        self._formats = _format_checker()
        self._validators: dict[tuple[str, bool], Any] = {}
        self._templates = [
            (template, template.strip("/").split("/")) for template in spec["paths"]
        ]

    # -- lookups ------------------------------------------------------------------
    def _resolve(self, obj: Any) -> Any:
        """Follow a ``$ref`` (to a parameter, body or response object) inside the document."""
        while isinstance(obj, dict) and "$ref" in obj:
            ref = obj["$ref"]
            assert ref.startswith("#/"), ref
            obj = self.spec
            for segment in ref[2:].split("/"):
                obj = obj[segment.replace("~1", "/").replace("~0", "~")]
        return obj

    def validator(self, pointer: str, *, response: bool) -> Any:
        """A validator for the schema at ``pointer``; its ``$ref``s resolve in the document.

        DEVIATION 2: ``tunnel_id`` is marked ``readOnly``, yet Cloudflare's own clients
        send it in the route create and update bodies (the body schema lists it, and
        requires it on create). So requests are validated without enforcing
        ``readOnly``; responses use the read validator (``writeOnly`` enforced).
        """
        key = (pointer, response)
        if key not in self._validators:
            cls = OAS30ReadValidator if response else OAS30Validator
            schema = {"$ref": f"{_URI}#{quote(pointer, safe='/~')}"}
            self._validators[key] = cls(schema, registry=self._registry, format_checker=self._formats)
        return self._validators[key]

    def match(self, path: str) -> tuple[str, dict[str, str]] | None:
        """The most specific path template matching ``path`` (relative to ``/client/v4``)."""
        segments = [unquote(s) for s in path.strip("/").split("/")]
        best: tuple[int, str, dict[str, str]] | None = None
        for template, parts in self._templates:
            if len(parts) != len(segments):
                continue
            params: dict[str, str] = {}
            literal = 0
            for part, segment in zip(parts, segments, strict=False):
                if part.startswith("{") and part.endswith("}"):
                    if not segment:
                        break
                    params[part[1:-1]] = segment
                elif part == segment:
                    literal += 1
                else:
                    break
            else:
                if best is None or literal > best[0]:
                    best = (literal, template, params)
        return None if best is None else (best[1], best[2])

    def _locate(self, method: str, path: str) -> tuple[Operation | None, dict[str, str], list[str]]:
        if not path.startswith(BASE_PATH + "/"):
            return None, {}, [f"the path is not under {BASE_PATH}"]
        found = self.match(path[len(BASE_PATH):])
        if found is None:
            return None, {}, ["no path of the contract matches"]
        template, params = found
        if method.lower() not in self.spec["paths"][template]:
            allowed = sorted(m.upper() for m in self.spec["paths"][template] if m in _METHODS)
            return None, params, [f"{template} has no {method.upper()} operation (only {', '.join(allowed)})"]
        return Operation(self, template, method.lower()), params, []

    # -- requests -----------------------------------------------------------------
    def validate_request(
        self,
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
    ) -> list[str]:
        op, path_params, problems = self._locate(method, path)
        prefix = f"{method.upper()} {path}: "
        if op is None:
            return [prefix + p for p in problems]
        headers = {k.lower(): v for k, v in headers.items()}
        if op.spec.get("deprecated"):
            problems.append(f"{op.template} {method.upper()} is deprecated")
        problems += self._check_parameters(op, path_params, query)
        problems += self._check_security(op, headers)
        problems += self._check_request_body(op, headers, body)
        return [prefix + p for p in problems]

    def _parameters(self, op: Operation) -> list[tuple[str, dict]]:
        """(pointer to the schema, parameter object) for each parameter, path-level ones included."""
        out: dict[tuple[str, str], tuple[str, dict]] = {}
        for owner, where in ((self.spec["paths"][op.template], _pointer("paths", op.template)),
                             (op.spec, op.pointer)):
            for i, param in enumerate(owner.get("parameters", [])):
                param = self._resolve(param)
                out[(param["name"], param["in"])] = (f"{where}/parameters/{i}/schema", param)
        return list(out.values())

    def _check_parameters(self, op: Operation, path_params: dict[str, str], query: Mapping[str, list[str]]) -> list[str]:
        problems: list[str] = []
        declared_query: set[str] = set()
        for pointer, param in self._parameters(op):
            name, where = param["name"], param["in"]
            if where == "path":
                values = [path_params[name]] if name in path_params else []
            elif where == "query":
                declared_query.add(name)
                values = list(query.get(name, []))
            else:
                continue  # header and cookie parameters: none in this contract
            if not values:
                if param.get("required"):
                    problems.append(f"required {where} parameter {name!r} is missing")
                continue
            if where == "query" and self._type_of(param.get("schema", {})) == "array":
                problems += self._check_array(pointer, param["schema"], values, f"{where} parameter {name!r}")
                continue
            if len(values) > 1:
                problems.append(f"{where} parameter {name!r} is given {len(values)} times")
                continue
            problems += self._check_value(pointer, param.get("schema", {}), values[0], f"{where} parameter {name!r}")
        extra = ALLOWED_EXTRA_QUERY.get((op.method, op.template), {})
        for name, values in query.items():
            if name in declared_query:
                continue
            if name in extra:
                if len(values) > 1:
                    problems.append(f"query parameter {name!r} is given {len(values)} times")
                else:
                    problems += self._check_extra(extra[name], values[0], name)
                continue
            problems.append(f"query parameter {name!r} is not in the contract for {op.method.upper()} {op.template}")
        return problems

    def _check_extra(self, schema: dict, text: str, name: str) -> list[str]:
        value, problem = self._coerce(schema.get("type"), text)
        if problem:
            return [f"query parameter {name!r}: {problem}"]
        errors = OAS30Validator(schema, format_checker=self._formats).iter_errors(value)
        return [f"query parameter {name!r}: {e.message}" for e in errors]

    def _type_of(self, schema: Any) -> str | None:
        schema = self._resolve(schema)
        if not isinstance(schema, dict):
            return None
        if "type" in schema:
            return schema["type"]
        for key in ("allOf", "anyOf", "oneOf"):
            for member in schema.get(key, []):
                found = self._type_of(member)
                if found:
                    return found
        return None

    @staticmethod
    def _coerce(kind: str | None, text: str) -> tuple[Any, str | None]:
        """A parameter's text as the JSON value its schema type describes (form style, no explode)."""
        if kind in (None, "string"):
            return text, None
        if kind == "boolean":
            if text in ("true", "false"):
                return text == "true", None
            return None, f"{text!r} is not a boolean (true or false)"
        if kind in ("integer", "number"):
            body = text[1:] if text[:1] == "-" else text
            if body.isdigit() and body.isascii():
                return int(text), None
            if kind == "number":
                try:
                    value = float(text)
                except ValueError:
                    value = None
                if value is not None and value == value and value not in (float("inf"), float("-inf")):
                    return value, None
            return None, f"{text!r} is not a valid {kind}"
        return None, f"parameters of type {kind!r} are not supported by this checker"

    def _check_array(self, pointer: str, schema: dict, values: list[str], what: str) -> list[str]:
        """A list-valued query parameter: every value, split on commas, as an item of the array."""
        items = self._resolve(schema).get("items", {})
        kind = self._type_of(items)
        out, problems = [], []
        for text in (part for value in values for part in value.split(",")):
            value, problem = self._coerce(kind, text)
            if problem:
                problems.append(f"{what}: {problem}")
            out.append(value)
        if problems:
            return problems
        return _schema_errors(self.validator(pointer, response=False), out, what)

    def _check_value(self, pointer: str, schema: dict, text: str, what: str) -> list[str]:
        value, problem = self._coerce(self._type_of(schema), text)
        if problem:
            return [f"{what}: {problem}"]
        return _schema_errors(self.validator(pointer, response=False), value, what)

    def _check_security(self, op: Operation, headers: Mapping[str, str]) -> list[str]:
        requirements = op.spec.get("security", self.spec.get("security", []))
        if not requirements:
            return []
        schemes = self.spec["components"]["securitySchemes"]

        def present(name: str) -> bool:
            scheme = schemes[name]
            if scheme["type"] == "http" and scheme.get("scheme", "").lower() == "bearer":
                kind, _, token = headers.get("authorization", "").partition(" ")
                return kind.lower() == "bearer" and bool(token.strip())
            if scheme["type"] == "apiKey" and scheme["in"] == "header":
                return bool(headers.get(scheme["name"].lower(), "").strip())
            return False

        if any(all(present(name) for name in req) for req in requirements):
            return []
        wanted = " or ".join("+".join(req) for req in requirements)
        return [f"no credentials for any of its security requirements ({wanted})"]

    def _check_request_body(self, op: Operation, headers: Mapping[str, str], body: bytes) -> list[str]:
        spec = self._resolve(op.spec.get("requestBody"))
        has_body = bool(body)
        if spec is None:
            return ["the operation takes no request body, but one was sent"] if has_body else []
        if not has_body:
            return ["the request body is required but none was sent"] if spec.get("required") else []
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        content = spec.get("content", {})
        if media not in content:
            return [f"request content type {media or '(none)'!r} is not one of {sorted(content)}"]
        if media.endswith("json"):
            try:
                value = json.loads(body)
            except (ValueError, UnicodeDecodeError):
                return ["the request body is not valid JSON"]
            if "schema" in content[media]:
                pointer = f"{op.pointer}/requestBody/content/{media.replace('/', '~1')}/schema"
                return _schema_errors(self.validator(pointer, response=False), value, "request body")
        return []

    # -- responses ----------------------------------------------------------------
    def validate_response(
        self, method: str, path: str, status: int, body: bytes, *, content_type: str | None = None
    ) -> list[str]:
        op, _, problems = self._locate(method, path)
        prefix = f"{method.upper()} {path} -> {status}: "
        if op is None:
            return [prefix + p for p in problems]
        return [prefix + p for p in self._check_response(op, status, body, content_type)]

    def _failure_ref(self, response: Any) -> str | None:
        """The pointer of the ``*api-response-common-failure`` schema a response's allOf names."""
        for media in self._resolve(response).get("content", {}).values():
            for member in media.get("schema", {}).get("allOf", []):
                ref = member.get("$ref", "")
                if ref.endswith(_FAILURE_SUFFIX):
                    return ref[1:]
        return None

    def _family_failure(self, op: Operation) -> str | None:
        """The failure schema this operation's 4XX answers name (``tunnel_`` or ``iam_`` family)."""
        for code, response in op.spec.get("responses", {}).items():
            if code.startswith("4") and (ref := self._failure_ref(response)):
                return ref
        return None

    def _check_response(self, op: Operation, status: int, body: bytes, content_type: str | None) -> list[str]:
        responses = op.spec.get("responses", {})
        key = next((k for k in (str(status), f"{status // 100}XX", "default") if k in responses), None)
        if key is not None:
            failure = self._failure_ref(responses[key]) if status >= 400 else None
        else:
            failure = self._family_failure(op) if status >= 500 else None
        if key is None and failure is None:
            return [f"status {status} is not documented for this operation (only {', '.join(sorted(responses))})"]
        media_types = ["application/json"] if key is None else list(self._resolve(responses[key]).get("content", {}))
        if not media_types:
            return ["the response should have no body"] if body else []
        if content_type is not None:
            media = content_type.split(";")[0].strip().lower()
            if media not in media_types:
                return [f"response content type {media!r} is not one of {media_types}"]
        try:
            value = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return ["the response body is not valid JSON"]
        if failure is not None:
            # DEVIATION 1: every 4XX schema is ``allOf: [<X>-response-single or -collection,
            # <family>_api-response-common-failure]``; the first says ``success: enum [true]``
            # (and a non-null ``result``), the second ``success: enum [false]`` and
            # ``result: null``, so no body can satisfy both. A failure body is checked
            # against the failure schema alone. The same schema is used for 5XX answers,
            # which the contract leaves undocumented but any server can send.
            pointer = failure
        else:
            media = "application/json" if "application/json" in media_types else media_types[0]
            pointer = f"{op.pointer}/responses/{key}/content/{media.replace('/', '~1')}/schema"
        return _schema_errors(self.validator(pointer, response=True), value, "response body")


def extension_template(method: str, path: str) -> str | None:
    """The allow-listed extension template ``METHOD path`` (under ``/client/v4``) is, if any."""
    if not path.startswith(BASE_PATH + "/"):
        return None
    segments = [unquote(s) for s in path[len(BASE_PATH):].strip("/").split("/")]
    for template, methods in EXTENSION_PATHS.items():
        parts = template.strip("/").split("/")
        if method.upper() in methods and len(parts) == len(segments) and all(
            (p.startswith("{") and bool(s)) or p == s for p, s in zip(parts, segments, strict=False)
        ):
            return template
    return None


def _extension_request(method: str, template: str, headers: Mapping[str, str], body: bytes) -> list[str]:
    headers = {k.lower(): v for k, v in headers.items()}
    problems = []
    if (method.upper(), template) not in EXTENSION_PUBLIC:
        kind, _, token = headers.get("authorization", "").partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            problems.append("no credentials (the warpcli extension needs a bearer token)")
    if body:
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json":
            problems.append(f"request content type {media or '(none)'!r} is not application/json")
        else:
            try:
                if not isinstance(json.loads(body), dict):
                    problems.append("the request body is not a JSON object")
            except (ValueError, UnicodeDecodeError):
                problems.append("the request body is not valid JSON")
    return problems


def _extension_response(status: int, body: bytes, content_type: str | None) -> list[str]:
    """The Cloudflare envelope (``api-response-common`` or its failure form), nothing more."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media != "application/json":
        return [f"response content type {media or '(none)'!r} is not application/json"]
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return ["the response body is not valid JSON"]
    if not isinstance(value, dict) or not isinstance(value.get("success"), bool) or "result" not in value \
            or not isinstance(value.get("errors"), list) or not isinstance(value.get("messages"), list):
        return ["the response is not the Cloudflare envelope (success, errors, messages, result)"]
    if value["success"] != (200 <= status < 300):
        return [f"success is {value['success']} with status {status}"]
    if not value["success"] and (value["result"] is not None or not value["errors"] or not all(
            isinstance(e, dict) and isinstance(e.get("code"), int) and isinstance(e.get("message"), str)
            for e in value["errors"])):
        return ["a failure needs result null and errors of {code, message}"]
    return []


def merged_spec(subset: dict[str, Any] | None = None, additions: dict[str, Any] | None = None) -> dict[str, Any]:
    """The subset with the additions merged over it (neither argument is modified)."""
    import copy

    spec = copy.deepcopy(subset if subset is not None else json.loads(SPEC_FILE.read_text()))
    add = copy.deepcopy(additions if additions is not None else json.loads(ADDITIONS_FILE.read_text()))
    for template, item in add["paths"].items():
        for method, operation in item.items():
            target = spec["paths"].setdefault(template, {})
            if method in target:
                raise ValueError(f"the additions redefine {method.upper()} {template}")
            target[method] = operation
    for key, params in add.get("x-query-parameters", {}).items():
        method, template = key.split(" ", 1)
        operation = spec["paths"][template][method]
        names = {p.get("name") for p in operation.get("parameters", [])}
        for param in params:
            if param["name"] in names:
                raise ValueError(f"the additions redefine query parameter {param['name']!r} of {key}")
            operation.setdefault("parameters", []).append(param)
    for key in add.get("x-optional-request-body", []):
        method, template = key.split(" ", 1)
        spec["paths"][template][method]["requestBody"]["required"] = False
    spec["components"]["schemas"].update(add["components"]["schemas"])
    spec["info"]["x-additions"] = add["info"]
    return spec


@lru_cache(maxsize=1)
def contract() -> Contract:
    """The contract (the subset and the additions), loaded once."""
    return Contract(merged_spec())


def validate_request(
    method: str, path: str, query: Mapping[str, list[str]], headers: Mapping[str, str], body_bytes: bytes
) -> list[str]:
    """Violations of the contract by a request (``path`` as sent, under ``/client/v4``)."""
    template = extension_template(method, path)
    if template is not None:
        return [f"{method.upper()} {path}: {p}" for p in _extension_request(method, template, headers, body_bytes)]
    return contract().validate_request(method, path, query, headers, body_bytes)


def validate_response(
    method: str, path: str, status: int, body_bytes: bytes, *, content_type: str | None = None
) -> list[str]:
    """Violations of the contract by the response to ``method path``."""
    if extension_template(method, path) is not None:
        problems = _extension_response(status, body_bytes, content_type)
        return [f"{method.upper()} {path} -> {status}: {p}" for p in problems]
    return contract().validate_response(method, path, status, body_bytes, content_type=content_type)


def operations() -> Iterable[tuple[str, str]]:
    """Every (METHOD, template) the contract has, for coverage checks."""
    for template, item in contract().spec["paths"].items():
        for method in item:
            if method in _METHODS:
                yield method.upper(), template
