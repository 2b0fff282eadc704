// Time-lapse panel (issue 5).
