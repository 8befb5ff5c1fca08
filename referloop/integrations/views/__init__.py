"""The CRM tab's screens: Connection, Leads, Activity and Diagnose of one campaign's integration."""
