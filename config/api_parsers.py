"""The API's JSON parser. Kept apart from config/api.py because DRF imports parser
classes while rest_framework.views is still loading."""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class SafeJSONParser(JSONParser):
    """JSON nested deeper than Python's recursion limit is a 400, not a crash."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as error:
            raise ParseError("The JSON is nested too deeply.") from error
        _require_encodable(data)
        return data


def _require_encodable(value) -> None:
    """JSON may carry lone UTF-16 surrogates ("\\ud800") or NUL, which no database
    column can store."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise ParseError("The JSON holds a NUL character, which no text may contain.")
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as error:
                raise ParseError("The JSON holds text that is not valid Unicode.") from error
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
