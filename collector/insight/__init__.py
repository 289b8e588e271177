"""Forecasts and diagnoses from stored readings: battery and water days, leaks, catchment,
completeness and why a station went quiet. All on fleet (device) time."""
