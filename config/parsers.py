"""DRF parsers with the edge check of ``config.unstorable``.

The middleware can't look into multipart bodies (Django parses those only for POST, and reading
one early would parse every upload before authentication), so the parser checks the text fields it
hands to the view, once.  (File names need no check: Django drops their non-printable characters.)"""

from __future__ import annotations

from rest_framework import exceptions, parsers

from config import unstorable


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        where = unstorable.find(dict(parsed.data.lists()), "body")
        if where is not None:
            raise exceptions.ValidationError({where: [unstorable.MESSAGE]})
        return parsed
