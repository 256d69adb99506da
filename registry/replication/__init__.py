"""Replication of a publisher's repositories to another registry (another region) or to
another publisher in this Berth (another account, who accepts). See README.md here."""
