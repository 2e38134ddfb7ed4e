"""The OpenAPI 3 schema and the interactive docs: valid, complete, and served from
the app's own static files."""

import json
import re

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from drf_spectacular.validation import validate_schema

from config.api_urls import urlpatterns
from tests.api.conftest import Api


@pytest.fixture
def schema(people) -> dict:
    answer = Api(people.employee, session=True).client.get("/api/schema/", {"format": "json"})
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("application/vnd.oai.openapi+json")
    return json.loads(answer.content)


def test_the_served_schema_is_valid_openapi_3(schema):
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Answerable API"
    validate_schema(schema)


def test_the_schema_passes_drf_spectaculars_validation_without_a_warning(tmp_path):
    target = tmp_path / "schema.yaml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))

    assert target.read_text().startswith("openapi: 3.")


def test_every_operation_is_documented_with_its_own_id_and_bearer_tokens(schema):
    operations = [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]
    ids = [operation["operationId"] for _, _, operation in operations]
    documented = {path for path, _, _ in operations}

    assert len(ids) == len(set(ids))
    for pattern in urlpatterns:
        path = "/api/v1/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(pattern.pattern))
        assert path in documented, path
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A personal API token.",
    }
    receipts = schema["paths"]["/api/v1/receipts/status/"]
    assert set(receipts) == {"post"}
    assert "receipt" not in str(receipts["post"].get("parameters", []))


def test_the_docs_page_uses_only_the_apps_own_static_files(people):
    client = Api(people.employee, session=True).client

    page = client.get("/api/docs/")

    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="swagger-ui"' in html
    references = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert references
    assert not [r for r in references if re.match(r"^(https?:)?//", r)], references
    assert not re.search(r"https?://(?!127\.0\.0\.1|localhost|testserver)", html)
    for reference in references:
        if reference.startswith("/static/"):
            assert finders.find(reference.removeprefix("/static/")), reference
        else:
            assert client.get(reference).status_code == 200, reference
    script = client.get("/api/docs/", {"script": ""}).content.decode()
    assert "/api/schema/" in script
    assert not re.search(r"https?://", script)
    policy = page["Content-Security-Policy"]
    assert (
        "script-src 'self'" in policy
        and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    )


def test_the_concern_list_documents_every_query_parameter_it_reads(schema):
    listing = schema["paths"]["/api/v1/concerns/"]["get"]
    names = {parameter["name"] for parameter in listing["parameters"]}

    assert names == {"sort", "status", "tag", "q", "cursor"}
