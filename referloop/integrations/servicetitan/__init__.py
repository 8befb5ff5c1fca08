"""ServiceTitan as a destination: credentials, the Connection and Leads tabs, readiness, loading claims."""
