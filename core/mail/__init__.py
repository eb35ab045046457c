"""Email to clients: invoices and reminders queued, then sent once through the agency's
SMTP server by the services (bots.email); see docs/billing.md, Sending.

core.mail.outbox keeps the queue and its states, core.mail.message builds
the email, core.mail.compose writes what goes in it (reminders, invoices,
the go-live test) and finds the client's address.
"""
