"""Operations: health probes for the orchestrator, worker heartbeats, and the staff status page."""
