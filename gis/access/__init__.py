"""Who may do what, and where: accounts, roles on areas of the grid tree, tokens, API keys, device
secrets and the audit trail. ``roles`` is the one table every route consults; see docs/access.md."""
