"""CSV imports of referrers and leads.

Each row goes through the same service as a single add (`add_referrer`, `submit_lead`), so a row is valid in a
file exactly when it would be valid typed in by hand. Valid rows are imported, bad rows are reported with their
line number and reason, and a row whose email is already there creates nothing, so importing the same file twice
is harmless.

The file is stored once (`ImportJob.content`) and read forward: the job keeps the character offset and line where
the last imported row ended, so each chunk starts there and costs the same wherever it is in the file (re-parsing
from the top made a 50,000-row import quadratic). Rows are written in short transactions, `BATCH_ROWS` at a time,
each committing its rows together with the job's new position: an interrupted import resumes after the last
committed batch and never imports a row twice. SQLite has one writer, so between batches the importer pauses to
let other requests write (see `let_other_writers_in`).
"""

from __future__ import annotations

import csv
import re
import time
from collections.abc import Iterator

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from referloop.accounts.models import User
from referloop.campaigns.errors import InputRejected
from referloop.campaigns.intake import submit_lead
from referloop.campaigns.lead_form import CUSTOM_PREFIX
from referloop.campaigns.models import Campaign, ImportJob, ImportKind, LeadSource, Referrer
from referloop.campaigns.referrers import add_referrer

CHUNK_SIZE = 200  # rows per request (one htmx POST of the progress screen)
# Rows per write transaction. About 50 ms of holding SQLite's one write lock: a public form waiting for it waits
# about that long, not for the whole chunk.
# About 60 ms of the write lock per batch at ~6 ms a row: a public form's write waits at most that (and the pause
# after it), where 50 rows held it ~320 ms and a form post's p99 during a 50,000-row import was 561 ms.
BATCH_ROWS = 10
# The longest pause between two batches on SQLite (the busy handler of a waiting writer polls at most 100 ms apart).
MAX_PAUSE_SECONDS = 0.1
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
    cursor = RowCursor(text)
    header = cursor.read_header()
    first_row_at = (cursor.offset, cursor.line)
    missing = [column for column in REQUIRED_COLUMNS[ImportKind(kind)] if column not in header]
    if kind == ImportKind.LEADS and "referrer_code" not in header and "referrer_email" not in header:
        missing.append("referrer_code or referrer_email")
    if missing:
        raise InputRejected({"file": [f"The file has no column for {', '.join(missing)}."]})
    total = sum(1 for _ in cursor.rows(header))
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
        next_offset=first_row_at[0],
        next_line=first_row_at[1],
        created_by=user,
    )


_LINE_END = re.compile(r"\r\n|\r|\n")  # the line ends csv reads with newline="": \r\n, \r, \n


class RowCursor:
    """The CSV records of `text` from character `offset` on, with where each one ends.

    After each record, `offset` and `line` (physical lines so far) are where the next one starts, so a later
    request can open a new cursor there instead of parsing the file again from the top. A record may span
    several lines (a quoted field with a line break): positions are counted in lines handed to `csv.reader`,
    which never reads past the end of the record it returns.
    """

    def __init__(self, text: str, offset: int = 0, line: int = 0) -> None:
        self.text = text
        self.offset = offset
        self.line = line
        self.parsed = 0  # records read by this cursor (the tests check a chunk doesn't re-read earlier ones)
        self._read_to = offset
        self._lines_read = line
        self._reader = csv.reader(self._physical_lines())

    def _physical_lines(self) -> Iterator[str]:
        text, end = self.text, len(self.text)
        while self._read_to < end:
            match = _LINE_END.search(text, self._read_to)
            stop = match.end() if match else end
            line = text[self._read_to : stop]
            self._read_to, self._lines_read = stop, self._lines_read + 1
            yield line

    def next_record(self) -> tuple[int, list[str] | str] | None:
        """(first line of the record, its cells or a parse error's text), or None at the end of the text."""
        first_line = self.line + 1
        try:
            cells: list[str] | str = next(self._reader)
        except StopIteration:
            return None
        except csv.Error as error:
            cells = f"The line is not valid CSV ({error})."
        finally:
            self.offset, self.line = self._read_to, self._lines_read
        self.parsed += 1
        return first_line, cells

    def read_header(self) -> list[str]:
        record = self.next_record()
        header = [normalize_header(cell) for cell in record[1]] if record and isinstance(record[1], list) else []
        if not any(header):
            raise InputRejected({"file": ["The file is empty or not a CSV file."]})
        return header

    def rows(self, header: list[str]) -> Iterator[tuple[int, dict[str, str]]]:
        """(line number, row) pairs; blank lines are skipped, a line that isn't CSV becomes an error row."""
        while (record := self.next_record()) is not None:
            line, cells = record
            if isinstance(cells, str):
                yield line, {"__error__": cells}
            elif any(cell.strip() for cell in cells):
                yield line, {name: cell.strip() for name, cell in zip(header, cells, strict=False)}


def parse_rows(text: str) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """The normalized header and an iterator of (line number, row) pairs of the whole text."""
    cursor = RowCursor(text)
    header = cursor.read_header()
    return header, cursor.rows(header)


