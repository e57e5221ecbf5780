"""Verifiers: each turns one candidate into a verdict with a reason code (`core.rows.RejectReason`)."""
