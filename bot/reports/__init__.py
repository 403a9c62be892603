"""Reports for staff and the service evaluation: MDT report, monitoring exports, service charts."""
