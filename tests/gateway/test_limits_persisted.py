"""Persisted queries: Apollo's `extensions.persistedQuery.sha256Hash`, a registry loaded from
files, automatic registration outside the allow-list mode, and the allow-list mode."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from services.gateway.limits import PersistedQueries, load_registry
from shared.settings import Settings
from tests.gateway.served import Gateway, gateway

PROVINCE_NAME = 'query ProvinceName { unit(code: "38") { name } }\n'
OTHER = '{ unit(code: "395", asOf: "2023-05-19") { name } }'


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def persisted_extensions(text: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256(text)}}


async def by_hash(gw: Gateway, text: str, *, with_text: bool = False) -> httpx.Response:
    body: dict[str, Any] = {"extensions": persisted_extensions(text)}
    if with_text:
        body["query"] = text
    return await gw.http.post("/graphql", json=body)


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    folder = tmp_path / "persisted"
    folder.mkdir()
    (folder / "province-name.graphql").write_text(PROVINCE_NAME, encoding="utf-8")
    return folder


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert body["data"] is None, body
    [error] = body["errors"]
    assert error["extensions"]["message_vi"]
    code: str = error["extensions"]["code"]
    return code


class TestPersistedQueries:
    async def test_a_registered_hash_runs_its_query(
        self, settings: Settings, criteria_app: FastAPI, registry: Path
    ) -> None:
        async with gateway(settings, criteria_app, graphql_persisted_queries=registry) as gw:
            response = await by_hash(gw, PROVINCE_NAME)
            assert response.json() == {"data": {"unit": {"name": "Tỉnh Thanh Hóa"}}}

    async def test_a_registered_hash_runs_over_get_too(
        self, settings: Settings, criteria_app: FastAPI, registry: Path
    ) -> None:
        async with gateway(settings, criteria_app, graphql_persisted_queries=registry) as gw:
            response = await gw.http.get(
                "/graphql", params={"extensions": json.dumps(persisted_extensions(PROVINCE_NAME))}
            )
            assert response.json() == {"data": {"unit": {"name": "Tỉnh Thanh Hóa"}}}

    async def test_an_unknown_hash_is_not_found_before_any_upstream_call(
        self, settings: Settings, criteria_app: FastAPI
    ) -> None:
        async with gateway(settings, criteria_app) as gw:
            response = await by_hash(gw, OTHER)
            assert error_code(response) == "PERSISTED_QUERY_NOT_FOUND"
            # the message Apollo's persisted-query link answers by resending with the text
            assert response.json()["errors"][0]["message"] == "PersistedQueryNotFound"
            assert gw.upstream_calls == []

    async def test_a_client_registers_a_query_by_sending_it_with_its_hash(
        self, settings: Settings, criteria_app: FastAPI
    ) -> None:
        async with gateway(settings, criteria_app) as gw:
            first = await by_hash(gw, OTHER, with_text=True)
            assert first.json() == {"data": {"unit": {"name": "Huyện Thọ Xuân"}}}
            again = await by_hash(gw, OTHER)
            assert again.json() == first.json()

    async def test_only_an_operation_that_passed_the_limits_and_validation_is_registered(
        self, settings: Settings, criteria_app: FastAPI
    ) -> None:
        invalid = '{ unit(code: "38") { nosuchfield } }'
        too_deep = '{ unit(code: "38") { parent { parent { code } } } }'
        async with gateway(settings, criteria_app, graphql_max_depth=3) as gw:
            for text in (invalid, too_deep):
                refused = await by_hash(gw, text, with_text=True)
                assert refused.json()["errors"]
                assert error_code(await by_hash(gw, text)) == "PERSISTED_QUERY_NOT_FOUND"

    async def test_a_hash_that_is_not_the_texts_is_refused(
        self, settings: Settings, criteria_app: FastAPI
    ) -> None:
        async with gateway(settings, criteria_app) as gw:
            body = {"query": OTHER, "extensions": persisted_extensions(PROVINCE_NAME)}
            response = await gw.http.post("/graphql", json=body)
            assert error_code(response) == "PERSISTED_QUERY_HASH_MISMATCH"
            assert gw.upstream_calls == []


class TestAllowListMode:
    async def test_only_registered_operations_run(
        self, settings: Settings, criteria_app: FastAPI, registry: Path
    ) -> None:
        async with gateway(
            settings,
            criteria_app,
            graphql_persisted_queries=registry,
            graphql_persisted_only=True,
        ) as gw:
            free_form = await gw.post(OTHER)
            assert error_code(free_form) == "PERSISTED_QUERY_NOT_ALLOWED"
            registering = await by_hash(gw, OTHER, with_text=True)
            assert error_code(registering) == "PERSISTED_QUERY_NOT_ALLOWED"
            assert error_code(await by_hash(gw, OTHER)) == "PERSISTED_QUERY_NOT_FOUND"
            assert gw.upstream_calls == []
            registered = (await by_hash(gw, PROVINCE_NAME)).json()
            assert registered == {"data": {"unit": {"name": "Tỉnh Thanh Hóa"}}}
            # the registered text itself is the same operation
            same_text = (await gw.post(PROVINCE_NAME)).json()
            assert same_text == registered


class TestRegistryFiles:
    def test_a_folder_of_graphql_and_json_files(self, tmp_path: Path) -> None:
        (tmp_path / "a.graphql").write_text(PROVINCE_NAME, encoding="utf-8")
        (tmp_path / "map.json").write_bytes(orjson.dumps({sha256(OTHER): OTHER}))
        (tmp_path / "README.md").write_text("not an operation", encoding="utf-8")
        assert load_registry(tmp_path) == {
            sha256(PROVINCE_NAME): PROVINCE_NAME,
            sha256(OTHER): OTHER,
        }

    def test_an_apollo_persisted_query_manifest(self, tmp_path: Path) -> None:
        manifest = {
            "format": "apollo-persisted-query-manifest",
            "version": 1,
            "operations": [
                {"id": sha256(OTHER), "name": "District", "type": "query", "body": OTHER}
            ],
        }
        path = tmp_path / "persisted-query-manifest.json"
        path.write_bytes(orjson.dumps(manifest))
        assert load_registry(path) == {sha256(OTHER): OTHER}

    def test_an_entry_whose_hash_is_not_its_texts_stops_the_start(self, tmp_path: Path) -> None:
        path = tmp_path / "map.json"
        path.write_bytes(orjson.dumps({sha256(OTHER): PROVINCE_NAME}))
        with pytest.raises(ValueError, match="is not the SHA-256 of its query"):
            load_registry(path)


class TestAutomaticRegistrations:
    def test_the_oldest_are_forgotten_beyond_the_size_budget(self) -> None:
        queries = [f"{{ a{i}: __typename }}" for i in range(3)]  # 18 characters each
        persisted = PersistedQueries({}, only_registered=False, max_automatic_chars=40)
        for text in queries:
            persisted.remember(text, persisted_extensions(text))
        assert list(persisted.automatic.values()) == queries[1:]
        assert persisted.automatic_chars == 36
        assert persisted.resolve(None, persisted_extensions(queries[2])) == queries[2]
