"""Live updates: the incident list, the incident page, on-call widgets and the tab title follow
changes without a reload (docs/live-updates.md).

`stream` is the server-sent events endpoint (`PATH`), served on the event loop by
`opsduty/asgi.py`; `hub` fans one Redis subscription per web process out to its streams;
`publish` announces incident changes (through `opsduty/live.py`); `selectors` are the reads
the stream needs (who is signed in, open counts); `context_processors` give every page its
open count and the stream's address.
"""

PATH = "/live/"
