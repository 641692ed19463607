"""Scheduled jobs (the manifest's ``jobs:``): the cron scheduler and its runs."""
