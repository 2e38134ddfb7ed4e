# Meetings, agendas and live questions arrive with the meetings issue.
