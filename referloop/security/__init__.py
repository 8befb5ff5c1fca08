"""Guards that belong to no one feature: hostile input at the door, credentials out of logs, deploy checks."""
