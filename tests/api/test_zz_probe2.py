from django.test import override_settings
from django.conf import settings

def test_docs(db, client):
    with override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, "ninja"]):
        r = client.get("/api/v1/docs")
        print(r.status_code, r.content.decode()[:600])
        from django.contrib.staticfiles import finders
        print(finders.find("ninja/swagger-ui-bundle.js"))
