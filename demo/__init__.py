"""The demo of `make demo`: a fictional supply chain, its users and claims.

`demo.data` builds it through the ledger's own write path;
`manage.py load_demo` loads it and prints the logins. The app sits on top
of the others and may use any of them; nothing imports it. Its one hook
into them: it tells the auditors' claim pages each demo claim's story
(`audit.claim_stories`), registered when the app is ready.
"""
