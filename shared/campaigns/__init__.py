"""Campaigns: definitions, dispatch to a frozen audience, never-twice sends, triggers and measured lift."""
