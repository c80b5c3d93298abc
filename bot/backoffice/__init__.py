"""The web back office for the desk's staff: hand-over inbox, missed questions,
procedures, sync runs, followers, channel health and announcements, behind staff
logins (``motcua admin``; ``motcua run`` serves it too when ``backoffice:`` is set).
"""
