"""The dossier side: the store, syncing exports into it, statuses, the status desk that
answers look-ups, and notifications to followers."""
