import base64
import json

import httpx


async def test_probe(criteria: httpx.AsyncClient) -> None:
    out = []

    async def g(url: str) -> None:
        r = await criteria.get(url)
        out.append((url, r.status_code, r.headers.get("content-type"), r.json()))

    await g("/v1/units/395?as_of=2023-05-19")
    await g("/v1/units/395")
    await g("/v1/units/abc")
    await g("/v1/units/395?as_of=2023-13-45")
    await g("/v1/units/15592?as_of=2025-06-30")
    await g("/v1/units/15592?as_of=2025-07-01")
    await g("/v1/units/38?as_of=2025-07-01")
    await g("/v1/units/38?as_of=2023-07-01")
    await g("/v1/units?search=dak lak&level=province&as_of=2023-01-01")
    await g("/v1/units?search=dak lak&level=province")
    await g("/v1/units?search=tho xuan&as_of=2023-01-01")
    await g("/v1/units/15592/lineage?as_of=2023-05-19")
    await g("/v1/units/15592/lineage")
    await g("/v1/units/38/lineage?as_of=2023-05-19")
    c = base64.urlsafe_b64encode(json.dumps([2**70, "x"]).encode()).decode().rstrip("=")
    await g(f"/v1/units/395/children?as_of=2023-05-19&cursor={c}")
    await g("/v1/units/395/children?as_of=2023-05-19&cursor=garbage")
    r = await criteria.post(
        "/v1/units/15592/villages?as_of=2023-05-19", json={"code": "T01", "name": "Thôn Đông"}
    )
    out.append(("village", r.status_code, r.json()))
    r = await criteria.post(
        "/v1/units/15592/villages?as_of=2023-05-19",
        json={"code": "T02", "name": "Thôn Đông", "valid_from": "2026-01-01"},
    )
    out.append(("village", r.status_code, r.json()))
    with open("/tmp/probe/out.json", "w") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
