"""ServiceTitan customers as referrers: the Referrers tab's sync (models, the worker's job, the screen)."""
