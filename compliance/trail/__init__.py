"""The audit trail as auditors use it: its pages, exports, PDF report and signed checkpoints.

It reads the trail that `compliance.audit` writes and names the cases and people in it, so it
sits above every domain; the writer sits below them all (every operation records through it).
"""
