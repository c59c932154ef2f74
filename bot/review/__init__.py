"""Reviewing flagged answers: the `bron flags` commands, the exports and the review web page."""
