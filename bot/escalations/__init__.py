"""The escalation lifecycle: claim, note, resolve, reassign, notify, re-notify."""
