"""GET /v1/media and /v1/media/{id}: assets made by tus uploads, filters, cursor paging, 422 for
bad filters, and another tenant's id is 404."""
import base64

import requests

from conftest import BASE, assert_problem

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f80f00000101000518d84e0000000049454e44ae426082")


def upload(client, name="m.png", data=PNG):
    h = {"Tus-Resumable": "1.0.0", "Authorization": f"Bearer {client.key}",
         "Upload-Length": str(len(data)), "Content-Type": "application/offset+octet-stream",
         "Upload-Metadata": "filename " + base64.b64encode(name.encode()).decode()}
    r = requests.post(BASE + "/v1/uploads", headers=h, data=data, timeout=30)
    assert r.status_code == 201, r.text
    return r.headers["Atrium-Asset-Id"]


def test_list_get_filters_and_paging(tenant, media_paused):
    ids = [upload(tenant.owner, f"m{i}.png") for i in range(3)]
    r = tenant.owner.get(f"/v1/media/{ids[0]}")
    assert r.status_code == 200, r.text
    a = r.json()
    assert (a["id"], a["state"], a["type"], a["mime"], a["filename"], a["size"]) == \
        (ids[0], "uploaded", "image", "image/png", "m0.png", len(PNG))
    # newest first, two per page, the cursor continues
    r = tenant.owner.get("/v1/media?limit=2&type=image&state=uploaded")
    assert r.status_code == 200
    page = r.json()
    assert [x["id"] for x in page["items"]] == ids[::-1][:2] and page["next_cursor"]
    r = tenant.owner.get(f"/v1/media?limit=2&type=image&state=uploaded&cursor={page['next_cursor']}")
    assert ids[0] in [x["id"] for x in r.json()["items"]]
    # filters that match nothing, and the viewer may read
    assert tenant.owner.get("/v1/media?state=ready").json()["items"] == [] or \
        all(x["state"] == "ready" for x in tenant.owner.get("/v1/media?state=ready").json()["items"])
    assert tenant.owner.get("/v1/media?type=video").json()["items"] == []
    assert tenant.as_role("viewer").get(f"/v1/media/{ids[1]}").status_code == 200


def test_bad_filters_are_422(tenant):
    assert_problem(tenant.owner.get("/v1/media?state=deleted"), 422, "state")
    assert_problem(tenant.owner.get("/v1/media?type=script"), 422, "type")
    assert_problem(tenant.owner.get("/v1/media?flow=not-a-uuid"), 422, "flow")


def test_another_tenants_media_is_404(tenant, other):
    aid = upload(tenant.owner)
    assert_problem(other.owner.get(f"/v1/media/{aid}"), 404)
    assert aid not in [x["id"] for x in other.owner.get("/v1/media").json()["items"]]
