"""CSV imports of referrers and leads.

Each row goes through the same service as a single add (`add_referrer`, `submit_lead`), so a row is valid in a
file exactly when it would be valid typed in by hand. Valid rows are imported, bad rows are reported with their
line number and reason, and a row whose email is already there creates nothing, so importing the same file twice
is harmless.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from referloop.accounts.models import User
from referloop.campaigns.errors import InputRejected
from referloop.campaigns.intake import submit_lead
from referloop.campaigns.lead_form import CUSTOM_PREFIX
from referloop.campaigns.models import Campaign, ImportJob, ImportKind, LeadSource, Referrer
from referloop.campaigns.referrers import add_referrer

CHUNK_SIZE = 200
MAX_ROWS = 50_000
MAX_REPORTED_ERRORS = 1_000

# Header spellings people use, mapped to our field names.
HEADER_ALIASES = {
    "firstname": "first_name",
    "first": "first_name",
    "lastname": "last_name",
    "last": "last_name",
    "e-mail": "email",
    "email_address": "email",
    "phone_number": "phone",
    "zip": "zip_code",
    "zipcode": "zip_code",
    "postal_code": "zip_code",
    "address": "street",
    "referral_code": "referrer_code",
}
REQUIRED_COLUMNS = {
    ImportKind.REFERRERS: ("first_name", "email"),
    ImportKind.LEADS: ("first_name", "email"),
}


def normalize_header(raw: str) -> str:
    key = raw.strip().lower().replace(" ", "_")
    return HEADER_ALIASES.get(key, key)


def start_import(campaign: Campaign, kind: str, upload: UploadedFile, user: User | None) -> ImportJob:
    """Check the file as a whole (size, encoding, columns) and record it; rows are imported by `import_chunk`."""
    limit = filesizeformat(settings.CSV_IMPORT_MAX_BYTES)
    too_large = InputRejected({"file": [f"The file is larger than {limit}. Split it into smaller files."]})
    if upload.size is not None and upload.size > settings.CSV_IMPORT_MAX_BYTES:
        raise too_large
    raw = upload.read(settings.CSV_IMPORT_MAX_BYTES + 1)
    if len(raw) > settings.CSV_IMPORT_MAX_BYTES:  # the size a client declared is not to be trusted
        raise too_large
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputRejected({"file": ["The file is not UTF-8 text. Save it as “CSV UTF-8” and try again."]}) from None
    if "\x00" in text:
        raise InputRejected({"file": ["The file is not a CSV text file."]})
    header, rows = parse_rows(text)
    missing = [column for column in REQUIRED_COLUMNS[ImportKind(kind)] if column not in header]
    if kind == ImportKind.LEADS and "referrer_code" not in header and "referrer_email" not in header:
        missing.append("referrer_code or referrer_email")
    if missing:
        raise InputRejected({"file": [f"The file has no column for {', '.join(missing)}."]})
    total = sum(1 for _ in rows)
    if total == 0:
        raise InputRejected({"file": ["The file has a header row but no data rows."]})
    if total > MAX_ROWS:
        raise InputRejected({"file": [f"The file has {total} rows; the limit is {MAX_ROWS} per file."]})
    return ImportJob.objects.create(
        campaign=campaign,
        kind=kind,
        filename=(upload.name or "upload.csv")[:200],
        content=text,
        total_rows=total,
        created_by=user,
    )


def parse_rows(text: str) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """The normalized header and an iterator of (line number, row) pairs; blank lines are skipped."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [normalize_header(cell) for cell in next(reader)]
    except (StopIteration, csv.Error):
        header = []
    if not any(header):
        raise InputRejected({"file": ["The file is empty or not a CSV file."]})

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                yield reader.line_num, {"__error__": f"The line is not valid CSV ({error})."}
                continue
            if not any(cell.strip() for cell in cells):
                continue
            yield reader.line_num, {name: cell.strip() for name, cell in zip(header, cells, strict=False)}

    return header, rows()


def import_chunk(job_id: int, size: int = CHUNK_SIZE) -> ImportJob:
    """Import the next `size` rows of a job. The job row is locked, so two callers never import the same rows."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().select_related("campaign").get(pk=job_id)
        if job.is_done:
            return job
        _header, rows = parse_rows(job.content)
        errors: list[dict[str, Any]] = list(job.row_errors)
        start = job.processed_rows
        for index, (line, row) in enumerate(rows):
            if index < start:
                continue
            if index >= start + size:
                break
            try:
                created = import_row(job, row)
            except InputRejected as rejected:
                if len(errors) < MAX_REPORTED_ERRORS:
                    errors.append({"line": line, "reason": describe(rejected)})
            else:
                if created:
                    job.created_count += 1
                else:
                    job.existing_count += 1
            job.processed_rows = index + 1
        job.row_errors = errors
        if job.processed_rows >= job.total_rows:
            job.finished_at = timezone.now()
        job.save()
    return job


def import_row(job: ImportJob, row: dict[str, str]) -> bool:
    if "__error__" in row:
        raise InputRejected({"row": [row["__error__"]]})
    if job.kind == ImportKind.REFERRERS:
        _referrer, created = add_referrer(job.campaign, row, source="csv")
        return created
    referrer = find_referrer(job.campaign, row)
    data = dict(row)
    for custom in job.campaign.custom_fields.all():
        if custom.key in row:
            data[CUSTOM_PREFIX + custom.key] = row[custom.key]
    return submit_lead(job.campaign, referrer, data, source=LeadSource.CSV).created


def find_referrer(campaign: Campaign, row: dict[str, str]) -> Referrer:
    code, email = row.get("referrer_code", ""), row.get("referrer_email", "")
    referrers = Referrer.objects.filter(campaign=campaign)
    referrer = None
    if code:
        referrer = referrers.filter(code=code.upper()).first()
    elif email:
        referrer = referrers.filter(email__iexact=email).first()
    if referrer is None:
        column = "referrer_code" if code else "referrer_email"
        raise InputRejected(
            {column: [f"No referrer in this campaign has {column.replace('_', ' ')} “{code or email}”."]}
        )
    return referrer


def describe(rejected: InputRejected) -> str:
    return "; ".join(f"{field.replace('_', ' ')}: {' '.join(messages)}" for field, messages in rejected.errors.items())
