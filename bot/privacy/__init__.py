"""UK GDPR duties: subject access, the erasure workflow, and retention of personal data."""
