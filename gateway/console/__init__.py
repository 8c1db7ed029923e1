"""The bank staff console (DESIGN §12): server-rendered pages under ``/console/``.

It owns presentation only. Every action calls the same services as the staff API, so the same
role checks, four-eyes rules and audit records apply; sign-in reuses the staff accounts and
tokens, carried in a cookie instead of a header.
"""
