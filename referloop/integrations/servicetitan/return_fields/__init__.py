"""Map Return Fields and "When referrer joins campaign": referloop writes each linked referrer's link, code and
qualified count into ServiceTitan customer custom fields, through the delivery engine (`destination.py`)."""
