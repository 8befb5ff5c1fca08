"""URLs for bench/intake_http.py: referloop's own, plus `/bench/insert/`: a minimal Django view that inserts one
row (the floor issue 16 compares intake with)."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from referloop.campaigns.models import Lead


@csrf_exempt
@require_POST
def insert_one_row(request: HttpRequest) -> HttpResponse:
    """One lead row through the ORM, nothing else: no validation, no duplicate check, no delivery."""
    body = json.loads(request.body)
    lead = Lead.objects.create(
        campaign_id=body["campaign_id"], referrer_id=body["referrer_id"], first_name="Liz", email=body["email"]
    )
    return JsonResponse({"id": lead.pk}, status=201)


urlpatterns = [path("bench/insert/", insert_one_row), path("", include("referloop.urls"))]
