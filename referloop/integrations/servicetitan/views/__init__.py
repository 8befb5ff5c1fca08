"""The ServiceTitan tabs: Connection (connect, finalize, disconnect) and Leads (action, mapping, preview)."""
