"""The HTTP API of issue 19 on a real server: scenes, match-ad by scene, exclusions, explanations."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def client(scenes_workspace):
    from fastapi.testclient import TestClient

    from reelmatch.serve.app import create_app

    ws, ids = scenes_workspace
    with TestClient(create_app(ws)) as c:
        yield c, ids


def test_scenes_endpoint(client):
    c, ids = client
    doc = c.get(f"/api/items/{ids['Night Train']}/scenes").json()
    assert doc["done"] and len(doc["scenes"]) >= 3
    assert doc["scenes"][0]["start"] == 0.0 and abs(doc["scenes"][-1]["end"] - 30.0) < 0.2
    assert c.get(f"/api/items/{ids['Spot']}/scenes").json() == {"id": ids["Spot"], "duration": pytest.approx(4.0, abs=0.2),
                                                                  "done": False, "scenes": []}
    assert c.get("/api/items/nope/scenes").status_code == 404


def test_match_ad_by_scene_with_explanations(client):
    c, ids = client
    doc = c.get(f"/api/items/{ids['Spot']}/match-ad", params={"k": 3, "scenes": "true", "explain": "true"}).json()
    movie = next(r for r in doc["results"] if r["id"] == ids["Night Train"])
    assert movie["scenes"] and movie["breaks"]
    starts = {s["start"] for s in c.get(f"/api/items/{ids['Night Train']}/scenes").json()["scenes"]}
    assert all(b["time"] in starts for b in movie["breaks"])
    for r in doc["results"]:
        e = r["explain"]
        assert abs(e["similarity"]["fused"] - r["score"]) < 1e-5
        assert e["frames"] is not None and e["frames"]["query_time"] is not None  # the frame table is there
    # a frame-pair timestamp is a frame the page can show
    f = movie["explain"]["frames"]
    pic = c.get(f"/api/items/{ids['Night Train']}/frame", params={"t": f["result_time"]})
    assert pic.status_code == 200 and pic.headers["content-type"].startswith("image/")


def test_exclusions_in_the_api(client):
    c, ids = client
    base = f"/api/items/{ids['Red Hour']}/similar"
    everything = [r["id"] for r in c.get(base, params={"k": 10}).json()["results"]]
    assert ids["Night Train"] in everything and ids["Blue Hour"] in everything
    doc = c.get(base, params=[("k", 10), ("exclude_flag", "violence"), ("exclude_flag", "ALCOHOL")]).json()
    assert ids["Night Train"] not in [r["id"] for r in doc["results"]]
    assert ids["Blue Hour"] not in [r["id"] for r in doc["results"]]
    assert doc["exclusions"]["exclude_flags"] == ["violence", "ALCOHOL"]
    doc = c.get(base, params={"k": 10, "exclude_kind": "ad", "explain": "true"}).json()
    assert all(r["kind"] == "trailer" and "explain" in r for r in doc["results"])
    bad = c.get(base, params={"exclude_kind": "movie"})
    assert bad.status_code == 422 and "exclude_kinds" in bad.json()["error"]
    item = c.get(f"/api/items/{ids['Night Train']}").json()
    assert item["flags"] == ["violence"] and item["stages"]["scenes"]["status"] == "done"
