"""The technicians' web pages: sign-in, stations, a station, an alert, the province map."""
