"""Who may see and change which record, and break-the-glass access beyond that."""
