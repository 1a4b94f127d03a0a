"""The incident pages: the list with bulk actions, one incident with its actions, the archive."""
