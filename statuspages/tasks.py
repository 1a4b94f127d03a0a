"""Tasks of status pages: scheduled updates and planned maintenance that move at their time
(an ETA task, and a periodic sweeper of what is due)."""

from __future__ import annotations
