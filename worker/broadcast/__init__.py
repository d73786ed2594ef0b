"""worker/broadcast package."""
