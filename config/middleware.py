"""Request id (taken from a sane ``X-Request-ID`` or generated; echoed back and put in every log
line) and the refusal of unstorable text at the HTTP edge."""

from __future__ import annotations

import json
import re
import uuid

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse, QueryDict

from config import unstorable
from config.api import error_body
from config.logging import request_id_var

_SAFE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        rid = incoming if _SAFE.match(incoming) else uuid.uuid4().hex
        request.request_id = rid
        token = request_id_var.set(rid)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = rid
        return response


class UnstorableTextMiddleware:
    """400 ``invalid`` for a NUL or a lone surrogate anywhere in the request, before any view runs
    (``config.unstorable``): path, query string, header values (cookies included), JSON and
    url-encoded bodies.  Multipart bodies are checked by ``config.parsers.MultiPartParser``."""

    _BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        refusal = self.refusal(request)
        if refusal is not None:
            return refusal
        return self.get_response(request)

    def refusal(self, request):
        if unstorable.has(request.path_info):
            return _invalid("path")
        meta = request.META
        query = meta.get("QUERY_STRING", "")
        if query and unstorable.URLENCODED_HINT.search(query):
            where = unstorable.find(dict(request.GET.lists()), "query")
            if where is not None:
                return _invalid(where)
        for key, value in meta.items():
            # ASGI/WSGI headers arrive latin-1 decoded: no surrogates, NUL is all there is to find
            if key.startswith("HTTP_") and "\x00" in value:
                return _invalid(key[5:].lower().replace("_", "-"))
        if "HTTP_COOKIE" in meta:  # a quoted cookie value can spell NUL as \000
            for name, value in request.COOKIES.items():
                if unstorable.has(name) or unstorable.has(value):
                    return _invalid("cookie")
        if request.method in self._BODY_METHODS and meta.get("CONTENT_LENGTH") not in (None, "", "0"):
            return self._body_refusal(request)
        return None

    def _body_refusal(self, request):
        content_type = request.content_type or ""
        is_json = content_type == "application/json" or content_type.endswith("+json")
        if not is_json and content_type != "application/x-www-form-urlencoded":
            return None
        try:
            body = request.body  # kept on the request: the parser reads it again from memory
        except RequestDataTooBig:
            return JsonResponse(error_body("too_large", "The request body is too large."), status=413)
        if is_json:
            if not unstorable.json_bytes_hint(body):
                return None
            try:
                data = json.loads(body)
            except ValueError:
                return None  # not JSON: the parser answers malformed_request
            where = unstorable.find(data, "body")
        else:
            if not unstorable.URLENCODED_HINT.search(body.decode("latin-1")):
                return None
            where = unstorable.find(dict(QueryDict(body, encoding=request.encoding).lists()), "body")
        return None if where is None else _invalid(where)


def _invalid(where: str):
    return JsonResponse(error_body("invalid", unstorable.MESSAGE, {where: [unstorable.MESSAGE]}), status=400)
