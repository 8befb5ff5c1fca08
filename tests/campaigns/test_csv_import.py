from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from referloop.campaigns.csv_import import import_chunk
from referloop.campaigns.models import ImportJob, Lead, Referrer
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db

REFERRERS_CSV = (
    "First Name,Last Name,Email,Phone\n"
    "Ann,Lee,ann@example.com,555-1\n"
    ",NoName,noname@example.com,\n"
    "Bob,Ray,not-an-email,\n"
    "\n"
    "Cy,Oh,CY@example.com,\n"
)


def upload(tenant: Tenant, kind: str, content: bytes, name: str = "people.csv") -> object:
    return tenant.client.post(
        reverse("csv_import", args=[tenant.campaign.pk, kind]),
        {"kind": kind, "file": SimpleUploadedFile(name, content, content_type="text/csv")},
    )


def run_to_end(tenant: Tenant, job: ImportJob) -> ImportJob:
    url = reverse("csv_import_progress", args=[tenant.campaign.pk, job.pk])
    for _ in range(100):
        response = tenant.client.post(url, HTTP_HX_REQUEST="true")
        assert response.status_code == 200
        job.refresh_from_db()
        if job.is_done:
            return job
    raise AssertionError("import did not finish")


def test_valid_rows_are_imported_and_bad_rows_reported_with_line_and_reason(tenant: Tenant) -> None:
    response = upload(tenant, "referrers", REFERRERS_CSV.encode())
    job = ImportJob.objects.get()
    assert response["Location"] == reverse("csv_import_progress", args=[tenant.campaign.pk, job.pk])
    job = run_to_end(tenant, job)
    assert (job.total_rows, job.created_count, job.existing_count) == (4, 2, 0)
    assert job.row_errors == [
        {"line": 3, "reason": "first name: This field is required."},
        {"line": 4, "reason": "email: Enter a valid email address."},
    ]
    assert set(Referrer.objects.filter(source="csv").values_list("email", flat=True)) == {
        "ann@example.com",
        "cy@example.com",
    }
    page = tenant.client.get(reverse("csv_import_progress", args=[tenant.campaign.pk, job.pk])).content.decode()
    assert "Import finished." in page
    assert "Enter a valid email address." in page


def test_importing_the_same_file_twice_creates_nothing_new(tenant: Tenant) -> None:
    upload(tenant, "referrers", REFERRERS_CSV.encode())
    run_to_end(tenant, ImportJob.objects.get())
    count = Referrer.objects.count()
    upload(tenant, "referrers", REFERRERS_CSV.encode())
    second = run_to_end(tenant, ImportJob.objects.order_by("-pk").first())  # type: ignore[arg-type]
    assert Referrer.objects.count() == count
    assert (second.created_count, second.existing_count) == (0, 2)


def test_progress_advances_in_chunks(tenant: Tenant) -> None:
    rows = "".join(f"R{i},x,r{i}@example.com\n" for i in range(450))
    upload(tenant, "referrers", ("first_name,last_name,email\n" + rows).encode())
    job = ImportJob.objects.get()
    job = import_chunk(job.pk, size=200)
    assert (job.processed_rows, job.is_done, job.percent) == (200, False, 44)
    job = import_chunk(job.pk, size=200)
    job = import_chunk(job.pk, size=200)
    assert job.is_done
    assert Referrer.objects.filter(source="csv").count() == 450


def test_leads_import_credits_the_referrer_by_code_and_reads_custom_columns(tenant: Tenant) -> None:
    content = (
        "first_name,email,referrer_code,system_type,zip\n"
        f"Lia,lia@example.com,{tenant.referrer.code},Heat pump,62701\n"
        "Max,max@example.com,NOPE123,,\n"
        f"Tom,{tenant.lead.email},{tenant.referrer.code},,\n"
    )
    upload(tenant, "leads", content.encode())
    job = run_to_end(tenant, ImportJob.objects.get())
    lead = Lead.objects.get(email="lia@example.com")
    assert (lead.referrer, lead.custom_data, lead.zip_code, lead.source) == (
        tenant.referrer,
        {"system_type": "Heat pump"},
        "62701",
        "csv",
    )
    assert (job.created_count, job.existing_count) == (1, 1)
    assert job.row_errors == [
        {"line": 3, "reason": "referrer code: No referrer in this campaign has referrer code “NOPE123”."}
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The submitted file is empty."),
        (b"\n\n", "The file is empty or not a CSV file."),
        (b"first_name,email\n", "has a header row but no data rows"),
        (b"name,phone\nAnn,555\n", "no column for first_name, email"),
        ("first_name,email\nJos\xe9,j@example.com\n".encode("latin-1"), "not UTF-8 text"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "The file is not UTF-8 text."),
    ],
)
def test_malformed_files_are_refused_as_a_whole_with_a_reason(tenant: Tenant, content: bytes, message: str) -> None:
    response = upload(tenant, "referrers", content)
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert message in response.content.decode()  # type: ignore[attr-defined]
    assert not ImportJob.objects.exists()


def test_a_huge_file_is_refused_before_reading_rows(tenant: Tenant, settings: object) -> None:
    settings.CSV_IMPORT_MAX_BYTES = 1024  # type: ignore[attr-defined]
    content = b"first_name,email\n" + b"A,a@example.com\n" * 200
    response = upload(tenant, "referrers", content)
    assert "The file is larger than 1.0\xa0KB. Split it into smaller files." in response.content.decode()  # type: ignore[attr-defined]
    assert not ImportJob.objects.exists()


def test_a_leads_file_without_a_referrer_column_is_refused(tenant: Tenant) -> None:
    response = upload(tenant, "leads", b"first_name,email\nA,a@example.com\n")
    assert "referrer_code or referrer_email" in response.content.decode()  # type: ignore[attr-defined]
