import json
from tests.conftest import Tenant
from tests.api.test_zz_probe import show

def test_probe3(tenant: Tenant):
    c = tenant.client
    h = tenant.api()
    p = lambda path, body, ct="application/json": c.post(path, body, content_type=ct, **h)
    base = {"campaign_id": tenant.campaign.pk, "referrer_code": tenant.referrer.code, "first_name": "A", "email": "a@x.example"}
    show("email nul", lambda: c.get("/api/v1/leads?email=a%00b", **h))
    show("code nul", lambda: c.get("/api/v1/referrers?code=a%00b", **h))
    show("ref email nul", lambda: c.get("/api/v1/referrers?email=a%00b", **h))
    show("since year1", lambda: c.get("/api/v1/leads?created_since=0001-01-01T00:00:00%2B05:00", **h))
    show("since year9999", lambda: c.get("/api/v1/leads?created_since=9999-12-31T23:59:59-05:00", **h))
    show("cid huge", lambda: c.get("/api/v1/leads?campaign_id=99999999999999999999", **h))
    show("refcid huge", lambda: c.get("/api/v1/referrers?campaign_id=99999999999999999999", **h))
    show("body cid huge", lambda: p("/api/v1/leads", json.dumps({**base, "campaign_id": 2**70})))
    show("body refid huge", lambda: p("/api/v1/leads", json.dumps({**base, "referrer_id": 2**70})))
    show("body refcode nul", lambda: p("/api/v1/leads", json.dumps({**base, "referrer_code": "a\x00"})))
    show("ref body nul", lambda: p("/api/v1/referrers", json.dumps({"campaign_id": tenant.campaign.pk, "first_name": "a\x00", "email": "r@x.example"})))
    show("nan", lambda: p("/api/v1/leads", '{"campaign_id": NaN}'))
    show("cf nan", lambda: p("/api/v1/leads", json.dumps({**base, "email": "n@x.example", "custom_fields": {"system_type": float("nan")}})))
    show("get huge neg", lambda: c.get("/api/v1/leads/-99999999999999999999", **h))
    show("ref get huge", lambda: c.get("/api/v1/referrers/99999999999999999999", **h))
    show("page size huge", lambda: c.get("/api/v1/leads?page_size=99999999999999999999", **h))
    show("surrogate", lambda: p("/api/v1/leads", b'{"campaign_id": 1, "first_name": "\\ud800", "email": "s@x.example", "referrer_code": "%s"}' % tenant.referrer.code.encode()))
    show("surrogate q", lambda: c.get("/api/v1/leads?email=%ED%A0%80", **h))
