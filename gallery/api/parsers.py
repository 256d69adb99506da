"""The API's one body parser: JSON, refused with a 400 when it cannot be read."""

from __future__ import annotations

from rest_framework import exceptions, parsers


class JSONParser(parsers.JSONParser):
    """DRF's, and a body nested too deeply to read (`[[[[…`, past Python's recursion limit)
    is a parse error like any other, not a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError(
                "JSON parse error - the body is nested too deeply."
            ) from None
