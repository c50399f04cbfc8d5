"""JSON answers of the routes: UTF-8 text as it is (Chinese names unescaped), numpy values as numbers.

>>> json_response({"name": "第1网格"}).body.decode()
'{"name": "第1网格"}'
"""

import json

from fastapi import Response

from api.store import json_value


def json_response(body: dict, media_type: str = "application/json") -> Response:
    """``body`` as a JSON response of ``media_type``."""
    return Response(json.dumps(body, ensure_ascii=False, default=json_value), media_type=media_type)
