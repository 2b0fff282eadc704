"""Pieces shared by the background workers (archiver, notifier): no Flask, runs on a Pi too."""
