"""The partner REST API (/api/v1/): thin views over detection.services, authenticated by API keys."""