def resume_cursor(job: ImportJob) -> tuple[list[str], RowCursor]:
    """The header, and a cursor where the job's next row starts."""
    header = RowCursor(job.content).read_header()
    if job.next_offset:
        return header, RowCursor(job.content, job.next_offset, job.next_line)
    # A job started before positions were kept (offset 0 is never a started job's: the header comes first):
    # skip the rows it had done, once.
    cursor = RowCursor(job.content)
    cursor.read_header()
    rows = cursor.rows(header)
    for _ in range(job.processed_rows):
        next(rows, None)
    return header, cursor


PROGRESS_FIELDS = [
    "next_offset",
    "next_line",
    "processed_rows",
    "created_count",
    "existing_count",
    "row_errors",
    "finished_at",
]


def import_chunk(job_id: int, size: int = CHUNK_SIZE, batch: int = BATCH_ROWS) -> ImportJob:
    """Import the next `size` rows of a job, from where the last one stopped, in transactions of `batch` rows.

    Each transaction locks the job row (SQLite: the database's write lock) and goes on only if the job is still
    where this request's cursor is, so two requests for one job never import the same rows: the one that finds
    the job moved stops, and the screen's next POST goes on from the new position.
    """
    job = ImportJob.objects.select_related("campaign").get(pk=job_id)
    if job.is_done:
        return job
    header, cursor = resume_cursor(job)
    rows = cursor.rows(header)
    custom_keys = list(job.campaign.custom_fields.values_list("key", flat=True))
    imported, moved_on = 0, False
    while imported < size:
        started = time.monotonic()
        with transaction.atomic():
            progress = ImportJob.objects.select_for_update().only("pk", "total_rows", *PROGRESS_FIELDS).get(pk=job_id)
            moved_on = progress.is_done or progress.next_offset != job.next_offset
            if moved_on:
                break  # another request imported from here meanwhile
            wanted = min(batch, size - imported)
            taken = 0
            for line, row in rows:
                record_row(job, progress, line, row, custom_keys)
                taken += 1
                if taken == wanted:
                    break
            progress.next_offset, progress.next_line = cursor.offset, cursor.line
            if taken < wanted or progress.processed_rows >= progress.total_rows:
                progress.finished_at = timezone.now()
            progress.save(update_fields=PROGRESS_FIELDS)
        show_progress(job, progress)
        imported += taken
        if job.is_done or imported >= size:
            break
        let_other_writers_in(time.monotonic() - started)
    if moved_on:
        show_progress(job, progress)
    return job


def show_progress(job: ImportJob, progress: ImportJob) -> None:
    for name in PROGRESS_FIELDS:
        setattr(job, name, getattr(progress, name))


def record_row(job: ImportJob, progress: ImportJob, line: int, row: dict[str, str], custom_keys: list[str]) -> None:
    """Import one row and count it on `progress`: created, already there, or an error with its line."""
    try:
        created = import_row(job, row, custom_keys)
    except InputRejected as rejected:
        if len(progress.row_errors) < MAX_REPORTED_ERRORS:
            progress.row_errors = [*progress.row_errors, {"line": line, "reason": describe(rejected)}]
    else:
        if created:
            progress.created_count += 1
        else:
            progress.existing_count += 1
    progress.processed_rows += 1


def let_other_writers_in(held: float) -> None:
    """On SQLite, pause between two batches about as long as the last one held the write lock.

    SQLite has one writer, and a writer that finds it busy doesn't queue: its busy handler sleeps and retries
    (1, 2, 5 … then 100 ms apart). An importer that began its next transaction at once would win the lock almost
    every time and a public form's one-lead write would wait for the whole import. Rejected: smaller batches
    alone (the gap between two is microseconds, whatever their size). PostgreSQL locks rows, not the database,
    so it doesn't pause.
    """
    if connection.vendor == "sqlite":
        time.sleep(min(held, MAX_PAUSE_SECONDS))


def import_row(job: ImportJob, row: dict[str, str], custom_keys: list[str]) -> bool:
    if "__error__" in row:
        raise InputRejected({"row": [row["__error__"]]})
    if job.kind == ImportKind.REFERRERS:
        _referrer, created = add_referrer(job.campaign, row, source="csv")
        return created
    referrer = find_referrer(job.campaign, row)
    data = dict(row)
    for key in custom_keys:
        if key in row:
            data[CUSTOM_PREFIX + key] = row[key]
    return submit_lead(job.campaign, referrer, data, source=LeadSource.CSV).created


def find_referrer(campaign: Campaign, row: dict[str, str]) -> Referrer:
    code, email = row.get("referrer_code", ""), row.get("referrer_email", "")
    referrers = Referrer.objects.filter(campaign=campaign)
    referrer = None
    if code:
        referrer = referrers.filter(code=code.upper()).first()
    elif email:
        referrer = referrers.filter(email__lower=email.lower()).first()
    if referrer is None:
        column = "referrer_code" if code else "referrer_email"
        raise InputRejected(
            {column: [f"No referrer in this campaign has {column.replace('_', ' ')} “{code or email}”."]}
        )
    return referrer


def describe(rejected: InputRejected) -> str:
    return "; ".join(f"{field.replace('_', ' ')}: {' '.join(messages)}" for field, messages in rejected.errors.items())
