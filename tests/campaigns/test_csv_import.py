from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from referloop.campaigns import admission, csv_import
from referloop.campaigns.csv_import import RowCursor, import_chunk
from referloop.campaigns.models import ImportJob, Lead, Referrer
from referloop.integrations.models import Delivery, Integration
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


def referrers_file(count: int) -> bytes:
    return ("first_name,last_name,email\n" + "".join(f"R{i},x,r{i}@example.com\n" for i in range(count))).encode()


def test_each_chunk_starts_where_the_previous_one_stopped(tenant: Tenant) -> None:
    upload(tenant, "referrers", referrers_file(450))
    job = ImportJob.objects.get()
    assert (job.next_offset, job.next_line) == (len("first_name,last_name,email\n"), 1)
    job = import_chunk(job.pk, size=200)
    assert job.content[: job.next_offset].endswith("R199,x,r199@example.com\n")
    assert job.next_line == 201
    job = import_chunk(job.pk, size=200)
    assert job.content[: job.next_offset].endswith("R399,x,r399@example.com\n")
    assert job.next_line == 401


def test_a_chunk_parses_only_its_own_rows_wherever_it_is_in_the_file(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload(tenant, "referrers", referrers_file(1000))
    job = ImportJob.objects.get()
    for _ in range(4):
        import_chunk(job.pk, size=200)
    parsed = []
    read = RowCursor.next_record

    def counting(cursor: RowCursor) -> object:
        record = read(cursor)
        parsed.append(record)
        return record

    monkeypatch.setattr(RowCursor, "next_record", counting)
    job = import_chunk(job.pk, size=200)
    assert job.is_done
    # The header (to name the columns) and the last 200 rows; not the 800 rows before them.
    assert [record[0] for record in parsed if record] == [1, *range(802, 1002)]


def test_an_interrupted_import_resumes_without_importing_a_row_twice(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload(tenant, "referrers", referrers_file(10))  # referrers for the leads file below
    run_to_end(tenant, ImportJob.objects.get())
    rows = "".join(f"Lead{i},lead{i}@example.com,{tenant.referrer.code}\n" for i in range(300))
    upload(tenant, "leads", ("first_name,email,referrer_code\n" + rows).encode())
    job = ImportJob.objects.get(kind="leads")
    leads_before = Lead.objects.count()

    def crash_on_the_120th(lead: Lead) -> None:
        if lead.email == "lead119@example.com":
            raise RuntimeError("the process died")

    monkeypatch.setattr(admission, "_lead_admitted_hooks", list(admission._lead_admitted_hooks))
    admission.on_lead_admitted(crash_on_the_120th)
    with pytest.raises(RuntimeError):
        import_chunk(job.pk, size=200, batch=50)
    job.refresh_from_db()
    # The two batches before the crash are kept with their position; the third is rolled back whole.
    assert (job.processed_rows, job.created_count, job.is_done) == (100, 100, False)
    assert Lead.objects.count() == leads_before + 100
    assert job.content[: job.next_offset].endswith(f"Lead99,lead99@example.com,{tenant.referrer.code}\n")

    monkeypatch.undo()
    job = run_to_end(tenant, job)
    assert (job.processed_rows, job.created_count, job.existing_count, job.row_errors) == (300, 300, 0, [])
    emails = list(Lead.objects.filter(email__startswith="lead").values_list("email", flat=True))
    assert sorted(emails) == sorted(f"lead{i}@example.com" for i in range(300))
    assert (
        Delivery.objects.filter(lead__email__startswith="lead").count()
        == 300 * Integration.objects.filter(campaign=tenant.campaign).count()
    )


def test_bad_rows_are_reported_with_their_line_numbers_across_chunks(tenant: Tenant) -> None:
    lines = [f"R{i},x,r{i}@example.com\n" for i in range(450)]
    lines[300] = "R300,x,not-an-email\n"  # line 302 of the file (the header is line 1)
    lines[420] = ",x,r420@example.com\n"  # line 422
    upload(tenant, "referrers", ("first_name,last_name,email\n" + "".join(lines)).encode())
    job = ImportJob.objects.get()
    while not job.is_done:
        job = import_chunk(job.pk, size=200, batch=50)
    assert job.row_errors == [
        {"line": 302, "reason": "email: Enter a valid email address."},
        {"line": 422, "reason": "first name: This field is required."},
    ]
    assert (job.processed_rows, job.created_count) == (450, 448)


def test_quoted_line_breaks_inside_fields_import_correctly_and_keep_line_numbers_right(tenant: Tenant) -> None:
    code = tenant.referrer.code
    content = (
        "first_name,email,referrer_code,notes\r\n"
        f'Ann,ann@example.com,{code},"Call after 5pm, side door\nring twice"\r\n'
        f'Bob,bob@example.com,{code},"three\r\nline\r\nnote"\r\n'
        f"Cy,not-an-email,{code},\r\n"
        f'Dee,dee@example.com,{code},"a ""quoted"" word,\n\nand a blank line"\r\n'
        f"Eve,,{code},\r\n"
    )
    upload(tenant, "leads", content.encode())
    job = ImportJob.objects.get()
    assert job.total_rows == 5
    while not job.is_done:  # one row per transaction and two per chunk: boundaries fall after multi-line rows
        job = import_chunk(job.pk, size=2, batch=1)
    notes = dict(Lead.objects.filter(source="csv").values_list("first_name", "notes"))
    assert notes == {
        "Ann": "Call after 5pm, side door\nring twice",
        "Bob": "three\r\nline\r\nnote",
        "Dee": 'a "quoted" word,\n\nand a blank line',
    }
    assert job.row_errors == [
        {"line": 7, "reason": "email: Enter a valid email address."},  # after Ann's 2 lines and Bob's 3
        {"line": 11, "reason": "email: This field is required."},
    ]
    assert (job.processed_rows, job.created_count, job.next_line) == (5, 3, 11)


def test_a_job_started_before_positions_were_kept_resumes_after_its_imported_rows(tenant: Tenant) -> None:
    upload(tenant, "referrers", referrers_file(5))
    job = ImportJob.objects.get()
    ImportJob.objects.filter(pk=job.pk).update(next_offset=0, next_line=0, processed_rows=2, created_count=2)
    job = import_chunk(job.pk)
    assert job.is_done
    assert set(Referrer.objects.filter(source="csv").values_list("first_name", flat=True)) == {"R2", "R3", "R4"}
    assert (job.processed_rows, job.created_count) == (5, 5)


def test_a_request_that_finds_the_job_moved_on_stops_instead_of_importing_those_rows_again(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload(tenant, "referrers", referrers_file(100))
    job = ImportJob.objects.get()
    resume = csv_import.resume_cursor

    def another_request_gets_in_first(found: ImportJob) -> object:
        position = resume(found)
        monkeypatch.setattr(csv_import, "resume_cursor", resume)
        import_chunk(found.pk, size=50)  # a second tab's POST, between this one's read and its first batch
        return position

    monkeypatch.setattr(csv_import, "resume_cursor", another_request_gets_in_first)
    job = import_chunk(job.pk, size=50)
    assert (job.processed_rows, job.created_count, job.existing_count) == (50, 50, 0)
    job = import_chunk(job.pk, size=50)
    assert (job.processed_rows, job.created_count, job.existing_count, job.is_done) == (100, 100, 0, True)
