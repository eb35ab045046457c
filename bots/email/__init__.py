"""The email channel: invoices and reminders sent through the agency's SMTP server
(docs/billing.md, Sending).
"""
