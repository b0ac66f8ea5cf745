"""Use cases that span apps, in the style of Zulip's ``zerver/actions``: one ``do_*`` function
per use case — one transaction around the apps' services, the audit rows they write, events and
effects after commit — and the HTTP endpoints that call them (``apis.py``, ``urls.py``).

This package sits above ``invites``, ``moderation``, ``social`` and ``accounts`` and below
``realtime`` (docs/ARCHITECTURE.md): the apps never import it; APIs, consumers and the admin do.
"""
