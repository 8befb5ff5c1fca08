"""The ServiceTitan endpoints the sandbox implements, one module per API module (plus the token endpoint)."""
