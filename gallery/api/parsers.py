"""The API's one body parser: JSON, refused with a 400 when it cannot be read."""

from __future__ import annotations

import json

from rest_framework import exceptions, parsers


class JSONParser(parsers.JSONParser):
    """DRF's, and a body nested too deeply to read (`[[[[…`, past Python's recursion limit)
    or holding a lone surrogate (`"\\ud800"`: half of a UTF-16 pair, no character, which no
    answer quoting it and no database can encode) is a parse error like any other, not a
    500."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
            json.dumps(data, ensure_ascii=False).encode()
        except RecursionError:
            raise exceptions.ParseError(
                "JSON parse error - the body is nested too deeply."
            ) from None
        except UnicodeEncodeError:
            raise exceptions.ParseError(
                "JSON parse error - the body holds a lone surrogate (\\ud800 to \\udfff)."
            ) from None
        return data
